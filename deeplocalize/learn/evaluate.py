"""Grouped evaluation of the learned diagnoser, with the rules beside it.

Leave-one-program-out: for each base program, both classifiers are trained on
the runs of every *other* program and tested on the effective mutants of the
held-out one, so no program is ever in training and test at once. On the same
held-out traces the rule-based diagnoser (`deeplocalize.diagnosis.analyze`)
and the ``both`` combination (`deeplocalize.diagnosis._merge_learned` applied
to the rules' verdict and the fold's guess) are scored too.

Example:
    >>> result = evaluate("learn-corpus", report="learn-eval.md")
    >>> result["learned"]["accuracy"]
"""

from __future__ import annotations

import copy
import time
import warnings
from pathlib import Path

import numpy as np

from deeplocalize.learn.model import Dataset, fit_models, load_dataset, predict_with, true_layer


def grouped_splits(groups) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Leave-one-group-out ``(train_idx, test_idx, held_out_group)`` triples.

    Example:
        >>> [g for _, _, g in grouped_splits(["a", "a", "b"])]
        ['a', 'b']
    """
    groups = np.asarray(groups)
    out = []
    for g in sorted(set(groups.tolist())):
        test = np.flatnonzero(groups == g)
        train = np.flatnonzero(groups != g)
        out.append((train, test, g))
    return out


def _rules_verdict(trace, guess: dict) -> dict:
    """The rules' diagnosis and the ``both`` merge of it with ``guess``."""
    from deeplocalize.diagnosis import _merge_learned, analyze

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = analyze(trace)
    rules = {"root_cause": d.root_cause, "layer": d.faulty_layer, "status": d.status,
             "numerical": any(f.kind in ("nan", "inf") for f in d.findings)}
    both = copy.deepcopy(d)
    if both.status == "buggy":
        _merge_learned(both, dict(guess), "both")
    return rules, {"root_cause": both.root_cause, "layer": both.faulty_layer}


def cross_validate(data: Dataset, rules: bool = True, progress: bool = False, learner: str = "rf") -> "object":
    """One prediction row per effective mutant, each from the fold that held its program out.

    Example:
        >>> frame = cross_validate(load_dataset("learn-corpus"))
        >>> (frame.learned_cause == frame.true_cause).mean()
    """
    import pandas as pd

    rows = []
    eff = data.labels["effective"].to_numpy()
    for train, test, group in grouped_splits(data.groups):
        assert not set(data.groups[train]) & set(data.groups[test])
        test = test[eff[test]]
        if len(test) == 0:
            continue
        models = fit_models(data.subset(np.isin(np.arange(len(data.labels)), train)), learner=learner)
        for k in test:
            row = data.labels.iloc[k]
            trace = data.traces[k]
            guess = predict_with(models, trace)
            out = {"run_id": row["run_id"], "program": group, "mutation": row["mutation"],
                   "true_cause": row["root_cause"], "true_layer": true_layer(row),
                   "learned_cause": guess["root_cause"], "learned_layer": guess["layer"],
                   "confidence": guess["confidence"]}
            if rules:
                try:
                    r, b = _rules_verdict(trace, guess)
                    out.update(rules_cause=r["root_cause"], rules_layer=r["layer"], rules_status=r["status"],
                               rules_numerical=r["numerical"], both_cause=b["root_cause"], both_layer=b["layer"])
                except Exception as exc:  # the rules are being rewritten next door
                    out.update(rules_error=f"{type(exc).__name__}: {exc}")
            rows.append(out)
        if progress:
            print(f"  fold {group}: {len(test)} test runs", flush=True)
    return pd.DataFrame(rows)


def add_combinations(frame) -> list[str]:
    """Add other ways of combining rules and classifier as ``<name>_cause/_layer`` columns.

    - ``learned_wired``: what ``diagnoser="learned"`` gives: the guess only
      when the rules call the run buggy (the classifier is not asked otherwise);
    - ``both@t``: the rules for NaN/Inf runs and when the guess's confidence
      is below ``t``, the guess otherwise (``both`` is the shipped rule, t=0.5);
    - ``fallback``: the rules' cause, the guess where the rules name none.

    Example:
        >>> names = add_combinations(frame)
    """
    names = []
    if "rules_status" not in frame:
        return names
    buggy = (frame["rules_status"] == "buggy").to_numpy()
    numerical = frame["rules_numerical"].fillna(False).astype(bool).to_numpy()
    conf = frame["confidence"].to_numpy()
    for part in ("cause", "layer"):
        rules, learned = frame[f"rules_{part}"].to_numpy(object), frame[f"learned_{part}"].to_numpy(object)
        frame[f"learned_wired_{part}"] = np.where(buggy, learned, rules)
        for t in (0.0, 0.3, 0.4, 0.6, 0.7):
            take = buggy & ~numerical & (conf >= t)
            frame[f"both@{t}_{part}"] = np.where(take, learned, rules)
        has_rule = _notna(frame["rules_cause"])
        frame[f"fallback_{part}"] = np.where(has_rule, rules, learned)
    names = ["learned_wired"] + [f"both@{t}" for t in (0.0, 0.3, 0.4, 0.6, 0.7)] + ["fallback"]
    return names


def _notna(series) -> np.ndarray:
    """Boolean mask of the non-missing entries of ``series``."""
    return series.notna().to_numpy() & (series.astype(str) != "None").to_numpy()


def scores(frame, who: str) -> dict:
    """Accuracy, macro precision/recall of the cause, and layer accuracy, for ``who``.

    ``who`` is ``learned``, ``rules`` or ``both``; a missing answer counts as wrong.

    Example:
        >>> scores(frame, "learned")["accuracy"]
    """
    from sklearn.metrics import precision_recall_fscore_support

    y = frame["true_cause"].astype(str).to_numpy()
    p = frame[f"{who}_cause"].fillna("none").astype(str).to_numpy()
    labels = sorted(set(y))
    prec, rec, _, _ = precision_recall_fscore_support(y, p, labels=labels, average="macro", zero_division=0)
    layer_ok = frame[f"{who}_layer"].astype(str).to_numpy() == frame["true_layer"].astype(str).to_numpy()
    in_layer = frame["true_cause"].isin(["activation", "initialization", "architecture"]).to_numpy()
    return {"n": int(len(frame)), "accuracy": float(np.mean(y == p)), "macro_precision": float(prec),
            "macro_recall": float(rec), "layer_accuracy": float(layer_ok.mean()),
            "layer_accuracy_layer_faults": float(layer_ok[in_layer].mean()) if in_layer.any() else float("nan"),
            "both_right": float(np.mean((y == p) & layer_ok))}


def confusion(frame, who: str):
    """Confusion matrix (rows: true cause, columns: predicted) as a DataFrame.

    Example:
        >>> confusion(frame, "learned").loc["learning_rate", "learning_rate"]
    """
    import pandas as pd

    return pd.crosstab(frame["true_cause"], frame[f"{who}_cause"].fillna("none"),
                       rownames=["true"], colnames=["predicted"])


def _breakdown(frame, by: str, whos) -> "object":
    """Runs and cause accuracy of each diagnoser, per value of column ``by``."""
    import pandas as pd

    rows = {}
    for key, g in frame.groupby(by):
        rows[key] = {"runs": str(len(g)), **{who: round(float((g[f"{who}_cause"] == g["true_cause"]).mean()), 3)
                                        for who in whos}}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = by
    return out


def _md_table(df) -> str:
    cols = [str(c) for c in df.columns]
    head = "| " + " | ".join([df.index.name or ""] + cols) + " |"
    sep = "|" + "---|" * (len(cols) + 1)
    body = ["| " + " | ".join([str(i)] + [str(v) for v in r]) + " |" for i, r in zip(df.index, df.to_numpy())]
    return "\n".join([head, sep] + body)


def evaluate(corpus_dir, report=None, rules: bool = True, progress: bool = True) -> dict:
    """Leave-one-program-out evaluation; a markdown report is written to ``report``.

    Returns ``{"learned": scores, "rules": scores, "both": scores,
    "frame": per-run predictions, "markdown": report text}``.

    Example:
        >>> evaluate("learn-corpus", report="learn-eval.md")["learned"]["accuracy"]
    """
    import pandas as pd

    t0 = time.time()
    data = load_dataset(corpus_dir)
    frame = cross_validate(data, rules=rules, progress=progress)
    result = {"frame": frame}
    whos = ["learned"]
    if rules and "rules_status" in frame:
        whos += ["rules", "both"]
    combos = add_combinations(frame) if "rules" in whos else []
    for who in whos + combos:
        result[who] = scores(frame, who)
    labels = data.labels
    lines = ["# Learned diagnoser: grouped evaluation", "",
             f"Corpus `{corpus_dir}`: {len(labels)} successful runs of {labels['program'].nunique()} base programs "
             f"({int((labels['mutation'] == 'none').sum())} unmutated bases, "
             f"{int(labels['effective'].sum())} effective mutants, "
             f"{int(((labels['mutation'] != 'none') & ~labels['effective']).sum())} equivalent mutants relabelled healthy).",
             "", "Leave-one-program-out: every number below is on programs the classifiers never saw.", "",
             "| diagnoser | runs | cause accuracy | macro precision | macro recall | layer accuracy | "
             "layer acc. (layer faults) | cause and layer right |",
             "|---|---|---|---|---|---|---|---|"]
    for who in whos:
        s = result[who]
        lines.append(f"| {who} | {s['n']} | {s['accuracy']:.3f} | {s['macro_precision']:.3f} | "
                     f"{s['macro_recall']:.3f} | {s['layer_accuracy']:.3f} | "
                     f"{s['layer_accuracy_layer_faults']:.3f} | {s['both_right']:.3f} |")
    if combos:
        lines += ["", "Other ways of combining the two (same held-out runs; `learned_wired` is what "
                  "`diagnoser=\"learned\"` returns, since the classifier is only asked when the rules call a run "
                  "buggy; `both` above is `both@0.5`):", "",
                  "| combination | cause accuracy | macro precision | macro recall | layer accuracy | both right |",
                  "|---|---|---|---|---|---|"]
        for who in combos:
            s = result[who]
            lines.append(f"| {who} | {s['accuracy']:.3f} | {s['macro_precision']:.3f} | {s['macro_recall']:.3f} | "
                         f"{s['layer_accuracy']:.3f} | {s['both_right']:.3f} |")
        lines += ["", f"The rules call {float((frame['rules_status'] == 'buggy').mean()):.1%} of these "
                  "effective mutants buggy."]
    if "rules_error" in frame and frame["rules_error"].notna().any():
        lines += ["", f"The rules failed on {int(frame['rules_error'].notna().sum())} traces: "
                  f"`{frame['rules_error'].dropna().iloc[0]}`"]
    for who in whos:
        lines += ["", f"## Confusion matrix: {who} (rows true, columns predicted)", "",
                  _md_table(confusion(frame, who))]
    lines += ["", "## Cause accuracy per held-out program", "", _md_table(_breakdown(frame, "program", whos))]
    lines += ["", "## Recall per root cause", "", _md_table(_breakdown(frame, "true_cause", whos))]
    lines += ["", f"Evaluation time: {time.time() - t0:.0f} s."]
    md = "\n".join(lines) + "\n"
    result["markdown"] = md
    if report:
        Path(report).write_text(md)
        frame.to_csv(Path(report).with_suffix(".csv"), index=False)
    return result

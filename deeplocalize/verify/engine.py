"""Verification end to end: candidates, ordered by the diagnosis, tried within a time budget.

Example:
    >>> v = verify_model(model, sample, diagnosis=cb.diagnosis, mode="auto")
    >>> v.verified, v.fix.root_cause
    (True, 'learning_rate')
"""

from __future__ import annotations

import sys
import time
import warnings

from deeplocalize.config import defaults, load_config
from deeplocalize.verify.combine import try_combined
from deeplocalize.verify.fixes import candidates, order
from deeplocalize.verify.hook import noted_causes
from deeplocalize.probes.random_state import preserved_random_state
from deeplocalize.verify.trials import TrialRunner
from deeplocalize.verify.verdict import Trial, Verification, apply_to, choose, evidence

MODES = ("auto", "always", "never")


def budget_seconds(config: dict, fit_seconds: float | None, floor: bool = True) -> float:
    """The time verification may take: ``verify_budget`` seconds, or with 0
    (auto) the user's own fit time kept between ``verify_budget_min`` (unless
    ``floor`` is False) and ``verify_budget_max``."""
    if config["verify_budget"] > 0:
        return float(config["verify_budget"])
    fit_seconds = fit_seconds if fit_seconds is not None else config["verify_budget_max"]
    low = config["verify_budget_min"] if floor else 0.0
    return float(min(max(fit_seconds, low), config["verify_budget_max"]))


def ranked_causes(diagnosis) -> list[str]:
    """Root causes from the most to the least likely, by the rules' (and the
    learned diagnoser's) verdict: the verdict, the symptoms, the notes worth
    verifying, the learned diagnoser's guess, the other notes."""
    from deeplocalize.vocab import VERIFIABLE_NOTES

    if diagnosis is None:
        return []
    notes = [f for f in diagnosis.findings if f.severity == "info"]
    causes = [diagnosis.root_cause]
    causes += [f.root_cause for f in diagnosis.findings if f.severity != "info"]
    causes += [f.root_cause for f in notes if f.kind in VERIFIABLE_NOTES]
    causes.append((diagnosis.relevance or {}).get("learned", {}).get("root_cause"))
    causes += [f.root_cause for f in notes]
    return [c for c in dict.fromkeys(causes) if c]


def verify_model(model, sample, diagnosis=None, mode: str = "auto", config=None, fit_seconds=None,
                 progress: bool | None = None, fit_steps: int | None = None, causes=None) -> Verification:
    """Try the candidate fixes on copies of ``model`` with ``sample`` and, when
    ``diagnosis`` is given, let a proven fix set its verdict.

    A run the rules do not call buggy (healthy, or unchecked) holds the fixes to the
    wide margins (``verify_wide_*``) and reports the run buggy only when one
    of them passes. ``causes`` limits the candidates to those root causes.
    """
    if mode not in MODES:
        raise ValueError(f"verify must be one of {MODES}, got {mode!r}.")
    cfg = config if isinstance(config, dict) and set(defaults()) <= set(config) else load_config(config)
    wide = diagnosis is not None and diagnosis.status != "buggy"
    noted = set(noted_causes(diagnosis)) if wide else set()
    # no symptom and no note: a search for a hidden fault takes at most as long as the user's fit
    budget = budget_seconds(cfg, fit_seconds, floor=not (wide and not noted))
    # A trial never trains longer than the user's own run did (what the fixed program gets too).
    steps = max(20, min(cfg["verify_steps"], fit_steps)) if fit_steps else cfg["verify_steps"]
    v = Verification(mode=mode, budget=round(budget, 1), steps=steps, sample_size=sample.n)
    start = time.perf_counter()
    margins = {"clear": {"score": cfg["verify_score_margin"], "loss": cfg["verify_loss_ratio"],
                         "tolerance": cfg["verify_score_tolerance"]},
               "wide": {"score": cfg["verify_wide_score_margin"], "loss": cfg["verify_wide_loss_ratio"],
                        "tolerance": cfg["verify_score_tolerance"]}}
    with preserved_random_state(), warnings.catch_warnings():
        # What Keras warns about the model (a softmax over one unit, a label shape) it said when
        # the user's fit traced it: each copy would say it again.
        warnings.filterwarnings("ignore", module=r"(keras|tensorflow|jax|torch|numpy)\b")
        # the as-is copy and the first candidate (four seed runs) should fit in the budget
        runner = TrialRunner(model, sample, steps=steps, seeds=tuple(range(cfg["verify_seeds"])),
                             margins=margins, holdout=cfg["verify_holdout"], seed_seconds=budget / 4)
        # the as-is copy and the first candidate may use twice the budget; nothing runs past that
        runner.deadline = start + 2 * budget
        v.score_name = runner.score_name
        x, y, _ = runner.train
        fixes, skipped = candidates(model, x, y, batch_size=sample.batch_size)
        if causes is not None:
            fixes = [f for f in fixes if f.root_cause in causes]
        fixes = order(fixes, ranked_causes(diagnosis), getattr(diagnosis, "faulty_layer", None))
        if wide:  # no symptom: training faster is not a fault, unless a note named that cause
            skipped += [(f.name, "a run with no symptom: a fix that only trains faster shows no fault")
                        for f in fixes if f.only_faster and f.root_cause not in noted]
            fixes = [f for f in fixes if not f.only_faster or f.root_cause in noted]
        as_is = runner.run(None)
        v.trials.append(as_is)
        v.steps = runner.steps  # fewer when one run of the full trial would not fit the budget
        if as_is.verdict != "baseline":
            v.note = f"The model as it is could not be trained on the sample: {as_is.note}"
            fixes = []
        # the first candidate always gets four times one seed of the as-is copy (its two
        # seeds, the copy's second seed, and slack for tracing)
        runner.deadline = max(start + budget, time.perf_counter() + 4 * as_is.seconds)
        bar = _progress(len(fixes), progress)
        for i, fix in enumerate(fixes):
            spent = time.perf_counter() - start
            if i > 0 and spent + as_is.seconds > budget:
                v.trials.append(Trial(fix=fix.name, root_cause=fix.root_cause, layer=fix.layer, change=fix.change,
                                      suggestion=fix.suggestion, note="not tried: the time budget was spent"))
                continue
            v.trials.append(runner.run(fix, wide=wide))
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        # several faults at once: only on a run the rules call buggy (a healthy model
        # rewritten to standard choices often trains faster without being wrong)
        if not wide and time.perf_counter() - start + as_is.seconds <= budget:
            combo = try_combined(runner, fixes, v.trials, deadline=start + budget)
            fixes = fixes + [combo] if combo is not None else fixes
    for name, reason in skipped:
        v.trials.append(Trial(fix=name, verdict="not applicable", note=reason))
    if any(t.note.startswith("not tried") for t in v.trials):
        v.note = (v.note + " " if v.note else "") + f"The time budget ({budget:.0f} s) ran out before every " \
                                                    "candidate was tried (config verify_budget)."
    # the cause the checks found symptoms of (not a hunch from notes on a run they call healthy)
    agreed = diagnosis.root_cause if diagnosis is not None and diagnosis.status == "buggy" else None
    chosen = choose(v.trials, cfg["verify_tie"], agreed)
    if chosen is not None:
        v.chosen, v.evidence = chosen.fix, evidence(chosen, as_is, v.score_name)
    v.fixes = {f.name: f for f in fixes}
    v.seconds = round(time.perf_counter() - start, 2)
    if diagnosis is not None:
        apply_to(diagnosis, v)
    return v


def _progress(total: int, enabled: bool | None):
    """A progress bar on an interactive terminal only (never in logs)."""
    if enabled is False or total == 0 or (enabled is None and not sys.stderr.isatty()):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="deeplocalize: trying fixes", leave=False, file=sys.stderr)

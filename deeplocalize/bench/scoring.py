"""Scoring runs against the ground truth (the only place that compares the two).

Per case and seed, per tool:

- ``detected``: the buggy run was flagged;
- ``false_alarm``: the fixed run was flagged;
- ``localized``: the diagnosis' faulty layer (or component) is one of the
  ground truth's ``faulty_layer`` answers (Keras baselines never localize);
- ``root_cause_strict`` / ``root_cause_lenient``: the diagnosed root cause is
  the primary ``root_cause`` / the primary or one of ``secondary_causes``;
- ``steps``: steps to detection (DeepLocalize: the diagnosis'
  ``first_detection_step``; a baseline: the 0-based step at which it stopped);
- ``wall_buggy_s`` / ``wall_fixed_s``.

A value is ``None`` when it does not apply or the run is missing (crash,
timeout, a baseline that is n/a); totals count only the cases where it applies.

Example:
    >>> gt = {"faulty_layer": ["dense_out", "loss"], "root_cause": "activation", "secondary_causes": ["loss_function"]}
    >>> runs = {"buggy": {"deeplocalize": {"status": "ok", "flagged": True, "stop_step": 3,
    ...          "diagnosis": {"faulty_layer": "dense_out", "root_cause": "loss_function"}}}}
    >>> s = score_case(gt, runs)["deeplocalize"]
    >>> s["localized"], s["root_cause_strict"], s["root_cause_lenient"]
    (True, False, True)
"""

from __future__ import annotations

import statistics

from deeplocalize.bench.baselines import KERAS_TOOLS, SCORED_TOOLS

METRICS = ("detected", "false_alarm", "localized", "root_cause_strict", "root_cause_lenient")
MODE_METRICS = ("localized", "root_cause_strict", "root_cause_lenient")


def _norm(name) -> str | None:
    if name is None:
        return None
    return str(name).strip().lower()


def localized(faulty_layer, gt: dict | None) -> bool | None:
    """Is ``faulty_layer`` one of the ground truth's acceptable answers?"""
    if gt is None or not gt.get("faulty_layer"):
        return None
    answers = {_norm(a) for a in gt["faulty_layer"]}
    return _norm(faulty_layer) in answers if faulty_layer is not None else False


def root_cause_right(cause, gt: dict | None, lenient: bool = False) -> bool | None:
    if gt is None or not gt.get("root_cause"):
        return None
    if cause is None:
        return False
    accepted = {_norm(gt["root_cause"])}
    if lenient:
        accepted |= {_norm(c) for c in gt.get("secondary_causes") or []}
    return _norm(cause) in accepted


def _ok(rec: dict | None) -> bool:
    return rec is not None and rec.get("status") == "ok" and rec.get("flagged") is not None


def _flag(rec: dict | None) -> bool | None:
    return bool(rec["flagged"]) if _ok(rec) else None


def score_case(gt: dict | None, runs: dict) -> dict:
    """Scores of every tool for one case and seed.

    ``runs`` is ``{"buggy": {tool: record}, "fixed": {tool: record}}`` with
    the worker's run records (``status``, ``flagged``, ``stop_step``,
    ``wall_s``; DeepLocalize's also ``diagnosis`` and ``diagnoser_modes``).
    Returns ``{tool: {metric: value}}`` for `SCORED_TOOLS`, plus
    ``"deeplocalize_modes": {mode: {metric: value}}``.
    """
    buggy, fixed = runs.get("buggy", {}) or {}, runs.get("fixed", {}) or {}
    out: dict = {}
    for tool in SCORED_TOOLS:
        if tool == "keras_all":
            continue
        b, f = buggy.get(tool), fixed.get(tool)
        detected = _flag(b)
        s = {
            "detected": detected,
            "false_alarm": _flag(f),
            "steps": b.get("stop_step") if detected else None,
            "wall_buggy_s": b.get("wall_s") if b else None,
            "wall_fixed_s": f.get("wall_s") if f else None,
        }
        if tool == "deeplocalize":
            diag = (b or {}).get("diagnosis") or {}
            layer = diag.get("faulty_layer") if detected else None
            cause = diag.get("root_cause") if detected else None
            s["faulty_layer"], s["root_cause"] = layer, cause
            if detected is None:
                s.update(localized=None, root_cause_strict=None, root_cause_lenient=None)
            else:
                s["localized"] = localized(layer, gt)
                s["root_cause_strict"] = root_cause_right(cause, gt)
                s["root_cause_lenient"] = root_cause_right(cause, gt, lenient=True)
        else:
            s["localized"] = False if detected is not None else None
            s["root_cause_strict"] = s["root_cause_lenient"] = None
        out[tool] = s

    # the paper's "all three": OR of the Keras baselines that apply
    def any_of(metric):
        values = [out[t][metric] for t in KERAS_TOOLS if out[t][metric] is not None]
        return any(values) if values else None

    detected = any_of("detected")
    steps = [out[t]["steps"] for t in KERAS_TOOLS if out[t]["detected"] and out[t]["steps"] is not None]
    out["keras_all"] = {
        "detected": detected,
        "false_alarm": any_of("false_alarm"),
        "localized": False if detected is not None else None,
        "root_cause_strict": None,
        "root_cause_lenient": None,
        "steps": min(steps) if steps else None,
        "wall_buggy_s": None,
        "wall_fixed_s": None,
    }

    # the same buggy trace re-diagnosed by each diagnoser (no retraining)
    modes = {}
    b = buggy.get("deeplocalize")
    detected = out["deeplocalize"]["detected"]
    for mode, answer in ((b or {}).get("diagnoser_modes") or {}).items():
        if "error" in answer:
            modes[mode] = {"localized": None, "root_cause_strict": None, "root_cause_lenient": None,
                           "error": answer["error"]}
            continue
        layer = answer.get("faulty_layer") if detected else None
        cause = answer.get("root_cause") if detected else None
        modes[mode] = {
            "faulty_layer": layer, "root_cause": cause,
            "localized": localized(layer, gt) if detected is not None else None,
            "root_cause_strict": root_cause_right(cause, gt) if detected is not None else None,
            "root_cause_lenient": root_cause_right(cause, gt, lenient=True) if detected is not None else None,
        }
    out["deeplocalize_modes"] = modes
    return out


def overhead(runs: dict) -> dict:
    """Per-step time with DeepLocalize / without any callback, same variant, same process.

    The fixed variant is used when its DeepLocalize run trained to the end
    (buggy runs are usually halted after a few steps); else the buggy one if
    it did; else whichever DeepLocalize run has more steps.
    """
    candidates = []
    for variant in ("fixed", "buggy"):
        dl = (runs.get(variant) or {}).get("deeplocalize")
        plain = (runs.get(variant) or {}).get("plain")
        if not (dl and plain and dl.get("status") == "ok" and plain.get("status") == "ok"):
            continue
        if not dl.get("per_step_s") or not plain.get("per_step_s"):
            continue
        complete = not dl.get("stopped_early")
        candidates.append((complete, dl.get("steps_run") or 0, variant, dl, plain))
    if not candidates:
        return {"ratio": None, "variant": None, "complete": None}
    complete = [c for c in candidates if c[0]]
    pick = complete[0] if complete else max(candidates, key=lambda c: c[1])
    _, _, variant, dl, plain = pick
    return {"ratio": dl["per_step_s"] / plain["per_step_s"], "variant": variant, "complete": pick[0],
            "dl_per_step_s": dl["per_step_s"], "plain_per_step_s": plain["per_step_s"],
            "basis": dl.get("timing_basis")}


def totals(rows: list[dict]) -> dict:
    """Counts over scored rows (one row per case and seed): for each tool and
    metric ``{"count": k, "of": n}`` (n = rows where it applies), median steps,
    and for DeepLocalize the diagnoser modes and the overhead ratios."""
    out: dict = {"rows": len(rows), "tools": {}, "modes": {}}
    for tool in SCORED_TOOLS:
        t = {}
        for metric in METRICS:
            vals = [r["scores"][tool][metric] for r in rows if r.get("scores") and r["scores"][tool][metric] is not None]
            t[metric] = {"count": sum(bool(v) for v in vals), "of": len(vals)}
        steps = [r["scores"][tool]["steps"] for r in rows
                 if r.get("scores") and r["scores"][tool]["detected"] and r["scores"][tool]["steps"] is not None]
        t["median_steps"] = statistics.median(steps) if steps else None
        walls = [r["scores"][tool]["wall_buggy_s"] for r in rows
                 if r.get("scores") and r["scores"][tool].get("wall_buggy_s") is not None]
        t["wall_buggy_s_total"] = sum(walls) if walls else None
        out["tools"][tool] = t
    for mode in ("rules", "learned", "both"):
        m = {}
        errors = set()
        for metric in MODE_METRICS:
            vals = []
            for r in rows:
                ans = ((r.get("scores") or {}).get("deeplocalize_modes") or {}).get(mode)
                if ans is None:
                    continue
                if ans.get("error"):
                    errors.add(ans["error"])
                if ans.get(metric) is not None:
                    vals.append(ans[metric])
            m[metric] = {"count": sum(bool(v) for v in vals), "of": len(vals)}
        m["available"] = any(m[k]["of"] for k in MODE_METRICS)
        m["errors"] = sorted(errors)[:3]
        out["modes"][mode] = m
    ratios = [r["overhead"]["ratio"] for r in rows if r.get("overhead") and r["overhead"].get("ratio")]
    out["overhead"] = {
        "n": len(ratios),
        "median": statistics.median(ratios) if ratios else None,
        "max": max(ratios) if ratios else None,
    }
    out["status"] = {s: sum(r.get("status") == s for r in rows) for s in ("ok", "crashed", "timeout")}
    return out


def published_totals(published: dict, case_ids) -> dict:
    """The published per-case DeepLocalize results summed over ``case_ids``."""
    ids = [c for c in case_ids if c in published]
    return {
        "of": len(ids),
        "detected": sum(bool(published[c].get("detected")) for c in ids),
        "localized": sum(bool(published[c].get("localized")) for c in ids),
    }

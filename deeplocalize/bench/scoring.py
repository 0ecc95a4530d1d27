"""Scoring runs against the ground truth (the only place that compares the two).

Per case and seed, per tool of `tools.scored_tools`:

- ``detected``: the buggy run was flagged;
- ``false_alarm``: the fixed run was flagged (a healthy program: its one run);
- ``localized``: the tool's faulty layer (or component) is one of the ground
  truth's ``faulty_layer`` answers (a tool that names no layer never localizes);
- ``root_cause_strict`` / ``root_cause_lenient``: the named root cause is the
  primary ``root_cause`` / the primary or one of ``secondary_causes``
  (``None`` for a tool that names no cause);
- ``steps``: steps to detection; ``wall_buggy_s`` / ``wall_fixed_s``;
- for a tool that verifies its diagnosis (``Tool.verifies``): ``repaired``, the
  fix it proved on the buggy run, applied to the whole program, trains it as
  well as the fixed program (`repaired`; False when no fix was proven), and
  ``verification_s``, the seconds its trials took (buggy and fixed runs).

Over several seeds (`aggregate_seeds`) a program counts as detected when the
tool flags it in the majority of the seeds where it ran, and as a false alarm
when the fixed version is flagged in any seed; ``agreement`` is the share of
seeds whose buggy verdict is the majority's.

A value is ``None`` when it does not apply or the run is missing (crash,
timeout, a baseline that is n/a); totals count only the cases where it applies.

Example:
    >>> gt = {"faulty_layer": ["dense_out", "loss"], "root_cause": "activation", "secondary_causes": ["loss_function"]}
    >>> runs = {"buggy": {"deeplocalize": RunRecord("c", 0, "buggy", "deeplocalize", flagged=True, stop_step=3,
    ...          faulty_layer="dense_out", root_cause="loss_function")}}
    >>> s = score_case(gt, runs)["deeplocalize"]
    >>> s["localized"], s["root_cause_strict"], s["root_cause_lenient"]
    (True, False, True)
"""

from __future__ import annotations

import math
import statistics

from deeplocalize.bench.record import RunRecord
from deeplocalize.bench.tools import scored_tools

METRICS = ("detected", "false_alarm", "localized", "root_cause_strict", "root_cause_lenient", "repaired")
REPAIR_MARGIN = 0.05  # a repaired program's metric may trail the fixed program's by this share of it
MODE_METRICS = ("localized", "root_cause_strict", "root_cause_lenient")
OURS = "deeplocalize"  # the tool whose diagnoser modes and overhead are reported


def _norm(name) -> str | None:
    return None if name is None else str(name).strip().lower()


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


def repaired(final: dict | None, gt: dict | None, fixed_final: dict | None) -> bool | None:
    """Does a repaired program train as well as the fixed one? Its final
    ``validity.metric`` meets the fixed program's validity condition, or
    trails the fixed run's own final value by at most `REPAIR_MARGIN` of it.

    Example:
        >>> gt = {"validity": {"metric": "accuracy", "fixed": ">= 0.9"}}
        >>> repaired({"accuracy": 0.93}, gt, {"accuracy": 0.97}), repaired({"accuracy": 0.5}, gt, {"accuracy": 0.97})
        (True, False)
    """
    validity = (gt or {}).get("validity") or {}
    metric, condition = validity.get("metric"), validity.get("fixed")
    if not metric or not condition:
        return None
    value = (final or {}).get(metric)
    if value is None or not math.isfinite(value):
        return False
    op, threshold = str(condition).split()
    higher = op.startswith(">")
    if (value >= float(threshold)) if higher else (value <= float(threshold)):
        return True
    ref = (fixed_final or {}).get(metric)
    if ref is None or not math.isfinite(ref):
        return False
    slack = REPAIR_MARGIN * abs(ref)
    return bool(value >= ref - slack) if higher else bool(value <= ref + slack)


def _repaired(tool, gt, b: RunRecord | None, fixed_plain: RunRecord | None) -> bool | None:
    if not tool.verifies or b is None or not b.ok or not ((gt or {}).get("validity") or {}).get("metric"):
        return None
    rep = (b.details or {}).get("repair") if b.flagged and b.verified_fix else None
    if rep and rep.get("skipped"):
        return None
    if not rep or rep.get("error"):
        return False
    return repaired(rep.get("final"), gt, fixed_plain.final if fixed_plain is not None else None)


def _trained(runs: dict) -> RunRecord | None:
    """The program's own training: its plain fit, else (where the other tools
    watched ours instead) our fit when it ran to its end, which trains the
    same (the callback changes nothing in training)."""
    plain, ours = runs.get("plain"), runs.get(OURS)
    if plain is not None and plain.status == "ok":
        return plain
    return ours if ours is not None and ours.ok and not ours.stopped_early else None


def _flag(rec: RunRecord | None) -> bool | None:
    return bool(rec.flagged) if rec is not None and rec.ok else None


def _score_tool(tool, gt, b: RunRecord | None, f: RunRecord | None, fixed_plain: RunRecord | None = None) -> dict:
    detected = _flag(b)
    s = {"detected": detected, "false_alarm": _flag(f),
         "steps": b.stop_step if detected else None,
         "wall_buggy_s": b.wall_s if b else None, "wall_fixed_s": f.wall_s if f else None,
         "repaired": _repaired(tool, gt, b, fixed_plain),
         "verification_s": [r.verification_s for r in (b, f) if r is not None and r.verification_s is not None]}
    layer = b.faulty_layer if detected and tool.names_layer else None
    cause = b.root_cause if detected and tool.names_cause else None
    s["faulty_layer"], s["root_cause"] = layer, cause
    if detected is None:
        s.update(localized=None, root_cause_strict=None, root_cause_lenient=None)
        return s
    s["localized"] = localized(layer, gt) if tool.names_layer else False
    if tool.names_cause:
        s["root_cause_strict"] = root_cause_right(cause, gt)
        s["root_cause_lenient"] = root_cause_right(cause, gt, lenient=True)
    else:
        s["root_cause_strict"] = s["root_cause_lenient"] = None
    return s


def _score_derived(tool, out: dict) -> dict:
    def any_of(metric):
        values = [out[t][metric] for t in tool.any_of if out[t][metric] is not None]
        return any(values) if values else None

    detected = any_of("detected")
    steps = [out[t]["steps"] for t in tool.any_of if out[t]["detected"] and out[t]["steps"] is not None]
    return {"detected": detected, "false_alarm": any_of("false_alarm"),
            "localized": False if detected is not None else None, "root_cause_strict": None,
            "root_cause_lenient": None, "repaired": None, "verification_s": [], "steps": min(steps) if steps else None,
            "wall_buggy_s": None, "wall_fixed_s": None, "faulty_layer": None, "root_cause": None}


def score_case(gt: dict | None, runs: dict) -> dict:
    """Scores of every tool for one case and seed.

    ``runs`` is ``{"buggy": {tool: RunRecord}, "fixed": {tool: RunRecord}}``
    (a healthy program: ``{"healthy": {...}}``, scored for false alarms only).
    Returns ``{tool: {metric: value}}`` plus ``"deeplocalize_modes"``.
    """
    if "healthy" in runs:
        out = {t.name: {"false_alarm": _flag(runs["healthy"].get(t.name)), "verification_s": [
            r.verification_s for r in [runs["healthy"].get(t.name)] if r is not None and r.verification_s is not None]}
            for t in scored_tools() if not t.any_of}
        for t in scored_tools():
            if t.any_of:
                flags = [out[n]["false_alarm"] for n in t.any_of if out[n]["false_alarm"] is not None]
                out[t.name] = {"false_alarm": any(flags) if flags else None}
        return out
    buggy, fixed = runs.get("buggy", {}) or {}, runs.get("fixed", {}) or {}
    out: dict = {}
    for tool in scored_tools():
        if not tool.any_of:
            out[tool.name] = _score_tool(tool, gt, buggy.get(tool.name), fixed.get(tool.name), _trained(fixed))
    for tool in scored_tools():
        if tool.any_of:
            out[tool.name] = _score_derived(tool, out)
    out["deeplocalize_modes"] = _modes(gt, buggy.get(OURS), out[OURS]["detected"])
    return out


def _modes(gt, b: RunRecord | None, detected) -> dict:
    """The same buggy trace re-diagnosed by each diagnoser (no retraining)."""
    modes = {}
    for mode, answer in ((b.diagnoser_modes if b else None) or {}).items():
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
    return modes


def overhead(runs: dict) -> dict:
    """Per-step time with DeepLocalize / without any callback, same variant, same process.

    The fixed variant is used when its DeepLocalize run trained to the end,
    else the buggy one if it did; a run we halted is not timed (its few steps
    are mostly tracing and trials). A fit timed whole (one epoch) is timed
    without the verification trials that ran at its end: they are timed in a
    column of their own.
    """
    candidates = []
    for variant in ("fixed", "buggy", "healthy"):
        dl = (runs.get(variant) or {}).get(OURS)
        plain = (runs.get(variant) or {}).get("plain")
        if not (dl and plain and dl.status == "ok" and plain.status == "ok"):
            continue
        if not dl.per_step_s or not plain.per_step_s:
            continue
        if not dl.stopped_early:
            candidates.append((variant, dl, plain))
    if not candidates:
        return {"ratio": None, "cpu_ratio": None, "variant": None}
    variant, dl, plain = candidates[0]
    per_step = dl.per_step_s
    always = runs[variant].get(OURS + "_always")  # the trials that ran in that fit: always's, or auto's
    trials = always.verification_s if always is not None and always.status == "ok" else dl.verification_s
    if trials and dl.timing_basis == "whole_fit" and dl.wall_s and dl.steps_run:
        per_step = max(0.0, dl.wall_s - trials) / dl.steps_run
    # CPU time is less disturbed by other processes; a fit timed whole with trials in it has no CPU figure
    # of its own (the trials' CPU time is not known)
    cpu = dl.per_step_cpu_s if not (trials and dl.timing_basis == "whole_fit") else None
    cpu_ratio = cpu / plain.per_step_cpu_s if cpu and plain.per_step_cpu_s else None
    return {"ratio": per_step / plain.per_step_s, "cpu_ratio": cpu_ratio, "variant": variant,
            "dl_per_step_s": per_step, "plain_per_step_s": plain.per_step_s, "basis": dl.timing_basis}


def _majority(values) -> bool | None:
    vals = [v for v in values if v is not None]
    return None if not vals else sum(bool(v) for v in vals) * 2 > len(vals)


def aggregate_seeds(rows: list[dict]) -> dict:
    """One program's scores over its seeds (rows of one case id).

    Detected, localized and the root cause count by majority of the seeds
    where they apply (a tie is not a majority); a false alarm counts when any
    seed has one. ``agreement``: ``(k, n)``, the n seeds where the buggy
    verdict applies and the k of them that agree with the majority.

    Example:
        >>> rows = [{"scores": {"t": {"detected": d, "false_alarm": fa}}} for d, fa in
        ...         [(True, False), (False, False), (True, True)]]
        >>> agg = aggregate_seeds(rows)["t"]
        >>> agg["detected"], agg["false_alarm"], agg["agreement"]
        (True, True, (2, 3))
    """
    scored = [r["scores"] for r in rows if r.get("scores")]
    tools = [t for t in (scored[0] if scored else {}) if t != "deeplocalize_modes"]
    out: dict = {}
    for tool in tools:
        per = [s[tool] for s in scored if tool in s]
        agg = {}
        for metric in METRICS:
            vals = [p.get(metric) for p in per]
            agg[metric] = (any(v for v in vals if v is not None) if any(v is not None for v in vals) else None) \
                if metric == "false_alarm" else _majority(vals)
        det = [p.get("detected") for p in per if p.get("detected") is not None]
        agg["agreement"] = (sum(d == agg["detected"] for d in det), len(det)) if det else (0, 0)
        steps = [p["steps"] for p in per if p.get("detected") and p.get("steps") is not None]
        agg["steps"] = statistics.median(steps) if steps else None
        walls = [p["wall_buggy_s"] for p in per if p.get("wall_buggy_s") is not None]
        agg["wall_buggy_s"] = statistics.median(walls) if walls else None
        agg["verification_s"] = [v for p in per for v in (p.get("verification_s") or [])]
        out[tool] = agg
    modes: dict = {}
    for s in scored:
        for mode, ans in (s.get("deeplocalize_modes") or {}).items():
            modes.setdefault(mode, []).append(ans)
    out["deeplocalize_modes"] = {
        mode: {**{m: _majority([a.get(m) for a in answers]) for m in MODE_METRICS},
               **({"error": answers[0]["error"]} if answers[0].get("error") else {})}
        for mode, answers in modes.items()}
    return out


def _by_case(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["id"], []).append(r)
    return groups


def _count(values) -> dict:
    vals = [v for v in values if v is not None]
    return {"count": sum(bool(v) for v in vals), "of": len(vals)}


def totals(rows: list[dict]) -> dict:
    """Counts over programs (seeds combined by `aggregate_seeds`): for each
    tool and metric ``{"count": k, "of": n}`` (n = programs where it applies),
    median steps, all-seeds agreement, for DeepLocalize the diagnoser modes
    and the overhead ratios (one per case and seed), and the healthy suite's
    false alarms per tool."""
    buggy_rows = [r for r in rows if r.get("kind", "buggy") != "healthy"]
    healthy_rows = [r for r in rows if r.get("kind") == "healthy"]
    cases = {cid: aggregate_seeds(rs) for cid, rs in _by_case(buggy_rows).items()}
    out: dict = {"rows": len(rows), "programs": len(cases), "tools": {}, "modes": {}, "healthy": {}}
    for tool in [t.name for t in scored_tools()]:
        per = [c[tool] for c in cases.values() if tool in c]
        t = {metric: _count(p[metric] for p in per) for metric in METRICS}
        steps = [p["steps"] for p in per if p["detected"] and p["steps"] is not None]
        t["median_steps"] = statistics.median(steps) if steps else None
        walls = [p["wall_buggy_s"] for p in per if p.get("wall_buggy_s") is not None]
        t["wall_buggy_s_total"] = sum(walls) if walls else None
        agree = [p["agreement"] for p in per if p["agreement"][1]]
        t["all_seeds_agree"] = {"count": sum(k == n for k, n in agree), "of": len(agree)}
        secs = [v for p in per for v in p.get("verification_s") or []]
        secs += [v for r in healthy_rows for v in ((r.get("scores") or {}).get(tool) or {}).get("verification_s") or []]
        t["verification_s"] = {"n": len(secs), "median": statistics.median(secs) if secs else None,
                               "max": max(secs) if secs else None, "total": sum(secs) if secs else None}
        out["tools"][tool] = t
    for mode in ("rules", "learned", "both"):
        answers = [c["deeplocalize_modes"][mode] for c in cases.values() if mode in c.get("deeplocalize_modes", {})]
        m = {metric: _count(a.get(metric) for a in answers) for metric in MODE_METRICS}
        m["available"] = any(m[k]["of"] for k in MODE_METRICS)
        m["errors"] = sorted({a["error"] for a in answers if a.get("error")})[:3]
        out["modes"][mode] = m
    out["overhead"] = {}
    for key, name in (("ratio", ""), ("cpu_ratio", "cpu_")):
        ratios = [r["overhead"][key] for r in rows if r.get("overhead") and r["overhead"].get(key)]
        out["overhead"].update({name + "n": len(ratios), name + "median": statistics.median(ratios) if ratios else None,
                                name + "max": max(ratios) if ratios else None})
    for tool in [t.name for t in scored_tools()]:
        per_prog = []
        for rs in _by_case(healthy_rows).values():
            vals = [r["scores"][tool]["false_alarm"] for r in rs if r.get("scores") and tool in r["scores"]]
            vals = [v for v in vals if v is not None]
            per_prog.append(any(vals) if vals else None)
        out["healthy"][tool] = _count(per_prog)
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

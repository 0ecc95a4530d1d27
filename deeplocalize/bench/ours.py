"""DeepLocalize as a benchmark tool: its callbacks and how its verdict is read.

One fit serves three rows of the table (`tools`): the callback runs with
``verify="always"`` (on the run's first seed; the other seeds run the
defaults, ``"auto"``, and have no ``always`` row), and its verdict is read
three ways:

- ``deeplocalize`` (the defaults, ``verify="auto"``): the verified verdict when
  the rules call the run buggy (there ``auto`` runs the same trials as
  ``always``: the stricter margins apply only to a run the rules call
  healthy); on a run the rules call healthy whose notes name likely causes,
  the ``always`` trials of those causes alone (what ``auto`` tries there, with
  the same wide margins; a noted candidate that the budget left untried under
  ``always`` counts as unproven); else the rules' verdict;
- ``deeplocalize_always``: the verified verdict, whatever the rules said;
- ``deeplocalize_rules``: the rules alone (``verify="never"``), re-diagnosed from
  the same trace and findings. With verification on, a halting error waits
  for ``verify_halt_examples`` examples to be kept, so this trace can be a few
  steps longer than a ``verify="never"`` run's.

On a buggy program whose verification proved a fix, the fix is applied to a
fresh build of the whole program (`repair`, first seed only), which is
trained as the program says; the scorer compares its final metric with the
fixed program's.

Example:
    >>> cbs = make_callbacks(ctx)          # [DeepLocalizeCallback(verbose=0, verify="always")]
    >>> model.fit(x, y, callbacks=cbs)
    >>> read(ctx, cbs, record, counter)    # fills record.flagged, faulty_layer, root_cause, ...
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

DIAGNOSER_MODES = ("rules", "learned", "both")


def make_callbacks(ctx, **options) -> list:
    """A fresh `DeepLocalizeCallback` at defaults but ``verify="always"`` on the
    run's first seed (see the module docstring; the other seeds run ``"auto"``,
    the defaults, to keep the benchmark's time; ``options`` override them)."""
    from deeplocalize import DeepLocalizeCallback

    options.setdefault("verify", "always" if ctx.first_seed else "auto")
    return [DeepLocalizeCallback(verbose=0, **options)]


def diagnosis_summary(d, n_findings: int = 5) -> dict:
    return {
        "status": d.status,
        "faulty_layer": d.faulty_layer,
        "root_cause": d.root_cause,
        "first_detection_step": d.first_detection_step,
        "stopped_training": bool(d.stopped_training),
        "findings": [
            {k: getattr(f, k, None) for k in ("kind", "layer", "root_cause", "severity", "step", "epoch",
                                                "detail", "message")}
            for f in d.findings[:n_findings]
        ],
        "n_findings": len(d.findings),
    }


def rediagnose(cb) -> dict:
    """Root cause and layer of the same trace under each diagnoser mode (no retraining).
    A mode that cannot run (e.g. no trained classifier yet) is recorded with its error."""
    from deeplocalize.diagnosis import diagnose

    out = {}
    stopped = bool(getattr(cb.diagnosis, "stopped_training", False))
    for mode in DIAGNOSER_MODES:
        try:
            d = diagnose(cb.trace, copy.deepcopy(cb.findings), stopped_training=stopped, diagnoser=mode)
            out[mode] = {"status": d.status, "faulty_layer": d.faulty_layer, "root_cause": d.root_cause}
        except Exception as exc:  # the learned diagnoser may not exist yet
            out[mode] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def _rules_view(cb):
    """The verdict of the rules alone (what ``verify="never"`` reports) on the same run."""
    from deeplocalize.diagnosis import diagnose

    findings = [f for f in copy.deepcopy(cb.findings) if f.kind != "fix_verified"]
    return diagnose(cb.trace, findings, stopped_training=bool(cb.diagnosis.stopped_training), diagnoser="both")


def _fill(rec, d) -> None:
    rec.flagged = d.status == "buggy"
    rec.stop_step = d.first_detection_step
    rec.diagnosis = diagnosis_summary(d)
    rec.faulty_layer, rec.root_cause = d.faulty_layer, d.root_cause
    if d.findings:
        rec.symptom = d.findings[0].kind


def _fill_verification(ctx, cb, rec, v) -> None:
    """Time, proven fix and (buggy programs) the repaired program's metrics."""
    if v is None:
        return
    rec.verification_s = v.seconds
    rec.details["verification"] = {"verified": v.verified, "note": v.note, "tried": sum(
        t.verdict not in ("baseline", "not tried", "not applicable") for t in v.trials), "trials": len(v.trials),
        # each trial's outcome, so that another way of choosing among proven fixes can be scored from the logs
        "outcomes": [{"fix": t.fix, "root_cause": t.root_cause, "layer": t.layer, "verdict": t.verdict,
                      **{k: t.improvement.get(k) for k in ("score_gain", "loss_ratio")}} for t in v.trials]}
    if not v.verified:
        return
    fix = v.fix
    rec.verified_fix = {"fix": fix.fix, "root_cause": fix.root_cause, "layer": fix.layer, "change": fix.change}
    if ctx.variant == "buggy":
        if ctx._repair is None:
            ctx._repair = repair(ctx, getattr(v, "fix_object", None)) if ctx.first_seed else \
                {"skipped": "the repair is measured on the run's first seed only"}
        rec.details["repair"] = ctx._repair


def repair(ctx, fix) -> dict:
    """Apply ``fix`` to a fresh build of the whole buggy program and train it as the program says."""
    if fix is None or ctx.module is None:
        return {"error": "the proven fix or the program is not available"}
    start = time.perf_counter()
    try:
        ctx.keras.backend.clear_session()
        program = ctx.module.build(ctx.variant, seed=ctx.seed)
        fit_kwargs = dict(program.get("fit") or {})
        fit_kwargs["verbose"] = 0
        model, x, y, fit_kwargs = fix.apply(program["model"], program["x"], program.get("y"), fit_kwargs)
        history = model.fit(x, y, **fit_kwargs)
        final = {}
        for key, values in (history.history or {}).items():
            if values and isinstance(values[-1], (int, float)) and math.isfinite(float(values[-1])):
                final[key] = float(values[-1])
            elif values:
                final[key] = float("nan")
        return {"fix": fix.name, "final": final, "seconds": round(time.perf_counter() - start, 2)}
    except Exception as exc:  # a fix that does not apply to the whole program is a result
        return {"fix": getattr(fix, "name", None), "error": f"{type(exc).__name__}: {exc}"[:400],
                "seconds": round(time.perf_counter() - start, 2)}


def read(ctx, cbs, rec, counter=None) -> None:
    """The defaults' verdict (``verify="auto"``) into ``rec``; on a buggy run also
    the other diagnosers' answers, and the trace and HTML report when asked for."""
    cb = cbs[0]
    d = cb.diagnosis
    rules = _rules_view(cb)
    auto, v = (d, d.verification) if rules.status == "buggy" else _auto_on_notes(cb, rules, d.verification)
    _fill(rec, auto)
    _fill_verification(ctx, cb, rec, v)
    if ctx.variant != "buggy":
        return
    rec.diagnoser_modes = rediagnose(cb)
    if ctx.trace_path:
        try:
            Path(ctx.trace_path).parent.mkdir(parents=True, exist_ok=True)
            cb.trace.save(ctx.trace_path)
            rec.trace = ctx.trace_path
        except Exception as exc:
            rec.trace_error = f"{type(exc).__name__}: {exc}"
    if ctx.report_path:
        try:
            Path(ctx.report_path).parent.mkdir(parents=True, exist_ok=True)
            d.save(ctx.report_path, trace=cb.trace)
            rec.report = ctx.report_path
        except Exception as exc:
            rec.report_error = f"{type(exc).__name__}: {exc}"


def _auto_on_notes(cb, rules, v):
    """What ``verify="auto"`` makes of a run the rules call healthy (see the module docstring)."""
    from deeplocalize.verify.hook import noted_causes
    from deeplocalize.verify.verdict import apply_to

    causes = noted_causes(rules)
    if v is None or not causes or not cb.config["verify_on_notes"]:
        return rules, None
    sub = v.restricted(causes, cb.config["verify_tie"])
    apply_to(rules, sub)
    return rules, sub


def read_always(ctx, cbs, rec, counter=None) -> None:
    """The ``verify="always"`` verdict of the same run (first seed only, see `make_callbacks`)."""
    if cbs[0].verify != "always":
        rec.status, rec.error = "n/a", "verify='always' runs on the first seed only (the benchmark's time)"
        return
    d = cbs[0].diagnosis
    _fill(rec, d)
    _fill_verification(ctx, cbs[0], rec, d.verification)


def read_rules(ctx, cbs, rec, counter=None) -> None:
    """The rules' verdict alone (``verify="never"``) of the same run."""
    _fill(rec, _rules_view(cbs[0]))

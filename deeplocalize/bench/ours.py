"""DeepLocalize as a benchmark tool: its callbacks and how its verdict is read.

Example:
    >>> cbs = make_callbacks(ctx)          # [DeepLocalizeCallback(verbose=0)]
    >>> model.fit(x, y, callbacks=cbs)
    >>> read(ctx, cbs, record, counter)    # fills record.flagged, faulty_layer, root_cause, ...
"""

from __future__ import annotations

import copy
from pathlib import Path

DIAGNOSER_MODES = ("rules", "learned", "both")


def make_callbacks(ctx, **options) -> list:
    """A fresh `DeepLocalizeCallback` at defaults (``options`` override them)."""
    from deeplocalize import DeepLocalizeCallback

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


def read(ctx, cbs, rec, counter=None) -> None:
    """The diagnosis of the run into ``rec``; on a buggy run also the other
    diagnosers' answers, and the trace and HTML report when asked for."""
    cb = cbs[0]
    d = cb.diagnosis
    rec.flagged = d.status == "buggy"
    rec.stop_step = d.first_detection_step
    rec.diagnosis = diagnosis_summary(d)
    rec.faulty_layer, rec.root_cause = d.faulty_layer, d.root_cause
    if d.findings:
        rec.symptom = d.findings[0].kind
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

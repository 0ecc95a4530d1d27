"""From findings to a verdict: which layer, which root cause, what to change.

`diagnose` ranks the findings, picks the one that explains the run best (the
earliest error, else the strongest warning), and fills in its root cause and
fix when the check that found it left them open.
"""

from __future__ import annotations

import numpy as np

from deeplocalize.findings import Diagnosis, Finding
from deeplocalize.trace import Trace

_NUMERICAL_FIX = {
    "learning_rate": "Lower the learning rate (e.g. by 10x) or clip gradients (clipnorm=1.0).",
    "data_preprocessing": "Scale the inputs (e.g. StandardScaler, or divide images by 255) before training.",
    "loss_function": "Use a numerically stable loss: pass logits with from_logits=True instead of "
    "computing log/softmax yourself.",
    "activation": "Replace the operation that overflows (exp, log, division) at this layer with a "
    "bounded or numerically safe one.",
    "optimizer": "Check the optimizer's settings (epsilon > 0, finite learning rate), or clip gradients.",
}


def analyze(trace: Trace, config=None, diagnoser: str = "rules") -> Diagnosis:
    """Run every check over a saved trace and diagnose it (no TensorFlow needed).

    Example:
        >>> d = analyze(Trace.load("run.npz"))
        >>> d.status, d.faulty_layer
    """
    from deeplocalize.checks import numerical, preflight, trends
    from deeplocalize.config import load_config

    cfg = load_config(config)
    findings: dict[tuple, Finding] = {}

    def add(items):
        for f in items:
            findings.setdefault((f.kind, f.layer, f.detail), f)

    add(preflight.check_model(trace.meta, trace.layers, cfg))
    if trace.n_steps:
        add(preflight.check_first_batch(trace, cfg))
        for row in range(trace.n_steps):
            if numerical.has_nonfinite(trace, row):
                add([f for f in [numerical.check_nonfinite(trace, row)] if f is not None])
                break
        add(trends.run_all(trace, cfg, final=True))
    return diagnose(trace, list(findings.values()), diagnoser=diagnoser)


def diagnose(trace: Trace, findings: list[Finding], stopped_training: bool = False,
             diagnoser: str = "rules") -> Diagnosis:
    """Rank ``findings`` into a `Diagnosis` of ``trace``.

    ``diagnoser`` picks who names the root cause and layer of a buggy run:
    ``"rules"`` (the checks' decision table), ``"learned"`` (the classifier
    of `deeplocalize.learn`), or ``"both"`` (see `_merge_learned`). Whether a
    run is buggy is always decided by the checks.

    Example:
        >>> d = diagnose(cb.trace, cb.findings)
        >>> d.status
        'buggy'
    """
    findings = [_complete(trace, f) for f in findings]
    d = Diagnosis(
        findings=findings,
        stopped_training=stopped_training,
        steps_seen=trace.n_steps,
        model_name=trace.meta.get("model_name"),
    )
    d.sort()
    top = _primary(d.findings)
    if top is not None:
        d.faulty_layer = top.layer
        d.root_cause = top.root_cause
        d.suggestion = top.suggestion
    if diagnoser != "rules" and d.status == "buggy" and trace.n_steps:
        from deeplocalize.learn.predict import predict

        _merge_learned(d, predict(trace), diagnoser)
    return d


def _merge_learned(d: Diagnosis, guess: dict, diagnoser: str) -> None:
    """Combine the classifier's guess ``{"root_cause", "layer", "confidence"}``
    with the rules' verdict. ``learned`` takes the guess; ``both`` keeps the
    rules' answer for NaN/Inf errors (found directly, not inferred) and takes
    the guess otherwise when it is confident enough."""
    d.relevance["learned"] = guess
    numerical = any(f.kind in ("nan", "inf") for f in d.findings)
    if diagnoser == "both" and (numerical or guess.get("confidence", 0.0) < 0.5):
        return
    if guess.get("root_cause"):
        d.root_cause = guess["root_cause"]
    if guess.get("layer"):
        d.faulty_layer = guess["layer"]


def _primary(findings: list[Finding]) -> Finding | None:
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        return min(errors, key=lambda f: f.step if f.step is not None else -1)
    warnings_ = [f for f in findings if f.severity == "warning"]
    return warnings_[0] if warnings_ else None


def _complete(trace: Trace, f: Finding) -> Finding:
    """Fill root cause and fix of NaN/Inf findings from the evidence before them."""
    if f.kind not in ("nan", "inf") or f.root_cause is not None:
        return f
    f.root_cause = _numerical_cause(trace, f)
    if not f.suggestion:
        f.suggestion = _NUMERICAL_FIX.get(f.root_cause, "")
    return f


def _numerical_cause(trace: Trace, f: Finding) -> str:
    step = trace.row_of(f.step or 0) if trace.n_steps else 0
    if f.detail == "loss" or f.layer == "loss":
        return "loss_function"
    x_abs = [abs(v[step]) for k, v in trace.steps.items() if k.startswith("x") and k.endswith(("_min", "_max"))]
    if x_abs and np.nanmax(x_abs) > 1e3:
        return "data_preprocessing"
    if f.detail == "weight":
        return "optimizer" if _lr(trace) < 1.0 else "learning_rate"
    if step >= 2 and _growing(trace, step):
        return "learning_rate"
    return "activation"


def _lr(trace: Trace) -> float:
    lr = trace.column("lr")
    finite = lr[np.isfinite(lr)]
    return float(finite[0]) if finite.size else float("nan")


def _growing(trace: Trace, step: int) -> bool:
    """Did weights or gradients blow up in the steps before ``step``?"""
    w = np.nanmax(np.nan_to_num(trace.stat("w_norm")[:step], nan=0.0, posinf=0.0), axis=1)
    if w.size < 2 or w[0] <= 0:
        return False
    return bool(w[-1] / w[0] > 10.0)

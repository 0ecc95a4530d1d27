"""From findings to a verdict: which layer, which root cause, what to change.

`diagnose` ranks the findings, picks the one that explains the run best (the
earliest error, else the strongest warning), and fills in its root cause and
fix when the check that found it left them open.
"""

from __future__ import annotations

import numpy as np

from deeplocalize.config import load_config
from deeplocalize.findings import Diagnosis, Finding, primary_finding
from deeplocalize.monitor import Monitor
from deeplocalize.relevance import layer_relevance, most_relevant
from deeplocalize.trace import Trace
from deeplocalize.vocab import (FINDING_KIND_ROWS, NUMERICAL_KINDS, cause_row, open_layer_component,
                                verdict_component)

def analyze(trace: Trace, config=None, diagnoser: str = "rules") -> Diagnosis:
    """Run every check over a saved trace and diagnose it (no TensorFlow needed).

    Example:
        >>> d = analyze(Trace.load("run.npz"))
        >>> d.status, d.faulty_layer
    """
    monitor = Monitor.replay(trace, load_config(config))
    epochs = trace.meta.get("params", {}).get("epochs")
    stopped = bool(epochs) and len(trace.epochs) < int(epochs)
    return diagnose(trace, monitor.findings, stopped_training=stopped, diagnoser=diagnoser)


def diagnose(trace: Trace, findings: list[Finding], stopped_training: bool = False,
             diagnoser: str = "rules", predictor=None) -> Diagnosis:
    """Rank ``findings`` into a `Diagnosis` of ``trace``.

    ``diagnoser`` picks who names the root cause and layer of a buggy run:
    ``"rules"`` (the checks' decision table), ``"learned"`` (the classifier
    of `deeplocalize.learn`), or ``"both"`` (see `_merge_learned`). Whether a
    run is buggy is always decided by the checks. ``predictor`` is the
    learned diagnoser, a callable ``trace -> {"root_cause", "layer",
    "confidence"}``; by default the shipped classifier
    (`deeplocalize.learn.predict.predict`, inference only).

    Example:
        >>> d = diagnose(cb.trace, cb.findings)
        >>> d.status
        'buggy'
    """
    findings = [_complete(trace, f, findings) for f in findings]
    d = Diagnosis(
        findings=findings,
        stopped_training=stopped_training,
        steps_seen=trace.n_steps,
        model_name=trace.meta.get("model_name"),
        trace=trace,
        coverage=coverage(trace, findings),
    )
    d.sort()
    top = primary_finding(d.findings)
    if top is not None:
        # A fault outside the layers is named by its component; the layer
        # where the symptom showed stays in the finding as evidence.
        component = verdict_component(top.root_cause) if top.kind not in NUMERICAL_KINDS else None
        d.faulty_layer = component or top.layer
        d.root_cause = top.root_cause
        d.suggestion = top.suggestion
    if trace.n_steps:
        d.relevance["layers"] = layer_relevance(trace)
    if diagnoser != "rules" and d.status == "buggy" and trace.n_steps and not (
            diagnoser == "both" and _found_directly(top, d.findings)):
        if predictor is None:
            from deeplocalize.learn.predict import predict as predictor
        _merge_learned(d, predictor(trace), diagnoser)
    return d


def coverage(trace: Trace, findings: list[Finding]) -> dict:
    """What the verdict rests on: which observer watched the run, what it
    checked, which statistics it did not watch and why, and (``stopped``)
    why the run, or the part that decides the verdict, was not watched.

    A run with no recorded step, or one where the callback stopped after an
    internal error, is ``stopped``: its diagnosis is ``"unchecked"`` unless
    a problem was found before that.

    Example:
        >>> coverage(Trace(), [])["stopped"]
        'no training step was watched'
    """
    seen = dict(trace.meta.get("coverage") or {})
    failure = next((f for f in findings if f.kind == "internal_error"), None)
    stopped = None
    if failure is not None:
        stopped = failure.message
    elif trace.n_steps == 0:
        stopped = "no training step was watched"
    elif trace.meta.get("ended") is False:
        stopped = ("training has not ended (fit is still running, or it stopped with an exception), so the "
                   "end-of-run checks have not run")
    watched = seen.get("watched") or "every layer's forward values, gradients and weights"
    if trace.n_steps:
        checked = f"{trace.n_steps} recorded step{'s' if trace.n_steps != 1 else ''} ({watched})"
        if failure is not None:
            checked += ", up to where it stopped"
    else:
        checked = "the compiled model (pre-flight checks)" if trace.meta else "nothing"
    return {"observer": seen.get("observer"), "checked": checked, "not_watched": list(seen.get("not_watched", [])),
            "why": seen.get("why"), "stopped": stopped, "steps_seen": trace.n_steps}


def _found_directly(top: Finding | None, findings: list[Finding]) -> bool:
    """Whether the verdict's cause was seen, not inferred: a NaN/Inf traced
    to its layer, a leading error whose check named the cause itself, or a
    finding `read_directly` (labels that do not fit the loss, a run that
    stopped while still learning). ``both`` never lets a guess overrule those."""
    if any(f.kind in NUMERICAL_KINDS for f in findings):
        return True
    return top is not None and (top.severity == "error" and top.names_its_cause or top.read_directly)


def _merge_learned(d: Diagnosis, guess: dict, diagnoser: str) -> None:
    """Combine the classifier's guess ``{"root_cause", "layer", "confidence"}``
    with the rules' verdict. ``learned`` takes the guess; ``both`` (called only
    when the rules' cause was not `_found_directly`) takes it when it is
    confident enough."""
    d.relevance["learned"] = guess
    if diagnoser == "both" and guess.get("confidence", 0.0) < 0.5:
        return
    if guess.get("root_cause"):
        d.root_cause = guess["root_cause"]
    if guess.get("layer"):
        d.faulty_layer = guess["layer"]


# An update larger than the weights it changes overshoots (healthy updates are
# 1e-4 to 1e-1 of the weights); see update_ratio_max in defaults.yaml.
_UPDATE_RATIO_MAX = load_config()["update_ratio_max"]

def _complete(trace: Trace, f: Finding, findings: list[Finding]) -> Finding:
    """Fill in the root cause, layer and fix a check left open, from the
    other findings and the trace (a DeepDiagnosis-style decision table)."""
    if f.kind in NUMERICAL_KINDS:
        if f.root_cause is None:
            f.root_cause = _numerical_cause(trace, f, findings)
        if not f.suggestion:
            row = cause_row(f.root_cause)
            f.suggestion = row.numerical_fix if row is not None else ""
        return f
    if f.root_cause is None:
        f.root_cause, why = _symptom_cause(trace, f, findings)
        f.evidence.setdefault("root_cause_rule", why)
    if f.layer is None and f.kind != "overfitting":  # overfitting belongs to the whole model
        f.layer = _component_or_layer(trace, f)
    if not f.suggestion:
        f.suggestion = _fix(f)
    return f


def _has(findings, kind):
    return next((g for g in findings if g.kind == kind), None)


def _symptom_cause(trace: Trace, f: Finding, findings: list[Finding]) -> tuple[str, str]:
    """DeepDiagnosis-style chain: data -> a loss that does not fit -> learning rate -> weights -> the
    symptom's own cause."""
    data = _has(findings, "unnormalized_input")
    lr = _has(findings, "learning_rate_out_of_range")
    init = next((g for g in findings if g.kind == "untrainable_layer" and g.root_cause == "initialization"), None)
    if f.kind == "overfitting":
        return "architecture", "validation loss rises while training loss falls"
    if f.kind == "oscillating_loss":
        return "learning_rate", "oscillation without progress means steps overshoot"
    if data is not None and f.kind in ("initial_loss_high", "dying_relu", "saturated_activation",
                                       "exploding_activation", "exploding_gradient", "vanishing_gradient",
                                       "weights_unchanged", "loss_not_decreasing", "accuracy_not_increasing"):
        return "data_preprocessing", "inputs are far from normalized (pre-flight)"
    if f.kind == "initial_loss_high":  # seen before the first update: not the learning rate
        return "initialization", "inputs are in scale, so the initial weights make the first predictions extreme"
    mismatch = next((g for g in findings if g.kind == "loss_activation_mismatch" and g.severity != "info"
                     and g.root_cause), None)
    if mismatch is not None and f.kind in ("loss_not_decreasing", "accuracy_not_increasing"):
        f.layer = f.layer or mismatch.layer
        return mismatch.root_cause, f"the loss does not fit the output or the labels ('{mismatch.layer}', pre-flight)"
    if lr is not None:
        return "learning_rate", "the learning rate is outside the optimizer's usual range (pre-flight)"
    if init is not None:
        return "initialization", "a hidden layer starts with a constant kernel (pre-flight)"
    if f.kind != "overfitting" and _max_early_update_ratio(trace) > _UPDATE_RATIO_MAX:
        return "learning_rate", (f"an early update was {_max_early_update_ratio(trace):.3g}x the size of the "
                                 "weights: the steps overshoot")
    if f.kind in ("exploding_gradient", "exploding_activation"):
        return "learning_rate", "values grow step after step: each update overshoots"
    if f.kind == "dying_relu":
        if _early_update_ratio(trace) > 0.1:
            return "learning_rate", "large early updates pushed ReLU units into the dead zone"
        return "activation", "ReLU units stay at zero for every input"
    if f.kind == "saturated_activation":
        return "activation", "sigmoid/tanh units sit in their flat tails"
    if f.kind == "vanishing_gradient":
        if (then := _lr(trace, f)) < 1e-5:
            return "learning_rate", _tiny_lr(trace, then)
        return "activation", "gradients shrink on their way back through squashing activations"
    if f.kind == "weights_unchanged":
        if (then := _lr(trace, f)) < 1e-5:
            return "learning_rate", _tiny_lr(trace, then)
        return "optimizer", "the optimizer makes no progress although gradients flow"
    if f.kind in ("loss_not_decreasing", "accuracy_not_increasing"):
        layer = most_relevant(trace)
        if layer is not None:
            info = trace.layers[trace.layer_index(layer)]
            if info.is_output:
                return "activation", f"the output layer '{layer}' is the most anomalous layer"
            return "activation", f"layer '{layer}' is the most anomalous layer"
        if _early_update_ratio(trace) < 1e-5:
            return "learning_rate", "updates are tiny relative to the weights"
        squashing = _squashing_hidden_layer(trace)
        if squashing is not None:
            f.layer = f.layer or squashing.name
            return "activation", (f"no layer is anomalous, but hidden layer '{squashing.name}' squashes with "
                                  f"{squashing.activation}: stacked saturating units learn slowly or stall")
        return "optimizer", "no layer is anomalous; the optimization itself does not progress"
    return "architecture", "no more specific rule applies"


def _squashing_hidden_layer(trace: Trace):
    """The first hidden feed-forward layer with a sigmoid or tanh activation
    (recurrent layers' gates are meant to squash), or None."""
    for info in trace.layers:
        if not info.is_output and info.activation in ("sigmoid", "tanh", "hard_sigmoid") \
                and not info.class_name.endswith(("RNN", "LSTM", "GRU")):
            return info
    return None


def _component_or_layer(trace: Trace, f: Finding) -> str | None:
    return open_layer_component(f.root_cause) or most_relevant(trace)


def _fix(f: Finding) -> str:
    row = cause_row(f.root_cause)
    fix = row.fix if row is not None else ""
    kind = FINDING_KIND_ROWS[f.kind]
    if f.root_cause == "activation" and f.layer and kind.activation_fix:
        fix = kind.activation_fix.format(layer=f.layer)
    return fix


def _max_early_update_ratio(trace: Trace) -> float:
    r = trace.stat("update_ratio")[: max(1, min(10, trace.n_steps))]
    r = r[np.isfinite(r)]
    return float(np.max(r)) if r.size else 0.0


def _early_update_ratio(trace: Trace) -> float:
    r = trace.stat("update_ratio")[: max(1, min(10, trace.n_steps))]
    r = r[np.isfinite(r)]
    return float(np.median(r)) if r.size else float("nan")


def _numerical_cause(trace: Trace, f: Finding, findings: list[Finding]) -> str | None:
    step = trace.row_of(f.step or 0) if trace.n_steps else 0
    if _has(findings, "learning_rate_out_of_range") is not None:
        return "learning_rate"
    if f.evidence.get("observer") == "outside":  # only the loss and weights were seen
        return "learning_rate" if step >= 2 and _growing(trace, step) else None
    if f.detail == "loss" or f.layer == "loss":
        return "loss_function"
    x_abs = [abs(v[step]) for k, v in trace.steps.items() if k.startswith("x") and k.endswith(("_min", "_max"))]
    x_abs = [v for v in x_abs if not np.isnan(v)]  # NaN: the inputs' range was not read on that step
    if x_abs and max(x_abs) > 1e3:
        return "data_preprocessing"
    if f.detail == "weight":
        return "optimizer" if _lr(trace) < 1.0 else "learning_rate"
    if step >= 2 and _growing(trace, step):
        return "learning_rate"
    return "activation"


def _lr(trace: Trace, f: Finding | None = None) -> float:
    """The learning rate when ``f`` was seen (the median from its step on: a
    schedule may have decayed it), else the first one."""
    lr = trace.column("lr")
    if f is not None and f.step is not None and trace.n_steps:
        lr = lr[trace.row_of(f.step):]
        finite = lr[np.isfinite(lr)]
        return float(np.median(finite)) if finite.size else float("nan")
    finite = lr[np.isfinite(lr)]
    return float(finite[0]) if finite.size else float("nan")


def _tiny_lr(trace: Trace, then: float) -> str:
    """Why the rate ``then`` (at the symptom) is tiny: set so, or decayed by a schedule."""
    start = _lr(trace)
    if start >= 1e3 * then:
        return f"the learning-rate schedule had decayed the rate from {start:.3g} to {then:.3g}"
    return "the learning rate is tiny"


def _growing(trace: Trace, step: int) -> bool:
    """Did weights or gradients blow up in the steps before ``step``?"""
    w = np.nanmax(np.nan_to_num(trace.stat("w_norm")[:step], nan=0.0, posinf=0.0), axis=1)
    if w.size < 2 or w[0] <= 0:
        return False
    return bool(w[-1] / w[0] > 10.0)

"""Pre-flight checks: what is wrong before training has a chance to go wrong.

`check_model` reads the compiled model's facts (the trace's ``meta`` and
layer list); `check_first_batch` adds the first real training batch (input
range, label format). Both are pure functions returning `Finding`s.
"""

from __future__ import annotations

import math

import numpy as np

from deeplocalize.checks.chance import check_initial_loss
from deeplocalize.checks.structure import model_outputs, structure_checks
from deeplocalize.findings import Finding
from deeplocalize.trace import LayerInfo, Trace
from deeplocalize.vocab import ID_DTYPES, NORMALIZERS, OUTPUT_RANGE, RELU_LIKE

CATEGORICAL = {"categorical_crossentropy", "categorical_focal_crossentropy", "kl_divergence", "kld",
               "kullback_leibler_divergence", "poisson"}
SPARSE = {"sparse_categorical_crossentropy"}
BINARY = {"binary_crossentropy", "binary_focal_crossentropy"}
HINGE = {"hinge", "squared_hinge", "categorical_hinge"}
REGRESSION = {"mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
              "mean_squared_logarithmic_error", "huber", "log_cosh", "logcosh", "cosine_similarity"}
PROBABILITY_OUT = {"softmax", "sigmoid"}
ABSOLUTE = {"mean_absolute_error", "mean_absolute_percentage_error"}  # gradients of one size, whatever the error
_LR_RANGE = {  # optimizer: (too low, too high); outside it the step is rarely useful
    "SGD": (1e-5, 1.0),
    "Adam": (1e-6, 0.05),
    "AdamW": (1e-6, 0.05),
    "Nadam": (1e-6, 0.05),
    "Adamax": (1e-6, 0.1),
    "RMSprop": (1e-6, 0.05),
    "Adagrad": (1e-5, 1.0),
    "Adadelta": (1e-4, 10.0),
    "Ftrl": (1e-5, 1.0),
    "Lion": (1e-7, 0.01),
}


def check_model(meta: dict, layers: list[LayerInfo], config: dict) -> list[Finding]:
    """Findings from the compiled model alone, before any step runs.

    Example:
        >>> check_model(trace.meta, trace.layers, load_config())[0].kind
        'loss_activation_mismatch'
    """
    findings: list[Finding] = []
    for name, act, units, loss in model_outputs(meta):
        findings += _loss_activation(name, act, units, loss.get("name"), bool(loss.get("from_logits")))
    findings += _learning_rate(meta)
    findings += _optimizer_settings(meta, config)
    findings += _untrainable(meta, layers)
    findings += structure_checks(meta, layers)
    return findings


def _mismatch(layer, message, suggestion, severity="error", cause="activation", **evidence) -> Finding:
    return Finding(kind="loss_activation_mismatch", layer=layer, root_cause=cause, severity=severity,
                   step=0, epoch=0, message=message, suggestion=suggestion, evidence=evidence)


def _loss_activation(layer, act, units, loss, from_logits) -> list[Finding]:
    ev = {"output_activation": act, "output_units": units, "loss": loss, "from_logits": from_logits}
    if act == "softmax" and units == 1:
        return [_mismatch(
            layer, f"Layer '{layer}' applies softmax to a single unit: its output is always 1.0, so the model "
            "predicts the same for every example, whatever it learns (a loss computed from the logits may still fall).",
            f"Use activation='sigmoid' on '{layer}' for a binary target (with binary_crossentropy), or "
            "'linear' for regression.", **ev)]
    if loss is None:
        return []
    if from_logits and act in PROBABILITY_OUT:
        return [_mismatch(
            layer, f"The loss expects logits (from_logits=True) but layer '{layer}' already applies {act}: "
            "probabilities are squashed twice and gradients shrink.",
            f"Remove the {act} from '{layer}' (activation='linear') or set from_logits=False.",
            severity="warning", cause="loss_function", **ev)]
    if loss in CATEGORICAL | SPARSE and not from_logits:
        if act in ("linear", None, "relu", "tanh", "elu", "softplus", "leaky_relu", "selu"):
            return [_mismatch(
                layer, f"{loss} expects probabilities, but layer '{layer}' outputs '{act}' values that are "
                "not a probability distribution.",
                f"Use activation='softmax' on '{layer}' (or keep it linear and pass from_logits=True to the loss).",
                **ev)]
        if act == "sigmoid" and units and units > 1 and loss != "poisson":
            return [_mismatch(
                layer, f"{loss} treats the {units} outputs of '{layer}' as one distribution, but sigmoid "
                "outputs do not sum to 1.",
                f"Use activation='softmax' on '{layer}' for mutually exclusive classes.",
                severity="warning", **ev)]
    if loss in BINARY and not from_logits:
        if act in ("linear", None, "relu", "tanh", "elu", "leaky_relu", "selu"):
            return [_mismatch(
                layer, f"binary_crossentropy expects probabilities in [0, 1], but layer '{layer}' outputs "
                f"'{act}' values.",
                f"Use activation='sigmoid' on '{layer}' (or pass from_logits=True to the loss).", **ev)]
    if loss in REGRESSION and act == "softmax":
        return [_mismatch(
            layer, f"Layer '{layer}' applies softmax but is trained with {loss}, a regression loss: the "
            "outputs are forced to sum to 1, which fits neither regression nor independent labels.",
            f"For classes use softmax with categorical_crossentropy; for several independent labels use "
            f"sigmoid with binary_crossentropy; for regression use a linear '{layer}'.",
            severity="warning", **ev)]
    return []


def _learning_rate(meta: dict) -> list[Finding]:
    lr, opt = meta.get("learning_rate"), meta.get("optimizer")
    if lr is None or not isinstance(lr, (int, float)) or math.isnan(lr):
        return []
    low, high = _LR_RANGE.get(opt, (1e-7, 1.0))
    ev = {"optimizer": opt, "learning_rate": lr, "usual_range": [low, high]}
    # An info, not a warning: an unusual rate that trains well is not a bug;
    # when symptoms appear, the diagnosis blames them on it.
    if lr > high:
        side, effect = "above", "updates are likely to overshoot and diverge."
        fix = f"Lower the learning rate to about {min(high, 0.01 if opt == 'SGD' else 1e-3):g}."
    elif lr < low:
        side, effect = "below", "the weights will barely move."
        fix = f"Raise the learning rate to about {1e-3 if opt != 'SGD' else 0.01:g}."
    else:
        return []
    return [Finding(
        kind="learning_rate_out_of_range", layer="optimizer", root_cause="learning_rate",
        severity="info", step=0, epoch=0, evidence=ev,
        message=f"The learning rate {lr:g} is far {side} the usual range for {opt} ({low:g} to {high:g}): {effect}",
        suggestion=fix)]


def _optimizer_settings(meta: dict, config: dict) -> list[Finding]:
    """A note worth verifying (a default Adam is tried) for an optimizer
    setting far from where it works: an epsilon that dwarfs typical
    gradient scales in an adaptive optimizer, momentum of 1 or more (it never
    forgets a step), or weight decay that shrinks the weights by more than
    ``weight_decay_per_step_max`` of their size each step."""
    opt, cfg, lr = meta.get("optimizer"), meta.get("optimizer_config") or {}, meta.get("learning_rate")
    eps, momentum, decay = cfg.get("epsilon"), cfg.get("momentum"), cfg.get("weight_decay")
    found = []
    if isinstance(eps, (int, float)) and eps >= config["optimizer_epsilon_max"] and opt not in ("SGD", "Adadelta"):
        found.append((f"epsilon={eps:g}", f"{opt} divides each step by the gradients' running size plus epsilon; "
                      f"at {eps:g} epsilon dwarfs typical gradients, so the steps shrink to a crawl",
                      f"Leave epsilon at its default ({opt}(epsilon=1e-7))."))
    if isinstance(momentum, (int, float)) and momentum >= 1.0:
        found.append((f"momentum={momentum:g}", "momentum of 1 or more never forgets a step: the velocity keeps "
                      "growing instead of averaging the recent gradients", "Use a momentum below 1, e.g. 0.9."))
    if isinstance(decay, (int, float)) and isinstance(lr, (int, float)) and decay * lr >= config["weight_decay_per_step_max"]:
        found.append((f"weight_decay={decay:g}", f"each step shrinks every weight by {decay * lr:.2g} of its size "
                      "(weight_decay x learning rate), pulling the model back to zero faster than it learns",
                      "Use a weight decay of about 1e-4 to 1e-2 (AdamW's default is 0.004)."))
    return [Finding(
        kind="optimizer_setting", layer="optimizer", root_cause="optimizer", severity="info", step=0, epoch=0,
        evidence={"optimizer": opt, "setting": setting, "learning_rate": lr}, message=f"{opt}({setting}): {why}.",
        suggestion=fix) for setting, why, fix in found]


def _untrainable(meta: dict, layers: list[LayerInfo]) -> list[Finding]:
    findings = []
    if meta.get("n_params", 0) > 0 and meta.get("n_trainable_params", 1) == 0:  # None: not known yet
        findings.append(Finding(
            kind="untrainable_layer", layer=None, root_cause="training_config", severity="error",
            step=0, epoch=0, evidence={"n_params": meta.get("n_params")},
            message="No weight of the model is trainable: training cannot change anything.",
            suggestion="Set layer.trainable = True on the layers to train (then compile again)."))
    weighted = [l for l in layers if l.n_params > 0 and l.kernel_initializer]
    for layer in weighted[:-1]:  # a zero-initialised last layer is fine (e.g. logistic regression)
        if layer.kernel_initializer in ("Zeros", "Constant", "Ones") and layer.trainable:
            findings.append(Finding(
                kind="untrainable_layer", layer=layer.name, root_cause="initialization",
                severity="error" if layer.activation in RELU_LIKE else "warning", step=0, epoch=0,
                evidence={"kernel_initializer": layer.kernel_initializer, "activation": layer.activation},
                message=f"Layer '{layer.name}' starts with a {layer.kernel_initializer} kernel: all its units "
                "start identical and receive identical updates, so they can never learn different features"
                + (" (and a zero ReLU layer passes no gradient at all)." if layer.kernel_initializer == "Zeros" else "."),
                suggestion=f"Use a random initializer on '{layer.name}', e.g. kernel_initializer='glorot_uniform' "
                "(or 'he_normal' for ReLU layers)."))
    return findings


# ---- the first batch -----------------------------------------------------------------
def _first(trace: Trace, key: str) -> float:
    values = trace.steps.get(key)
    return float(values[0]) if values is not None and len(values) else math.nan


def check_first_batch(trace: Trace, config: dict) -> list[Finding]:
    """Findings from the first training batch: labels that do not fit the loss
    or the output's range, inputs far from normalized, and a first loss far
    above a uniform guess's. A finding whose evidence ``refines`` an output
    layer replaces `check_model`'s finding of its kind at that layer (what the
    labels show decides between causes the model alone left open).

    Example:
        >>> [f.kind for f in check_first_batch(trace, load_config())]
        ['invalid_labels']
    """
    if trace.n_steps == 0:
        return []
    findings = []
    outputs = model_outputs(trace.meta)
    for k, (name, act, units, loss) in enumerate(outputs):
        if f"y{k}_min" not in trace.steps:
            continue
        findings += _labels(trace, k, name, act, units, loss.get("name"), bool(loss.get("from_logits")), config)
    return findings + _inputs(trace, config) + check_initial_loss(trace, config)


def _labels(trace, k, layer, act, units, loss, from_logits, config) -> list[Finding]:
    y_min, y_max = _first(trace, f"y{k}_min"), _first(trace, f"y{k}_max")
    int_frac, rowsum = _first(trace, f"y{k}_int_frac"), _first(trace, f"y{k}_rowsum")
    width = _first(trace, f"y{k}_width")
    ev = {"label_min": y_min, "label_max": y_max, "label_width": width, "loss": loss,
          "output_activation": act, "output_units": units}
    integer = int_frac >= 1.0
    one_hot = integer and width > 1 and y_min >= 0 and y_max <= 1 and abs(rowsum - 1.0) < 1e-3

    def labels(message, suggestion, cause="labels", severity="error"):
        return [Finding(kind="invalid_labels", layer="labels", root_cause=cause, severity=severity, step=0,
                        epoch=0, message=message, suggestion=suggestion, evidence=ev)]

    if loss in SPARSE:
        if not integer or y_min < 0:
            return labels("sparse_categorical_crossentropy needs integer class ids, but the labels are "
                          f"not whole numbers >= 0 (min {y_min:g}, max {y_max:g}).",
                          "Pass class ids 0..K-1 (e.g. np.argmax(one_hot, axis=1)).")
        if units and y_max == units and y_min >= 1:  # 1..K: counted from 1
            return labels(f"The labels run from {y_min:g} to {y_max:g}, but the output's {units} units are classes "
                          f"0..{units - 1}: the class ids look counted from 1.",
                          f"Subtract 1 from the labels (y - 1) so that they run 0..{units - 1}; if there really are "
                          f"{units + 1} classes, give '{layer}' {units + 1} units.")
        if units and y_max >= units:
            return labels(f"A label is {y_max:g} but the output has only {units} units (classes 0..{units - 1}).",
                          f"Give '{layer}' as many units as there are classes ({int(y_max) + 1}), or re-index the labels.")
    if loss in CATEGORICAL and loss != "poisson":
        if not one_hot and width <= 1 and integer and y_max > 1:
            return labels(f"{loss} needs one-hot labels, but the labels are integer class ids (max {y_max:g}).",
                          "Use loss='sparse_categorical_crossentropy', or one-hot encode the labels "
                          "(keras.utils.to_categorical).")
        if y_min < 0 or y_max > 1:
            return labels(f"{loss} needs labels in [0, 1] (one-hot or probabilities), but they range from "
                          f"{y_min:g} to {y_max:g}.", "One-hot encode the labels (keras.utils.to_categorical).")
    if loss in BINARY and (y_min < 0 or y_max > 1):
        return labels(f"binary_crossentropy needs labels in [0, 1], but they range from {y_min:g} to {y_max:g}.",
                      "Map the labels to 0/1 (e.g. y = (y == positive_class)); for several classes use "
                      "softmax with categorical_crossentropy.")
    if loss in BINARY and one_hot and act == "sigmoid" and units and units > 2 and not from_logits:
        return [Finding(
            kind="loss_activation_mismatch", layer=layer, root_cause="activation", severity="warning",
            step=0, epoch=0, evidence=ev,
            message=f"The labels are one-hot (exactly one of {units} classes per example), but '{layer}' uses "
            f"sigmoid with {loss}, which scores each class as an independent yes/no: the loss is dominated by "
            "the easy 'no's and the classes do not compete.",
            suggestion=f"Use activation='softmax' on '{layer}' with categorical_crossentropy for mutually "
            "exclusive classes.")]
    rng = OUTPUT_RANGE.get(act)
    if rng is not None and loss in REGRESSION:
        lo, hi = rng
        tol = 1e-6
        if y_min < lo - tol or y_max > hi + tol:
            return [_out_of_range(trace, k, layer, act, lo, hi, y_min, y_max, ev, config)]
    if loss in REGRESSION and one_hot and act == "softmax" and units and units > 1:
        return [Finding(
            kind="loss_activation_mismatch", layer="loss", root_cause="loss_function", severity="warning",
            step=0, epoch=0, evidence={**ev, "refines": layer},
            message=f"The labels are one-hot classes and '{layer}' applies softmax, but the loss is {loss}, a "
            "regression loss: its gradients through the softmax are weak, so learning is slow and can stall.",
            suggestion="Use loss='categorical_crossentropy' (the softmax output stays).")]
    if loss in REGRESSION and one_hot and act not in ("softmax",) and units and units > 1:
        return [Finding(
            kind="loss_activation_mismatch", layer="loss", root_cause="loss_function", severity="warning",
            step=0, epoch=0, evidence=ev,
            message=f"The labels are one-hot classes but the loss is {loss}, a regression loss: "
            "gradients are weak and accuracy plateaus.",
            suggestion="Use softmax with categorical_crossentropy for classes.")]
    if loss in ABSOLUTE and integer and width <= 1 and y_min == 0 and y_max == 1:
        return [Finding(
            kind="loss_activation_mismatch", layer="loss", root_cause="loss_function", severity="warning",
            step=0, epoch=0, evidence=ev,
            message=f"The labels are binary (0 and 1) but the loss is {loss}: its gradient has the same size "
            "however wrong a prediction is, and through a saturating output it vanishes, so training tends to "
            "stall at the majority class.",
            suggestion=f"Use activation='sigmoid' on '{layer}' with loss='binary_crossentropy' for 0/1 labels.")]
    return []


def _out_of_range(trace, k, layer, act, lo, hi, y_min, y_max, ev, config) -> Finding:
    """Targets outside the output activation's range. An error, unless the
    part out of reach is measured and small: below 0 under a [0, inf) output
    (relu, softplus), the first batch's mean of min(y, 0)^2 is the least
    squared error those targets leave, and when that floor is under
    ``output_range_floor_share`` of the targets' variance, a note worth
    verifying (a few negative targets under a relu; or a first batch that
    shows too few of them)."""
    evidence = {**ev, "output_range": [lo, hi]}
    floor, sq, mean = (_first(trace, f"y{k}_{c}") for c in ("neg_sq", "sq", "mean"))
    variance = sq - mean * mean
    share = floor / variance if lo == 0 and hi == math.inf and variance > 0 and math.isfinite(floor) else math.nan
    suggestion = f"Use a linear output on '{layer}' for regression (or scale the targets into [{lo:g}, {hi:g}])."
    if share < config["output_range_floor_share"]:
        return Finding(
            kind="loss_activation_mismatch", layer=layer, root_cause="activation", severity="info", step=0,
            epoch=0, evidence={**evidence, "floor": floor, "variance": variance, "floor_share": share},
            message=f"Some targets are below 0 (down to {y_min:g}), where '{layer}' ({act}) cannot reach: on the "
            f"first batch they leave a squared error of at least {floor:.3g}, {100 * share:.0f}% of the targets' "
            "variance: a cap on the fit, which the trials measure (a linear output is tried).", suggestion=suggestion)
    return Finding(
        kind="loss_activation_mismatch", layer=layer, root_cause="activation", severity="error", step=0, epoch=0,
        evidence=evidence, suggestion=suggestion,
        message=f"The targets range from {y_min:g} to {y_max:g}, but '{layer}' uses {act}, which can only "
        f"output values in [{lo:g}, {hi:g}]: the loss can never reach zero.")


def _features(trace: Trace) -> list[int]:
    """The inputs whose scale matters, by index: the batch's (``x{k}_*``
    columns), less those the model declares integer (``keras.Input(dtype=
    "int64")``: token or category ids, known where the batch's inputs line up
    with the model's)."""
    n = 0
    while f"x{n}_min" in trace.steps:
        n += 1
    dtypes = trace.meta.get("input_dtypes") or []
    ids = {i for i, d in enumerate(dtypes) if d.startswith(ID_DTYPES)} if len(dtypes) == n else set()
    return [k for k in range(n) if k not in ids]


def _inputs(trace: Trace, config: dict) -> list[Finding]:
    first = trace.layers[0] if trace.layers else None
    if first is not None and first.class_name in NORMALIZERS:
        return []
    limit = config["input_abs_max"]
    worst, offset, evidence = 0.0, None, {}
    for k in _features(trace):
        lo, hi = _first(trace, f"x{k}_min"), _first(trace, f"x{k}_max")
        mean, std = _first(trace, f"x{k}_mean"), _first(trace, f"x{k}_std")
        evidence.update({f"x{k}_min": lo, f"x{k}_max": hi, f"x{k}_std": std})
        if np.isfinite(lo) and np.isfinite(hi):
            worst = max(worst, abs(lo), abs(hi))
        if abs(mean) > max(1.0, config["input_offset_ratio"] * std) and std > 0 and offset is None:
            offset, evidence[f"x{k}_mean"] = (mean, std), mean
    if 0.0 < worst < config["input_abs_min"]:
        return [Finding(
            kind="unnormalized_input", layer="data", root_cause="data_preprocessing", severity="info",
            step=0, epoch=0, evidence={**evidence, "limit": config["input_abs_min"]},
            message=f"Input values are at most {worst:.3g} in magnitude: far below unit scale, so the first "
            "layer's outputs start tiny and its weights must grow a long way before the model learns (pixels "
            "divided by 255 twice reach 0.004).",
            suggestion="Standardize the inputs (sklearn StandardScaler, or a keras.layers.Normalization first "
            "layer); scale image pixels once, by 255.")]
    if worst <= limit and offset is not None:
        return [Finding(
            kind="unnormalized_input", layer="data", root_cause="data_preprocessing", severity="info",
            step=0, epoch=0, detail="offset", evidence={**evidence, "ratio": config["input_offset_ratio"]},
            message=f"Input values sit at {offset[0]:.4g} +- {offset[1]:.3g} (mean and standard deviation of the "
            f"first batch): what tells the examples apart is {100 * offset[1] / abs(offset[0]):.2g}% of a shared "
            "offset, which the first layer's units all see alike.",
            suggestion="Standardize the inputs (sklearn StandardScaler, or a keras.layers.Normalization first "
            "layer): subtract the mean, not only divide by a scale.")]
    if worst <= limit:
        return []
    severity = "warning" if worst > config["input_abs_max_warning"] else "info"
    return [Finding(
        kind="unnormalized_input", layer="data", root_cause="data_preprocessing", severity=severity,
        step=0, epoch=0, evidence={**evidence, "limit": limit},
        message=f"Input values reach {worst:g} in magnitude: far from normalized, which saturates "
        "activations and makes the loss surface badly conditioned.",
        suggestion="Standardize the inputs (sklearn StandardScaler, or a keras.layers.Normalization "
        "first layer); divide image pixels by 255.")]

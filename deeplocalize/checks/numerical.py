"""NaN and Inf: found on the step they first appear, at the first layer.

The search follows the order in which values are computed in one training
step: the input batch, the weights the step starts from (a non-finite weight
there was produced by the previous step's update), the forward pass (layer by
layer), the loss, and the backward pass (from the loss down to the first
layer: each layer's weight gradient, then the gradient it passes down). The
first non-finite value in that order names the layer that produced it.

``row`` arguments index the trace's rows; findings carry the global training
step (the trace's ``step`` column), which differs once sampling starts.
"""

from __future__ import annotations

import numpy as np

from deeplocalize.findings import Finding
from deeplocalize.trace import STAT_INDEX, Trace

_A_NAN, _A_INF = STAT_INDEX["act_nan"], STAT_INDEX["act_inf"]
_G_NAN, _G_INF = STAT_INDEX["grad_nan"], STAT_INDEX["grad_inf"]
_GW_NAN, _GW_INF = STAT_INDEX["gw_nan"], STAT_INDEX["gw_inf"]
_W_NAN, _W_INF = STAT_INDEX["w_nan"], STAT_INDEX["w_inf"]


def has_nonfinite(trace: Trace, step: int) -> bool:
    """Cheap test run every step: is anything NaN or Inf at this step?"""
    row = trace.layer_stats[step]
    counts = row[:, [_A_NAN, _A_INF, _G_NAN, _G_INF, _GW_NAN, _GW_INF, _W_NAN, _W_INF]]
    if np.nansum(counts) > 0:
        return True
    loss = trace.column("loss")[step]
    return bool(np.isnan(loss) or np.isinf(loss)) or _input_nonfinite(trace, step) is not None


# Finite outputs this large overflow float32 in a loss that squares or sums them (the square of
# 1.8e19 is float32's largest value; a batch's sum of squares gets there from about 1e17).
OVERFLOWING_OUTPUT = 1e15


def check_nonfinite(trace: Trace, step: int) -> Finding | None:
    """The first NaN/Inf of trace row ``step``, as one error finding, or None.

    Example:
        >>> f = check_nonfinite(trace, 41)
        >>> f.kind, f.layer, f.detail, f.step
        ('nan', 'divide', 'activation', 41)
    """
    if not has_nonfinite(trace, step):
        return None
    row_index = step
    row = trace.layer_stats[row_index]
    names = trace.layer_names
    epoch = _epoch(trace, row_index)
    step = _global_step(trace, row_index)

    bad_input = _input_nonfinite(trace, row_index)
    if bad_input is not None:
        return Finding(
            kind=bad_input,
            layer="data",
            detail="input",
            severity="error",
            step=step,
            epoch=epoch,
            root_cause="data_preprocessing",
            message=f"The training batch at step {step} contains {bad_input.upper()} values.",
            suggestion="Clean the data before training: drop or impute missing values "
            "(e.g. np.nan_to_num or SimpleImputer) and check for divisions by zero in preprocessing.",
            evidence=_input_evidence(trace, row_index),
        )

    for i in range(len(names)):  # weights the forward pass started from
        kind = _kind(row[i, _W_NAN], row[i, _W_INF])
        if kind:
            return _finding(
                kind, names[i], "weight", max(step - 1, 0), epoch,
                f"The weights of layer '{names[i]}' became {kind.upper()} in the optimizer update of "
                f"step {max(step - 1, 0)}, although every value of that step was finite: the update "
                "itself overflowed.",
                {"nan_count": row[i, _W_NAN], "inf_count": row[i, _W_INF],
                 "update_ratio_before": _last_finite(trace.stat("update_ratio")[:row_index, i])},
            )

    for i in range(len(names)):  # forward pass, in execution order
        kind = _kind(row[i, _A_NAN], row[i, _A_INF])
        if kind == "nan" and i == 0 and _input_unseen(trace, row_index) and \
                trace.layers[0].class_name in FINITE_LAYERS and not _grew_large(trace, row_index):
            return Finding(
                kind=kind, layer="data", detail="input", severity="error", step=step, epoch=epoch,
                root_cause="data_preprocessing",
                message=f"{kind.upper()} first appeared in the output of '{names[0]}', the first layer, at step "
                f"{step}, from finite weights. The batch itself was not inspected on that step (watched from "
                f"outside the step), but a {trace.layers[0].class_name} layer makes NaN of finite inputs only "
                "by overflowing, and its outputs never came near that: the batch most likely holds NaN values.",
                suggestion="Check the data for missing values (e.g. np.isnan(x).any()) and drop or impute them "
                "(np.nan_to_num, SimpleImputer); check for divisions by zero in preprocessing.",
                evidence={"nan_count": _num(row[0, _A_NAN]), "inf_count": _num(row[0, _A_INF]),
                          "batch_inspected": False})
        if kind:
            before = f"layer '{names[i - 1]}'" if i else "the input batch"
            unread = i and np.isnan(row[i - 1, _A_NAN])
            return _finding(
                kind, names[i], "activation", step, epoch,
                f"{kind.upper()} first appeared in the output of layer '{names[i]}' at step {step} "
                + (f"(forward pass); the output of {before} before it was not read on this run (see the "
                   "coverage), so it may have begun there." if unread else
                   f"(forward pass); its input from {before} was finite."),
                {"nan_count": row[i, _A_NAN], "inf_count": row[i, _A_INF],
                 "act_max": row[i, STAT_INDEX["act_max"]], "act_min": row[i, STAT_INDEX["act_min"]]},
            )

    loss = trace.column("loss")[row_index]
    last = len(names) - 1
    coverage = trace.meta.get("coverage") or {}
    unseen = any("forward" in what for what in coverage.get("not_watched", []))
    if not np.isfinite(loss) and unseen:
        kind = "nan" if np.isnan(loss) else "inf"
        return Finding(
            kind=kind, layer=None, detail="loss", severity="error", step=step, epoch=epoch,
            message=f"The loss became {kind.upper()} at step {step}. The layers' outputs and gradients were "
            f"not watched on this run ({coverage.get('why')}), so the layer where it began is not known.",
            suggestion="To have the layer and tensor named, rerun a few steps where the in-step probes can "
            "watch: the TensorFlow backend, Keras's own train step, compiled, on one device.",
            evidence={"loss": loss, "observer": "outside"},
        )
    if not np.isfinite(loss):
        kind = "nan" if np.isnan(loss) else "inf"
        size = max(abs(row[last, STAT_INDEX["act_min"]]), abs(row[last, STAT_INDEX["act_max"]])) \
            if last >= 0 else np.nan
        if size >= OVERFLOWING_OUTPUT:  # NaN-safe: False for a size not recorded
            return _finding(
                kind, names[last], "loss", step, epoch,
                f"The loss became {kind.upper()} at step {step}: the output of '{names[last]}' had grown to "
                f"{size:.3g}, so large that the loss overflowed (every layer's output was still finite).",
                {"loss": loss, "output_abs_max": size},
            )
        return _finding(
            kind, "loss", "loss", step, epoch,
            f"The loss became {kind.upper()} at step {step} although every layer's output was finite: "
            "the loss function itself produced it.",
            {"loss": loss},
        )

    if last >= 0:
        kind = _kind(row[last, _G_NAN], row[last, _G_INF])
        if kind:
            return _finding(
                kind, "loss", "output_gradient", step, epoch,
                f"The gradient of the loss with respect to the model output ('{names[last]}') is "
                f"{kind.upper()} at step {step}, although the loss was finite.",
                {"nan_count": row[last, _G_NAN], "inf_count": row[last, _G_INF]},
            )
    for i in range(last, -1, -1):  # backward pass, from the loss down
        kind = _kind(row[i, _GW_NAN], row[i, _GW_INF])
        if kind:
            return _finding(
                kind, names[i], "weight_gradient", step, epoch,
                f"The gradient of layer '{names[i]}''s weights is {kind.upper()} at step {step} "
                "(backward pass), while every gradient above it was finite.",
                {"nan_count": row[i, _GW_NAN], "inf_count": row[i, _GW_INF]},
            )
        if i > 0:
            kind = _kind(row[i - 1, _G_NAN], row[i - 1, _G_INF])
            if kind:
                return _finding(
                    kind, names[i], "output_gradient", step, epoch,
                    f"{kind.upper()} first appeared in the backward pass of layer '{names[i]}' at step "
                    f"{step}: the gradient it received was finite, the gradient it passed down to "
                    f"'{names[i - 1]}' is {kind.upper()}.",
                    {"nan_count": row[i - 1, _G_NAN], "inf_count": row[i - 1, _G_INF],
                     "gradient_wrt_output_of": names[i - 1],
                     "received_gradient_norm": row[i, STAT_INDEX["grad_norm"]]},
                )

    return None


def _kind(nan_count, inf_count) -> str | None:
    if nan_count > 0:
        return "nan"
    if inf_count > 0:
        return "inf"
    return None


def _finding(kind, layer, detail, step, epoch, message, evidence) -> Finding:
    return Finding(
        kind=kind, layer=layer, detail=detail, severity="error", step=step, epoch=epoch,
        message=message, evidence={k: _num(v) for k, v in evidence.items()},
    )


def _num(value):
    if isinstance(value, (np.floating, float)):
        return float(value)
    return value


def _global_step(trace: Trace, row: int) -> int:
    value = trace.column("step")[row]
    return row if np.isnan(value) else int(value)


def _epoch(trace: Trace, step: int):
    epoch = trace.column("epoch")[step]
    return None if np.isnan(epoch) else int(epoch)


def _input_nonfinite(trace: Trace, step: int) -> str | None:
    # A step watched from outside has its batch's statistics on its first row
    # only: there a NaN means "not recorded", told apart by a missing batch size.
    sizes = trace.steps.get("batch_size")
    if sizes is not None and not np.isfinite(sizes[step]):
        return None
    for key, values in trace.steps.items():
        if key.startswith("x") and key.endswith(("_min", "_max", "_mean")):
            v = values[step]
            if np.isnan(v):
                return "nan"
            if np.isinf(v):
                return "inf"
    return None


# Layers that compute finite outputs from finite inputs and weights, short of an overflow (which makes
# Inf first); a first layer outside this set (a Lambda's log, a custom layer) can make NaN of itself.
FINITE_LAYERS = frozenset((
    "Dense", "EinsumDense", "Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D",
    "DepthwiseConv2D", "Conv1DTranspose", "Conv2DTranspose", "Embedding", "Flatten", "Reshape", "Dropout",
    "BatchNormalization", "LayerNormalization", "Normalization", "Rescaling", "MaxPooling1D", "MaxPooling2D",
    "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "LSTM", "GRU", "SimpleRNN"))


def _input_unseen(trace: Trace, step: int) -> bool:
    """Whether the batch of row ``step`` was not inspected (watched from outside, past the first batch)."""
    sizes = trace.steps.get("batch_size")
    return sizes is None or not np.isfinite(sizes[step])


def _grew_large(trace: Trace, row: int) -> bool:
    """Whether the first layer's output was ever near overflowing before row ``row``."""
    seen = np.abs(trace.layer_stats[:row, 0, [STAT_INDEX["act_min"], STAT_INDEX["act_max"]]])
    return bool(np.nanmax(seen, initial=0.0) >= OVERFLOWING_OUTPUT)


def _input_evidence(trace: Trace, step: int) -> dict:
    return {k: float(v[step]) for k, v in trace.steps.items() if k.startswith("x")}


def _last_finite(values):
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else None

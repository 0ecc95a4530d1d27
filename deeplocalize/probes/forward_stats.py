"""The statistics of one layer output on a recorded step, as one float32 vector.

Example:
    >>> stats = _reduce(outputs, "relu", 0.01)     # one value per FORWARD_STATS name
    >>> dict(zip(FORWARD_STATS, keras.ops.convert_to_numpy(stats)))["act_dead_frac"]
    0.0
"""

from __future__ import annotations

from deeplocalize.probes.torch_ops import ops_for

# The statistics of one output, in this order (names as in `LAYER_STATS`).
FORWARD_STATS = ("act_nan", "act_inf", "act_min", "act_max", "act_mean", "act_mean_abs", "act_zero_frac",
                 "act_dead_frac", "act_sat_frac")


def _reduce(a, activation, eps):
    """`FORWARD_STATS` of one output, as one float32 vector (keras.ops, or
    the same calls in torch: `deeplocalize.probes.torch_ops`)."""
    ops = ops_for(a)
    a = ops.cast(a, "float32")
    finite = ops.isfinite(a)
    safe = ops.where(finite, a, ops.zeros_like(a))
    nan, inf = ops.sum(ops.cast(ops.isnan(a), "float32")), ops.sum(ops.cast(ops.isinf(a), "float32"))
    size = ops.cast(ops.size(a), "float32")
    zero = ops.sum(ops.cast(ops.equal(a, 0.0), "float32")) / size
    if len(a.shape) >= 2:
        axes = tuple(range(len(a.shape) - 1))
        dead = ops.mean(ops.cast(ops.logical_and(ops.max(a, axis=axes) == 0.0, ops.min(a, axis=axes) == 0.0),
                                 "float32"))
    else:
        dead = ops.convert_to_tensor(float("nan"))
    if activation in ("sigmoid", "hard_sigmoid"):
        sat = ops.mean(ops.cast(ops.logical_or(a < eps, a > 1.0 - eps), "float32"))
    elif activation in ("tanh", "softsign", "hard_tanh"):
        sat = ops.mean(ops.cast(ops.abs(a) > 1.0 - eps, "float32"))
    elif activation == "softmax" and len(a.shape) >= 2:
        sat = ops.mean(ops.cast(ops.max(a, axis=-1) > 1.0 - eps, "float32"))
    else:
        sat = ops.convert_to_tensor(float("nan"))
    values = [nan, inf, ops.min(a), ops.max(a), ops.mean(safe), ops.mean(ops.abs(safe)), zero, dead, sat]
    return ops.stack([ops.cast(ops.reshape(v, ()), "float32") for v in values])

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
    """`FORWARD_STATS` of one output, as one float32 vector: torch's own
    calls one by one (`deeplocalize.probes.torch_ops`), or `keras.ops` in
    few reductions (`_fused`)."""
    if type(a).__module__.startswith("torch"):
        return _one_by_one(a, activation, eps)
    return _fused(a, activation, eps)


def _fused(a, activation, eps):
    """`_reduce` with `keras.ops` in two reductions: the sums over one stack of
    the elementwise terms, and the extremes per unit over ``[a, -a]``. Under
    XLA (JAX) each stack fuses into its reduction, and a recorded step
    compiles in a fraction of the time separate reductions took (each
    becomes a kernel of its own)."""
    import keras

    ops = keras.ops
    a = ops.cast(a, "float32")
    flat = ops.reshape(a, (-1,))
    size = ops.cast(ops.size(flat), "float32")
    safe = ops.where(ops.isfinite(flat), flat, ops.zeros_like(flat))
    terms = [ops.isnan(flat), ops.isinf(flat), safe, ops.abs(safe), ops.equal(flat, 0.0)]
    if activation in ("sigmoid", "hard_sigmoid"):
        terms.append(ops.logical_or(flat < eps, flat > 1.0 - eps))
    elif activation in ("tanh", "softsign", "hard_tanh"):
        terms.append(ops.abs(flat) > 1.0 - eps)
    sums = ops.sum(ops.stack([ops.cast(t, "float32") for t in terms]), axis=1)
    nan = ops.convert_to_tensor(float("nan"))
    if len(a.shape) >= 2:
        per_unit = ops.max(ops.stack([a, -a]), axis=tuple(range(1, len(a.shape))))  # (2, units): max, -min
        top, bottom = ops.max(per_unit[0]), -ops.max(per_unit[1])
        dead = ops.mean(ops.cast(ops.logical_and(per_unit[0] == 0.0, per_unit[1] == 0.0), "float32"))
    else:
        extremes = ops.max(ops.stack([flat, -flat]), axis=1)
        top, bottom, dead = extremes[0], -extremes[1], nan
    if len(terms) == 6:
        sat = sums[5] / size
    elif activation == "softmax" and len(a.shape) >= 2:
        sat = ops.mean(ops.cast(ops.max(a, axis=-1) > 1.0 - eps, "float32"))
    else:
        sat = nan
    values = [sums[0], sums[1], bottom, top, sums[2] / size, sums[3] / size, sums[4] / size, dead, sat]
    return ops.stack([ops.cast(ops.reshape(v, ()), "float32") for v in values])


def _one_by_one(a, activation, eps):
    """`_reduce` as one call per statistic (eager torch: a stack would copy the output)."""
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

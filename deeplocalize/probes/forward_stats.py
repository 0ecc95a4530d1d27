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
    """`FORWARD_STATS` of one output, as one float32 vector: on JAX in one
    pass (`_fused`), on PyTorch in a few (`_torch`); elsewhere one call per
    statistic (`keras.ops`)."""
    module = type(a).__module__
    if module.startswith("jax"):
        return _fused(a, activation, eps)
    if module.startswith("torch"):
        return _torch(a, activation, eps)
    return _one_by_one(a, activation, eps)


def _fused(a, activation, eps):
    """`_reduce` on JAX: one variadic ``lax.reduce`` over the batch axes gives,
    per unit, the sums of the elementwise terms and the largest of ``a`` and
    of ``-a``; what is left works on one value per unit. XLA fuses the terms
    into that one reduction, so a recorded step reads each output once and
    compiles one kernel for it where separate reductions compiled one each
    (with the weight and gradient sums done alike, a digits autoencoder's
    recorded step went from 118 kernels and 1.1 s of compilation to 72 and
    0.6 s; a stack of the terms instead copied them, which slowed recorded
    steps on larger outputs)."""
    import jax

    jnp, lax = jax.numpy, jax.lax
    a = a.astype(jnp.float32)
    units = a.reshape(-1, a.shape[-1]) if a.ndim >= 2 else a.reshape(-1, 1)
    safe = jnp.where(jnp.isfinite(units), units, 0.0)
    terms = [jnp.isnan(units), jnp.isinf(units), safe, jnp.abs(safe), units == 0.0]
    if activation in ("sigmoid", "hard_sigmoid"):
        terms.append((units < eps) | (units > 1.0 - eps))
    elif activation in ("tanh", "softsign", "hard_tanh"):
        terms.append(jnp.abs(units) > 1.0 - eps)
    k = len(terms)

    def add_and_max(x, y):
        return tuple(x[i] + y[i] for i in range(k)) + tuple(lax.max(x[i], y[i]) for i in range(k, k + 2))

    zero, low = jnp.float32(0), jnp.float32(-jnp.inf)
    per_unit = lax.reduce(tuple(t.astype(jnp.float32) for t in terms) + (units, -units),
                          (zero,) * k + (low,) * 2, add_and_max, (0,))
    dead_units = ((per_unit[k] == 0.0) & (per_unit[k + 1] == 0.0)).astype(jnp.float32)
    # over the units, in one more reduction: the sums, the extremes, and the dead units' count
    total = lax.reduce(per_unit + (dead_units,), (zero,) * k + (low,) * 2 + (zero,),
                       lambda x, y: add_and_max(x[:-1], y[:-1]) + (x[-1] + y[-1],), (0,))
    size = jnp.float32(units.size)
    nan = jnp.float32(jnp.nan)
    dead = total[k + 2] / jnp.float32(units.shape[1]) if a.ndim >= 2 else nan
    if k == 6:
        sat = total[5] / size
    elif activation == "softmax" and a.ndim >= 2:
        sat = jnp.mean((jnp.max(a, axis=-1) > 1.0 - eps).astype(jnp.float32))
    else:
        sat = nan
    values = [total[0], total[1], -total[k + 1], total[k], total[2] / size, total[3] / size, total[4] / size, dead, sat]
    return jnp.stack([jnp.reshape(v, ()).astype(jnp.float32) for v in values])


def _torch(a, activation, eps):
    """`_reduce` on PyTorch (eager) in about five passes over the output where
    one call per statistic takes twenty: its sum first, read on the host (a
    finite sum means no NaN or Inf, so nothing needs masking; the step's
    statistics are copied to the host layer by layer anyway), then each
    unit's minimum and maximum together, the sum of magnitudes, the zeros."""
    import torch

    a = a.detach().float()
    units = a.reshape(-1, a.shape[-1]) if a.dim() >= 2 else a.reshape(-1, 1)
    size = float(units.numel())
    total = units.sum()
    if bool(torch.isfinite(total)):
        zero_t = torch.zeros((), dtype=torch.float32, device=a.device)
        nan = inf = zero_t
        safe = units
    else:
        nan, inf = torch.isnan(units).sum().float(), torch.isinf(units).sum().float()
        safe = torch.nan_to_num(units, nan=0.0, posinf=0.0, neginf=0.0)
        total = safe.sum()
    low, high = torch.aminmax(units, dim=0)
    dead = ((low == 0.0) & (high == 0.0)).float().mean() if a.dim() >= 2 else torch.tensor(float("nan"))
    sat = _saturated_share(ops_for(a), a, activation, eps)
    values = [nan, inf, low.min(), high.max(), total / size, torch.linalg.vector_norm(safe, ord=1) / size,
              (units == 0.0).sum() / size, dead, sat]
    return torch.stack([v.reshape(()).to(device=a.device, dtype=torch.float32) for v in values])


def _one_by_one(a, activation, eps):
    """`_reduce` as one call per statistic (`keras.ops`, or torch's own calls)."""
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
    sat = _saturated_share(ops, a, activation, eps)
    values = [nan, inf, ops.min(a), ops.max(a), ops.mean(safe), ops.mean(ops.abs(safe)), zero, dead, sat]
    return ops.stack([ops.cast(ops.reshape(v, ()), "float32") for v in values])


def _saturated_share(ops, a, activation, eps):
    """The share of ``a`` (float32) in the flat tails of ``activation`` (for a
    softmax, of the examples whose largest output is within ``eps`` of 1), with
    ``ops`` (`keras.ops`, or `deeplocalize.probes.torch_ops`); NaN for an
    activation without tails."""
    if activation in ("sigmoid", "hard_sigmoid"):
        return ops.mean(ops.cast(ops.logical_or(a < eps, a > 1.0 - eps), "float32"))
    if activation in ("tanh", "softsign", "hard_tanh"):
        return ops.mean(ops.cast(ops.abs(a) > 1.0 - eps, "float32"))
    if activation == "softmax" and len(a.shape) >= 2:
        return ops.mean(ops.cast(ops.max(a, axis=-1) > 1.0 - eps, "float32"))
    return ops.convert_to_tensor(float("nan"))

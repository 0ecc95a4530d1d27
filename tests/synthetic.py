"""Hand-made traces for testing checks without TensorFlow."""

from __future__ import annotations

import numpy as np

from deeplocalize.trace import LAYER_STATS, STAT_INDEX, LayerInfo, Trace


def make_trace(n_steps=100, layers=(("dense", "relu"), ("out", "softmax")), loss=None, steps=None,
               epochs=None, meta=None, **stats) -> Trace:
    """A trace of healthy-looking values; override any statistic.

    ``stats`` maps a LAYER_STATS name to an array ``(n_steps, n_layers)`` or a
    ``{layer_index: 1-d array or scalar}`` dict.
    """
    infos = [LayerInfo(name=n, class_name="Dense", index=i, activation=a, n_params=100,
                       kernel_initializer="GlorotUniform", is_output=(i == len(layers) - 1))
             for i, (n, a) in enumerate(layers)]
    L = len(infos)
    rng = np.random.default_rng(0)
    data = np.zeros((n_steps, L, len(LAYER_STATS)))
    base = {
        "act_min": 0.0, "act_max": 3.0, "act_mean": 0.5, "act_mean_abs": 0.5, "act_zero_frac": 0.4,
        "act_dead_frac": 0.05, "act_sat_frac": np.nan, "grad_norm": 0.1, "w_norm": 5.0, "gw_norm": 0.5,
        "update_ratio": 1e-3,
    }
    for name, value in base.items():
        data[:, :, STAT_INDEX[name]] = value
    data[:, :, STAT_INDEX["gw_norm"]] *= 1 + 0.1 * rng.random((n_steps, L))
    for name, value in stats.items():
        idx = STAT_INDEX[name]
        if isinstance(value, dict):
            for i, v in value.items():
                data[:, i, idx] = v
        else:
            data[:, :, idx] = value
    if loss is None:
        loss = 2.3 * np.exp(-np.arange(n_steps) / 40) + 0.05 * rng.random(n_steps)
    cols = {"step": np.arange(n_steps, dtype=float), "epoch": np.zeros(n_steps), "loss": np.asarray(loss, float),
            "batch_size": np.full(n_steps, 32.0)}
    cols.update(steps or {})
    return Trace(layers=infos, layer_stats=data, steps=cols, epochs=list(epochs or []), meta=dict(meta or {}))

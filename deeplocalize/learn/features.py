"""Fixed-length features of a `Trace`, for the learned diagnoser (numpy only).

Two views:

- `run_features(trace)`: one vector per run: pre-flight facts (loss,
  optimizer, learning rate, output activation, input and label ranges of the
  first batch), the loss/accuracy curves (level, trend, noise, NaN) and every
  per-layer statistic summarised over time (first, last, max, trend) and over
  layers (max, min, first layer, output layer).
- `layer_features(trace, cause)`: one vector per candidate layer: its
  position and kind, its own summaries and their gap to the other layers',
  plus the (true or predicted) root cause. It ranks which layer is at fault.

Every value is finite: a missing statistic (NaN) becomes ``MISSING`` and an
infinite one ``±BIG``, so any scikit-learn model takes them. Deterministic:
the same trace always gives the same vector.

Example:
    >>> names, x = run_features(Trace.load("run.npz"))
    >>> len(names) == len(x) == len(RUN_FEATURE_NAMES)
    True
"""

from __future__ import annotations

import math

import numpy as np

from deeplocalize.trace import STAT_INDEX, Trace
from deeplocalize.vocab import LAYER_KINDS, accuracy_key, layer_kind, loss_name

MISSING = -99.0
BIG = 99.0

# per-layer statistics summarised over time; how each is put on a usable scale
_SIGNED_LOG = ("act_min", "act_max", "act_mean", "act_mean_abs")
_LOG_NORM = ("grad_norm", "w_norm", "gw_norm", "update_ratio")
_FRACTION = ("act_zero_frac", "act_dead_frac", "act_sat_frac")
SUMMARY_STATS = _SIGNED_LOG + _LOG_NORM + _FRACTION
TIME_SUMMARIES = ("first", "last", "max", "trend")
LAYER_AGGS = ("max", "min", "first", "out")
_NONFINITE_GROUPS = {
    "act": ("act_nan", "act_inf"),
    "grad": ("grad_nan", "grad_inf"),
    "w": ("w_nan", "w_inf"),
    "gw": ("gw_nan", "gw_inf"),
}

LOSS_KINDS = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
              "mean_squared_error", "mean_absolute_error", "hinge", "poisson",
              "mean_squared_logarithmic_error", "kl_divergence", "other")
OPTIMIZERS = ("adam", "sgd", "rmsprop", "adagrad", "adadelta", "nadam", "adamax", "other")
ACTIVATIONS = ("softmax", "sigmoid", "linear", "relu", "tanh", "exponential", "elu", "other")


def _slog(x):
    x = np.asarray(x, dtype=float)
    with np.errstate(all="ignore"):
        return np.sign(x) * np.log10(1.0 + np.abs(x))


def _lognorm(x):
    x = np.asarray(x, dtype=float)
    with np.errstate(all="ignore"):
        return np.log10(np.abs(x) + 1e-12)


def _clean(v) -> float:
    v = float(v)
    if math.isnan(v):
        return MISSING
    if math.isinf(v):
        return BIG if v > 0 else -BIG
    return float(min(max(v, -BIG), BIG))


def _transformed(trace: Trace) -> dict[str, np.ndarray]:
    """Each summary statistic, scaled, shape (n_steps, n_layers); inf -> NaN."""
    out = {}
    for name in SUMMARY_STATS:
        v = trace.layer_stats[:, :, STAT_INDEX[name]].astype(float)
        v = np.where(np.isfinite(v), v, np.nan)
        if name in _SIGNED_LOG:
            v = _slog(v)
        elif name in _LOG_NORM:
            v = _lognorm(v)
        out[name] = v
    return out


def _time_summaries(v: np.ndarray) -> np.ndarray:
    """(n_steps, n_layers) -> (4, n_layers): first, last, max and trend over finite rows."""
    n_layers = v.shape[1]
    res = np.full((len(TIME_SUMMARIES), n_layers), np.nan)
    for j in range(n_layers):
        col = v[:, j]
        ok = np.flatnonzero(np.isfinite(col))
        if ok.size == 0:
            continue
        k = max(1, ok.size // 10)
        first = float(np.mean(col[ok[:k]]))
        last = float(np.mean(col[ok[-k:]]))
        res[:, j] = (first, last, float(np.max(col[ok])), last - first)
    return res


# Losses that share one feature value.
_LOSS_GROUPS = {"kld": "kl_divergence", "kullback_leibler_divergence": "kl_divergence",
                "squared_hinge": "hinge", "categorical_hinge": "hinge"}


def _onehot(value, choices, prefix) -> dict[str, float]:
    value = value if value in choices else "other"
    return {f"{prefix}={c}": float(value == c) for c in choices}


def _loss_kind(name) -> str:
    name = loss_name(name or "")
    name = _LOSS_GROUPS.get(name, name)
    return name if name in LOSS_KINDS else "other"


def _act_name(a) -> str:
    a = (a or "linear").lower()
    return a if a in ACTIVATIONS else "other"


def _curve(values: np.ndarray, prefix: str, log: bool) -> dict[str, float]:
    """Level, trend, noise and NaN facts of one per-step curve."""
    v = np.asarray(values, dtype=float)
    n = v.size
    f = {}
    bad = ~np.isfinite(v)
    f[f"{prefix}_present"] = float(n > 0 and not np.all(np.isnan(v)))
    f[f"{prefix}_nonfinite"] = float(bad.any())
    f[f"{prefix}_first_nonfinite_at"] = float(np.argmax(bad) / max(n - 1, 1)) if bad.any() else 2.0
    ok = v[~bad]
    if ok.size == 0:
        for k in ("first", "last", "min", "max", "trend", "rel_drop", "noise", "up_frac", "flat", "early_trend"):
            f[f"{prefix}_{k}"] = np.nan
        return f
    t = _slog(ok) if log else ok
    k = max(1, ok.size // 10)
    first, last = float(np.mean(t[:k])), float(np.mean(t[-k:]))
    f[f"{prefix}_first"] = first
    f[f"{prefix}_last"] = last
    f[f"{prefix}_min"] = float(np.min(t))
    f[f"{prefix}_max"] = float(np.max(t))
    f[f"{prefix}_trend"] = last - first
    raw_first, raw_last = float(np.mean(ok[:k])), float(np.mean(ok[-k:]))
    f[f"{prefix}_rel_drop"] = (raw_first - raw_last) / (abs(raw_first) + 1e-12)
    d = np.diff(t)
    scale = np.abs(t).mean() + 1e-12
    f[f"{prefix}_noise"] = float(np.std(d) / scale) if d.size else 0.0
    f[f"{prefix}_up_frac"] = float(np.mean(d > 0)) if d.size else 0.0
    f[f"{prefix}_flat"] = float(np.ptp(ok) <= 1e-6 * (abs(ok).max() + 1e-12))
    half = max(1, ok.size // 3)
    f[f"{prefix}_early_trend"] = float(np.mean(t[half: 2 * half]) - first) if ok.size >= 3 else 0.0
    return f


def _first_col(trace: Trace, name: str) -> float:
    col = trace.column(name)
    ok = col[np.isfinite(col)]
    return float(ok[0]) if ok.size else np.nan


def _meta_features(trace: Trace) -> dict[str, float]:
    meta = trace.meta or {}
    f: dict[str, float] = {}
    losses = meta.get("loss") or [{}]
    loss = losses[0] if isinstance(losses[0], dict) else {"name": str(losses[0])}
    lk = _loss_kind(loss.get("name"))
    f.update(_onehot(lk, LOSS_KINDS, "loss"))
    f["from_logits"] = float(bool(loss.get("from_logits")))
    f.update(_onehot(str(meta.get("optimizer", "")).lower(), OPTIMIZERS, "opt"))
    lr = meta.get("learning_rate", np.nan)
    try:
        lr = float(lr)
    except (TypeError, ValueError):
        lr = np.nan
    lr_col = _first_col(trace, "lr")
    lr = lr_col if np.isfinite(lr_col) else lr
    f["log_lr"] = float(np.log10(lr)) if np.isfinite(lr) and lr > 0 else np.nan
    cfg = meta.get("optimizer_config") or {}
    f["opt_momentum"] = float(cfg.get("momentum") or 0.0)
    eps = cfg.get("epsilon")
    f["opt_log_epsilon"] = float(np.log10(eps)) if isinstance(eps, (int, float)) and eps > 0 else np.nan
    f["opt_beta_1"] = float(cfg.get("beta_1", np.nan) if cfg.get("beta_1") is not None else np.nan)
    f["opt_clip"] = float(cfg.get("clipnorm") is not None or cfg.get("clipvalue") is not None)
    acts = meta.get("output_activations") or [None]
    out_act = _act_name(acts[0] if acts else None)
    f.update(_onehot(out_act, ACTIVATIONS, "out_act"))
    shapes = meta.get("output_shapes") or [[None, 1]]
    units = shapes[0][-1] if shapes and shapes[0] and shapes[0][-1] is not None else 1
    f["out_units_log"] = float(np.log2(max(int(units), 1)))
    f["out_units_is1"] = float(int(units) == 1)
    f["n_params_log"] = float(np.log10(max(float(meta.get("n_trainable_params") or 0), 1.0)))
    f["n_layers"] = float(len(trace.layers))
    params = meta.get("params") or {}
    f["log_epochs"] = float(np.log10(max(float(params.get("epochs") or 1), 1.0)))
    f["log_steps_per_epoch"] = float(np.log10(max(float(params.get("steps") or 1), 1.0)))
    f["log_total_steps"] = f["log_epochs"] + f["log_steps_per_epoch"]
    # consistency of labels, output and loss: the pre-flight facts of the first batch
    ymin, ymax = _first_col(trace, "y0_min"), _first_col(trace, "y0_max")
    yint, ysum = _first_col(trace, "y0_int_frac"), _first_col(trace, "y0_rowsum")
    f["y_min"], f["y_max"] = float(_slog(ymin)), float(_slog(ymax))
    f["y_int_frac"], f["y_rowsum"] = yint, float(_slog(ysum))
    f["y_out_of_unit"] = float((ymin < -1e-6) or (ymax > 1 + 1e-6)) if np.isfinite(ymin) and np.isfinite(ymax) else np.nan
    f["y_max_ge_units"] = float(ymax >= units) if np.isfinite(ymax) and units > 1 else 0.0
    f["y_onehot_like"] = float(units > 1 and abs(ysum - 1) < 1e-3) if np.isfinite(ysum) else np.nan
    f["y_negative"] = float(ymin < -1e-6) if np.isfinite(ymin) else np.nan
    classif = lk in LOSS_KINDS[:3] or lk == "hinge"
    f["loss_is_classification"] = float(classif)
    f["mismatch_softmax_1unit"] = float(out_act == "softmax" and units == 1)
    f["mismatch_cce_1unit"] = float(lk == "categorical_crossentropy" and units == 1)
    f["mismatch_ce_no_prob"] = float(classif and lk != "hinge" and out_act not in ("softmax", "sigmoid")
                                     and not loss.get("from_logits"))
    f["mismatch_regression_squash"] = float(lk in ("mean_squared_error", "mean_absolute_error")
                                            and out_act in ("sigmoid", "softmax", "tanh", "relu"))
    # the input's range on the first batch
    for stat in ("min", "max", "mean", "std"):
        f[f"x_{stat}"] = float(_slog(_first_col(trace, f"x0_{stat}")))
    xmax = max(abs(_first_col(trace, "x0_min")), abs(_first_col(trace, "x0_max")))
    f["x_absmax_log"] = float(np.log10(xmax + 1e-12)) if np.isfinite(xmax) else np.nan
    return f


def _global_stat_features(trace: Trace) -> dict[str, float]:
    f: dict[str, float] = {}
    n_layers = len(trace.layers)
    tr = _transformed(trace)
    weighted = [i for i, layer in enumerate(trace.layers) if layer.n_params > 0] or list(range(n_layers))
    first_w = weighted[0] if weighted else 0
    out_i = n_layers - 1
    for stat in SUMMARY_STATS:
        summ = _time_summaries(tr[stat]) if n_layers else np.full((len(TIME_SUMMARIES), 0), np.nan)
        for ti, tname in enumerate(TIME_SUMMARIES):
            row = summ[ti]
            ok = row[np.isfinite(row)]
            f[f"{stat}.{tname}.max"] = float(ok.max()) if ok.size else np.nan
            f[f"{stat}.{tname}.min"] = float(ok.min()) if ok.size else np.nan
            f[f"{stat}.{tname}.first"] = float(row[first_w]) if n_layers else np.nan
            f[f"{stat}.{tname}.out"] = float(row[out_i]) if n_layers else np.nan
    n = max(trace.n_steps, 1)
    for group, names in _NONFINITE_GROUPS.items():
        counts = sum(np.nan_to_num(trace.layer_stats[:, :, STAT_INDEX[s]], nan=0.0) for s in names) \
            if n_layers and trace.n_steps else np.zeros((0, 0))
        hit = counts > 0
        any_hit = bool(hit.any())
        f[f"nonfinite_{group}"] = float(any_hit)
        if any_hit:
            rows, cols = np.nonzero(hit)
            r0 = rows.min()
            f[f"nonfinite_{group}_at"] = float(r0 / max(n - 1, 1))
            f[f"nonfinite_{group}_layer_pos"] = float(cols[rows == r0].min() / max(n_layers - 1, 1))
        else:
            f[f"nonfinite_{group}_at"] = 2.0
            f[f"nonfinite_{group}_layer_pos"] = -1.0
    # depth profile of gradients: vanishing towards the input?
    g = _time_summaries(tr["grad_norm"])[0] if n_layers else np.array([])
    ok = np.isfinite(g)
    f["grad_depth_ratio"] = float(g[ok][0] - g[ok][-1]) if ok.sum() >= 2 else 0.0
    return f


def run_feature_dict(trace: Trace) -> dict[str, float]:
    """Named run-level features of ``trace`` (finite floats, fixed key order).

    Example:
        >>> run_feature_dict(trace)["loss_trend"]
        -0.4
    """
    f: dict[str, float] = {}
    f.update(_meta_features(trace))
    f.update(_curve(trace.column("loss"), "loss", log=True))
    acc_name = accuracy_key(trace.steps)
    f.update(_curve(trace.column(acc_name) if acc_name else np.full(trace.n_steps, np.nan), "acc", log=False))
    f["loss_first_raw"] = float(_slog(_first_col(trace, "loss")))
    f["n_steps_log"] = float(np.log10(max(trace.n_steps, 1)))
    f.update(_global_stat_features(trace))
    return {k: _clean(v) for k, v in f.items()}


def _names() -> list[str]:
    from deeplocalize.trace import LayerInfo

    empty = Trace(layers=[LayerInfo(name="d", class_name="Dense", index=0, n_params=2)],
                  layer_stats=np.full((1, 1, len(STAT_INDEX)), np.nan), steps={"loss": np.array([1.0])})
    return list(run_feature_dict(empty))


RUN_FEATURE_NAMES: list[str] = _names()


def run_features(trace: Trace) -> tuple[list[str], np.ndarray]:
    """``(names, vector)`` of run-level features, always in `RUN_FEATURE_NAMES` order.

    Example:
        >>> names, x = run_features(trace); x.dtype
        dtype('float64')
    """
    d = run_feature_dict(trace)
    return RUN_FEATURE_NAMES, np.array([d.get(k, MISSING) for k in RUN_FEATURE_NAMES], dtype=float)


# ---- per-layer view ------------------------------------------------------------------------------
CAUSES = ("learning_rate", "activation", "loss_function", "initialization", "data_preprocessing",
          "labels", "optimizer", "architecture", "training_config")


def candidate_layers(trace: Trace) -> list[int]:
    """Layers that can be at fault: those with weights or an activation.

    Example:
        >>> [trace.layers[i].name for i in candidate_layers(trace)]
        ['dense_1', 'dense_2', 'output']
    """
    out = [i for i, layer in enumerate(trace.layers)
           if layer.n_params > 0 or layer_kind(layer.class_name) == "activation"
           or (layer.activation not in (None, "linear"))]
    return out or list(range(len(trace.layers)))


def layer_features(trace: Trace, cause: str | None) -> tuple[list[str], np.ndarray, list[int]]:
    """``(names, matrix, layer_indices)``: one row per candidate layer.

    Example:
        >>> names, X, idx = layer_features(trace, "activation")
        >>> X.shape == (len(idx), len(names))
        True
    """
    n_layers = len(trace.layers)
    cand = candidate_layers(trace)
    tr = _transformed(trace)
    summ = {s: _time_summaries(tr[s]) for s in SUMMARY_STATS}
    weighted = [i for i, layer in enumerate(trace.layers) if layer.n_params > 0]
    hits = {}
    for group, names_ in _NONFINITE_GROUPS.items():
        counts = sum(np.nan_to_num(trace.layer_stats[:, :, STAT_INDEX[s]], nan=0.0) for s in names_)
        hits[group] = counts > 0
    rows, names = [], None
    for rank, i in enumerate(cand):
        layer = trace.layers[i]
        f: dict[str, float] = {}
        f["rel_pos"] = i / max(n_layers - 1, 1)
        f["cand_rank"] = rank / max(len(cand) - 1, 1)
        f["is_output"] = float(i == n_layers - 1 or layer.is_output)
        f["is_last_candidate"] = float(rank == len(cand) - 1)
        f["is_first_weighted"] = float(bool(weighted) and i == weighted[0])
        f["is_last_weighted"] = float(bool(weighted) and i == weighted[-1])
        f["next_is_activation"] = float(i + 1 < n_layers and layer_kind(trace.layers[i + 1].class_name) == "activation")
        f["n_params_log"] = float(np.log10(max(layer.n_params, 1)))
        f.update(_onehot(layer_kind(layer.class_name), LAYER_KINDS, "kind"))
        f.update(_onehot(_act_name(layer.activation), ACTIVATIONS, "act"))
        init = (layer.kernel_initializer or "").lower()
        f["init_zeros"] = float("zeros" in init)
        f["init_constant"] = float("constant" in init)
        f["init_normal"] = float("normal" in init and "glorot" not in init and "he" not in init)
        for s in SUMMARY_STATS:
            for ti, tname in enumerate(TIME_SUMMARIES):
                row = summ[s][ti]
                v = row[i]
                f[f"{s}.{tname}"] = v
                others = np.delete(row[cand], rank) if len(cand) > 1 else np.array([])
                others = others[np.isfinite(others)]
                f[f"{s}.{tname}.gap"] = float(v - np.median(others)) if others.size and np.isfinite(v) else np.nan
        for group, h in hits.items():
            first_row = h.any(axis=1)
            if first_row.any():
                r0 = int(np.argmax(first_row))
                layers_hit = np.flatnonzero(h[r0])
                f[f"nonfinite_{group}_here"] = float(i in layers_hit)
                f[f"nonfinite_{group}_first_here"] = float(i == layers_hit.min())
            else:
                f[f"nonfinite_{group}_here"] = 0.0
                f[f"nonfinite_{group}_first_here"] = 0.0
        f.update({f"cause={c}": float(cause == c) for c in CAUSES})
        f = {k: _clean(v) for k, v in f.items()}
        names = names or list(f)
        rows.append([f[k] for k in names])
    if names is None:
        names = LAYER_FEATURE_NAMES
    return names, np.array(rows, dtype=float).reshape(len(rows), len(names)), cand


def _layer_names() -> list[str]:
    from deeplocalize.trace import LayerInfo

    empty = Trace(layers=[LayerInfo(name="d", class_name="Dense", index=0, n_params=2)],
                  layer_stats=np.full((1, 1, len(STAT_INDEX)), np.nan), steps={"loss": np.array([1.0])})
    names, _, _ = layer_features(empty, None)
    return names


LAYER_FEATURE_NAMES: list[str] = []
LAYER_FEATURE_NAMES = _layer_names()

"""Trend checks: symptoms that need a window of steps, one function each.

Every check is a pure function ``(trace, config) -> list[Finding]``. They
use medians over windows of ``config["window"]`` recorded steps (robust to
one noisy batch), never exact float equality on a single batch, and report
the step where the evidence window starts. Root causes are left to
`deeplocalize.diagnosis` unless the check itself knows them.
"""

from __future__ import annotations

import numpy as np

from deeplocalize.checks.chance import chance_loss, is_regression, label_variance, late_loss_drop, started_trained
from deeplocalize.checks.windows import _enough, _epoch, _ev, _finite, _last_window, _rolling_medians, _step, _weighted
from deeplocalize.findings import Finding
from deeplocalize.trace import Trace
from deeplocalize.vocab import HARMLESS_WHEN_LEARNING, SQUASHING, ZERO_OUTPUT, accuracy_key



def run_all(trace: Trace, config: dict, final: bool = False, epoch_end: bool = False) -> list[Finding]:
    """Every trend check over ``trace``.

    Example:
        >>> [f.kind for f in run_all(trace, load_config(), final=True)]
        ['dying_relu', 'loss_not_decreasing']
    """
    findings: list[Finding] = []
    for check in CHECKS:
        findings += check(trace, config)
    gain = _loss_gain(trace, config)
    if gain is not None and gain >= config["learning_well_gain"] and not _no_better_than_mean(trace, config):
        for f in findings:
            if f.kind in HARMLESS_WHEN_LEARNING and f.severity == "warning":
                f.severity = "info"
                f.evidence["loss_gain"] = round(float(gain), 4)
                f.message += f" The loss nevertheless fell by {100 * gain:.0f}%, so this has not stopped learning."
    return findings


def _no_better_than_mean(trace: Trace, config: dict) -> bool:
    """The last window's loss is still ``mean_baseline_fraction`` of the labels'
    variance or more (a regression on mean squared error): a loss that fell
    only that far was learned by the output's bias (the labels' mean), which
    dead units and vanishing gradients leave free to learn."""
    labels = label_variance(trace)
    loss = _finite(trace.column("loss"))
    if labels is None or loss.size < config["window"]:
        return False
    return float(np.median(loss[-config["window"]:])) >= config["mean_baseline_fraction"] * labels[0]


def _loss_gain(trace: Trace, config: dict) -> float | None:
    """Relative fall of the windowed loss from the first window to the last."""
    loss = _finite(trace.column("loss"))
    w = config["window"]
    if loss.size < 2 * w:
        return None
    first, last = np.median(loss[:w]), np.median(loss[-w:])
    if first <= 0:
        return None
    return float((first - last) / first)


# ---- loss and accuracy ---------------------------------------------------------------------
def check_loss_not_decreasing(trace: Trace, config: dict) -> list[Finding]:
    """The batch loss has not fallen by ``loss_min_improvement`` (relative)
    between the first window and the best later window, or it is exactly
    constant over a whole window (the output does not depend on the weights).
    A flat loss while accuracy rises by ``accuracy_learning_gain`` is only
    a note: the model learns, slowly."""
    loss = trace.column("loss")
    w = config["window"]
    finite = _finite(loss)
    if finite.size < w or np.nanmedian(np.abs(finite)) <= config["loss_converged"]:
        return []
    tail = loss[-w:]
    if np.all(np.isfinite(tail)) and np.ptp(tail) == 0.0 and trace.n_steps >= w:
        start = trace.n_steps - w
        return [Finding(
            kind="loss_not_decreasing", layer=None, severity="error", step=_step(trace, start),
            epoch=_epoch(trace, start), detail="constant",
            message=f"The loss is exactly {tail[-1]:.6g} on every one of the last {w} recorded steps: the "
            "model's output does not change, so nothing is being learned.",
            evidence=_ev(loss=tail[-1], window=w))]
    if not _enough(trace, config) or started_trained(trace, config):
        return []
    first = np.median(finite[:w])
    rolling = _rolling_medians(finite, w)
    if not rolling:
        return []
    best, last = min(rolling), rolling[-1]
    scale = max(abs(first), 1e-12)
    improvement = (first - best) / scale
    if improvement >= config["loss_min_improvement"]:
        return []
    rising = (last - first) / scale > config["loss_rise"]
    accuracy = _accuracy_progress(trace, config) if not rising else None
    learning = accuracy is not None and accuracy[2] - accuracy[1] >= config["accuracy_learning_gain"]
    found = Finding(
        kind="loss_not_decreasing", layer=None, severity="info" if learning else "warning", step=_step(trace, w),
        epoch=_epoch(trace, w), detail="rising" if rising else "flat",
        message=(f"The loss rose from {first:.4g} to {last:.4g}" if rising else
                 f"The loss has not decreased: {first:.4g} at the start, best {best:.4g} "
                 f"({100 * improvement:.2f}% better) over {_step(trace, trace.n_steps - 1)} steps."),
        evidence=_ev(first_window_median=first, best_window_median=best, last_window_median=last,
                     improvement=improvement, threshold=config["loss_min_improvement"]))
    if learning:  # a rising accuracy says the model learns, if slowly
        found.message += (f" Accuracy nevertheless rose from {accuracy[1]:.3f} to {accuracy[2]:.3f}, so the "
                          "model is learning, slowly.")
        found.evidence.update(_ev(accuracy_first=accuracy[1], accuracy_best=accuracy[2]))
    return [found]


def _accuracy_key(trace: Trace) -> str | None:
    return accuracy_key(trace.steps, trace.epochs)


def _accuracy_progress(trace: Trace, config: dict):
    """``(key, first, best, last, start_row, per_epoch)`` of the training
    accuracy: per epoch when there are ``min_epochs`` epochs, else medians of
    step windows; None without an accuracy metric (or for a regression)."""
    key = _accuracy_key(trace)
    if key is None or is_regression(trace):
        return None
    per_epoch = _finite(trace.epoch_column(key)) if trace.epochs else np.array([])
    if per_epoch.size >= config["min_epochs"]:
        return key, per_epoch[0], per_epoch[1:].max(), per_epoch[-1], 0, True
    values = _finite(trace.column(key))
    w = config["window"]
    if values.size < 2 * w or not _enough(trace, config):
        return None
    first, last = np.median(values[:w]), np.median(values[-w:])
    return key, first, max(_rolling_medians(values, w)), last, w, False


def check_accuracy_not_increasing(trace: Trace, config: dict) -> list[Finding]:
    """Accuracy has not risen by ``accuracy_min_gain`` from its first value
    (per epoch when there are enough epochs, else per window of steps), is
    below ``accuracy_good``, and the loss is no longer falling fast (a loss
    still ``still_learning_drop`` lower over the run's last quarter means
    accuracy has not had time to move yet: `check_still_learning` notes it; not
    where that loss is still ``confident_wrong_factor`` times a uniform guess's)."""
    got = _accuracy_progress(trace, config)
    if got is None or started_trained(trace, config):
        return []
    key, first, best, last, start_row, per_epoch = got
    if best - first >= config["accuracy_min_gain"] or last >= config["accuracy_good"]:
        return []
    late, chance = late_loss_drop(trace, config), chance_loss(trace.meta)
    # accuracy lags a loss still falling fast: too early to call it stuck, unless that loss is still
    # far above a uniform guess's (confidently wrong, not merely recovering from an unlucky start)
    confident_wrong = chance and late is not None and late[2] > config["confident_wrong_factor"] * chance
    if late is not None and late[0] >= config["still_learning_drop"] and not confident_wrong:
        return []
    return [Finding(
        kind="accuracy_not_increasing", layer=None, severity="warning", step=_step(trace, start_row),
        epoch=_epoch(trace, start_row),
        message=f"Accuracy is not increasing: {first:.3f} at the start, at best {best:.3f}, now {last:.3f}.",
        evidence=_ev(metric=key, first=first, best=best, last=last, per_epoch=per_epoch,
                     threshold=config["accuracy_min_gain"]))]


def check_oscillating_loss(trace: Trace, config: dict) -> list[Finding]:
    """Epoch losses alternate up and down with a large amplitude (beside their
    recent value and the first epoch's) and no net progress (judged per epoch:
    batch-to-batch noise is not oscillation)."""
    loss = _finite(trace.epoch_column("loss")) if trace.epochs else np.array([])
    if loss.size < config["min_epochs"] * 2:
        return []
    recent = loss[-2 * config["min_epochs"]:]
    diffs = np.diff(recent)
    if diffs.size < 3:
        return []
    flips = np.mean(np.sign(diffs[1:]) != np.sign(diffs[:-1]))
    amplitude = np.median(np.abs(diffs)) / max(np.median(np.abs(recent)), 1e-12)
    # swings small beside where the run began are noise near its end, not steps that overshoot
    begun = np.median(np.abs(diffs)) / max(abs(loss[0]), 1e-12)
    slope = np.polyfit(np.arange(recent.size), recent, 1)[0]
    progress = -slope * (recent.size - 1) / max(np.median(np.abs(recent)), 1e-12)
    # The swings must dominate any trend: a falling loss with noisy epochs is fine.
    if flips < 0.6 or min(amplitude, begun) < config["oscillation_amplitude"] or progress > amplitude / 2:
        return []
    start = len(trace.epochs) - recent.size
    return [Finding(
        kind="oscillating_loss", layer="optimizer", root_cause="learning_rate", severity="warning",
        step=None, epoch=int(start),
        message=f"The loss oscillates from epoch to epoch (direction flips in {100 * flips:.0f}% of epochs, "
        f"typical swing {100 * amplitude:.0f}% of its value) without improving.",
        suggestion="Lower the learning rate (e.g. by 10x) or use a larger batch.",
        evidence=_ev(flip_rate=flips, relative_amplitude=amplitude, epoch_losses=recent.tolist()))]


def check_overfitting(trace: Trace, config: dict) -> list[Finding]:
    """Validation loss has risen for ``overfit_patience`` epochs past its best
    by more than ``overfit_gap`` while the training loss kept falling."""
    val = trace.epoch_column("val_loss") if trace.epochs else np.array([])
    train = trace.epoch_column("loss") if trace.epochs else np.array([])
    if val.size < config["overfit_patience"] + 2 or not np.all(np.isfinite(val)):
        return []
    best = int(np.argmin(val))
    since = val.size - 1 - best
    rise = (val[-1] - val[best]) / max(abs(val[best]), 1e-12)
    if since < config["overfit_patience"] or rise < config["overfit_gap"] or not train[-1] < train[best]:
        return []
    return [Finding(
        kind="overfitting", layer=None, root_cause="architecture", severity="warning", step=None, epoch=best,
        message=f"Overfitting: validation loss was best at epoch {best} ({val[best]:.4g}) and has risen "
        f"{100 * rise:.0f}% since, while the training loss kept falling.",
        suggestion="Add regularization (Dropout, L2), use more data or a smaller model, or stop earlier "
        "(EarlyStopping(monitor='val_loss', restore_best_weights=True)).",
        evidence=_ev(best_epoch=best, best_val_loss=val[best], last_val_loss=val[-1], epochs_since_best=since))]


# ---- gradients, activations, weights ---------------------------------------------------------
def check_exploding_gradient(trace: Trace, config: dict) -> list[Finding]:
    """A layer's weight-gradient norm grew by ``exploding_factor`` between
    the first window and a later one."""
    if not _enough(trace, config):
        return []
    w = config["window"]
    g = trace.stat("gw_norm")
    for i in _weighted(trace):
        col = g[:, i]
        first = np.nanmedian(col[:w]) if np.isfinite(col[:w]).any() else np.nan
        later = _last_window(col, w)
        if not np.isfinite(first) or first <= 0 or later.size == 0:
            continue
        now = np.median(later)
        if now / first >= config["exploding_factor"]:
            return [Finding(
                kind="exploding_gradient", layer=trace.layers[i].name, severity="warning",
                step=_first_crossing(trace, col, first * config["exploding_factor"]),
                epoch=None,
                message=f"Gradients of layer '{trace.layers[i].name}' exploded: their norm grew "
                f"{now / first:.3g}x (from {first:.3g} to {now:.3g}).",
                evidence=_ev(first_window_norm=first, last_window_norm=now, factor=now / first))]
    return []


def check_vanishing_gradient(trace: Trace, config: dict) -> list[Finding]:
    """Early layers receive almost no gradient compared with the last one
    (ratio below ``vanishing_ratio``), or no layer receives any."""
    if not _enough(trace, config, factor=1):
        return []
    w = config["window"]
    g = trace.stat("gw_norm")
    weighted = _weighted(trace)
    if not weighted:
        return []
    med = {i: np.median(_last_window(g[:, i], w)) if _last_window(g[:, i], w).size else np.nan for i in weighted}
    loss = _finite(trace.column("loss"))
    top = med[weighted[-1]]
    if all(np.isfinite(v) and v <= config["vanishing_abs"] for v in med.values()) and loss.size and \
            np.median(loss[-w:]) > config["loss_converged"]:
        layer = trace.layers[weighted[-1]].name
        return [Finding(
            kind="vanishing_gradient", layer=layer, severity="warning", step=_step(trace, max(trace.n_steps - w, 0)),
            epoch=None,
            message=f"No layer receives a gradient (every weight-gradient norm is below {config['vanishing_abs']:g}) "
            "although the loss is not zero: the output does not respond to the weights.",
            evidence=_ev(gradient_norms={trace.layers[i].name: med[i] for i in weighted}))]
    if len(weighted) < 3 or not np.isfinite(top) or top <= 0:
        return []
    for i in weighted[:-1]:
        if np.isfinite(med[i]) and med[i] / top < config["vanishing_ratio"]:
            return [Finding(
                kind="vanishing_gradient", layer=trace.layers[i].name, severity="warning",
                step=_step(trace, max(trace.n_steps - w, 0)), epoch=None,
                message=f"Gradients vanish before layer '{trace.layers[i].name}': its weight gradient is "
                + (f"{med[i] / top:.2g} times that of the last layer." if med[i] > 0 else
                   "zero while the last layer's is not."),
                evidence=_ev(layer_norm=med[i], last_layer_norm=top, ratio=med[i] / top))]
    return []


def check_exploding_activation(trace: Trace, config: dict) -> list[Finding]:
    """A layer's largest |output| grew by ``exploding_factor`` and exceeds
    ``activation_abs_max``."""
    if not _enough(trace, config):
        return []
    w = config["window"]
    hi = np.maximum(np.abs(trace.stat("act_max")), np.abs(trace.stat("act_min")))
    for i, layer in enumerate(trace.layers):
        col = hi[:, i]
        first, later = _finite(col[:w]), _last_window(col, w)
        if first.size == 0 or later.size == 0:
            continue
        a, b = np.median(first), np.median(later)
        if b > config["activation_abs_max"] and b / max(a, 1e-12) >= config["exploding_factor"]:
            return [Finding(
                kind="exploding_activation", layer=layer.name, severity="warning",
                step=_first_crossing(trace, col, config["activation_abs_max"]), epoch=None,
                message=f"Outputs of layer '{layer.name}' exploded: the largest |value| grew from {a:.3g} to {b:.3g}.",
                evidence=_ev(first_window_max=a, last_window_max=b))]
    return []


def check_dying_relu(trace: Trace, config: dict) -> list[Finding]:
    """A ReLU layer where most units output zero for every sample of the batch
    (``dying_relu_frac``), or nearly every output is zero."""
    if trace.n_steps < config["window"]:
        return []
    w = config["window"]
    dead, zero = trace.stat("act_dead_frac"), trace.stat("act_zero_frac")
    batch = _finite(trace.column("batch_size"))
    small_batch = batch.size and np.median(batch) < config["dying_relu_min_batch"]
    out = []
    for i, layer in enumerate(trace.layers):
        if layer.activation not in ZERO_OUTPUT:
            continue
        d, z = _last_window(dead[:, i], w), _last_window(zero[:, i], w)
        if d.size == 0:
            continue
        d_med, z_med = float(np.median(d)), float(np.median(z))
        if (not small_batch and d_med >= config["dying_relu_frac"]) or z_med >= config["dying_relu_zero_frac"]:
            out.append(Finding(
                kind="dying_relu", layer=layer.name, severity="warning",
                step=_first_crossing(trace, dead[:, i], config["dying_relu_frac"]) if not small_batch
                else _first_crossing(trace, zero[:, i], config["dying_relu_zero_frac"]),
                epoch=None,
                message=f"Layer '{layer.name}' has dying ReLUs: {100 * d_med:.0f}% of its units output 0 for the "
                f"whole batch ({100 * z_med:.0f}% of all outputs are 0).",
                evidence=_ev(dead_unit_fraction=d_med, zero_output_fraction=z_med, threshold=config["dying_relu_frac"])))
            break  # the first dying layer explains the ones after it
    return out


def check_saturated_activation(trace: Trace, config: dict) -> list[Finding]:
    """A hidden sigmoid/tanh layer with most outputs in the flat tails
    (``saturation_frac``), where the local gradient is almost zero."""
    if trace.n_steps < config["window"]:
        return []
    w = config["window"]
    sat = trace.stat("act_sat_frac")
    for i, layer in enumerate(trace.layers):
        if layer.activation not in SQUASHING or layer.is_output:
            continue
        s = _last_window(sat[:, i], w)
        if s.size and np.median(s) >= config["saturation_frac"]:
            return [Finding(
                kind="saturated_activation", layer=layer.name, severity="warning",
                step=_first_crossing(trace, sat[:, i], config["saturation_frac"]), epoch=None,
                message=f"Layer '{layer.name}' ({layer.activation}) is saturated: {100 * np.median(s):.0f}% of its "
                "outputs sit at the flat ends of the curve, where almost no gradient passes.",
                evidence=_ev(saturated_fraction=float(np.median(s)), threshold=config["saturation_frac"]))]
    return []


def check_weights_unchanged(trace: Trace, config: dict) -> list[Finding]:
    """A trainable layer whose relative update |dw|/|w| stays below
    ``unchanged_ratio`` for a whole window. With gradient accumulation only
    the steps that moved something are judged (the others move nothing by design)."""
    w, ratio = config["window"], trace.stat("update_ratio")
    if trace.n_steps < w:
        return []
    accumulating = ((trace.meta.get("optimizer_config") or {}).get("gradient_accumulation_steps") or 1) > 1
    for i in _weighted(trace):
        r = _last_window(ratio[:, i][ratio[:, i] != 0] if accumulating else ratio[:, i], w)
        if r.size >= w // 2 and np.max(r) < config["unchanged_ratio"]:
            return [Finding(
                kind="weights_unchanged", layer=trace.layers[i].name, severity="warning",
                step=_step(trace, max(trace.n_steps - w, 0)), epoch=None,
                message=f"The weights of layer '{trace.layers[i].name}' do not move: each update changes them by "
                f"less than {config['unchanged_ratio']:g} of their size.",
                evidence=_ev(max_update_ratio=float(np.max(r)), threshold=config["unchanged_ratio"]))]
    return []


def _first_crossing(trace: Trace, values: np.ndarray, threshold: float) -> int | None:
    idx = np.flatnonzero(np.nan_to_num(values, nan=-np.inf) >= threshold)
    return _step(trace, int(idx[0])) if idx.size else None


CHECKS = (
    check_loss_not_decreasing,
    check_accuracy_not_increasing,
    check_oscillating_loss,
    check_overfitting,
    check_exploding_gradient,
    check_vanishing_gradient,
    check_exploding_activation,
    check_dying_relu,
    check_saturated_activation,
    check_weights_unchanged,
)

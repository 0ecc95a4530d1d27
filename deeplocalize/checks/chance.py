"""What a model that has learned nothing scores, and whether a run started far from it.

A model continued from trained weights (a second ``fit``, fine-tuning) sits
on a plateau from its first step: its loss does not fall much, and that is
not a failure to learn. The loss of a classifier that has learned nothing is
known (the cross-entropy of a uniform guess), so a first window far below it
says the model was trained before this run. Likewise a loss still falling
fast at the end (`late_loss_drop`) says the run stopped early, not stuck.

A fresh classifier on normalized inputs also starts *near* that loss: its
outputs are close to uniform. A first loss many times above it
(`check_initial_loss`) says the first predictions are confidently wrong, before
any update: inputs far out of scale, or initial weights far too large.

Example:
    >>> chance_loss({"loss": [{"name": "sparse_categorical_crossentropy"}], "output_shapes": [[None, 10]]})
    2.302585092994046
"""

from __future__ import annotations

import math

import numpy as np

from deeplocalize.checks.structure import model_outputs
from deeplocalize.findings import Finding
from deeplocalize.trace import Trace

_CATEGORICAL = ("sparse_categorical_crossentropy", "categorical_crossentropy")


def is_regression(trace: Trace) -> bool:
    """Accuracy means nothing for a regression output (a common copy-paste metric)."""
    from deeplocalize.checks.preflight import REGRESSION

    losses = [l.get("name") for l in trace.meta.get("loss") or []]
    acts = trace.meta.get("output_activations") or []
    return bool(losses) and all(l in REGRESSION for l in losses) and all(
        a in (None, "linear", "relu", "softplus", "elu", "leaky_relu") for a in acts)


def chance_loss(meta: dict) -> float | None:
    """The cross-entropy of a uniform guess for a single-output classifier, else None."""
    losses = [l.get("name") for l in meta.get("loss") or []]
    if len(losses) != 1:
        return None
    if losses[0] == "binary_crossentropy":
        return math.log(2.0)
    shapes = meta.get("output_shapes") or []
    units = shapes[0][-1] if len(shapes) == 1 and shapes[0] else None
    if losses[0] in _CATEGORICAL and isinstance(units, int) and units > 1:
        return math.log(units)
    return None


def chance_accuracy(trace: Trace) -> float | None:
    """The accuracy of a single-output classifier that has learned nothing:
    one class in ``units``; for one sigmoid unit the majority share of the
    0/1 labels of the batches recorded; None for several sigmoid labels
    under binary cross-entropy (each unit is a label of its own) and for
    anything else.

    Example:
        >>> chance_accuracy(trace)   # a 10-class softmax
        0.1
    """
    outputs = model_outputs(trace.meta)
    if len(outputs) != 1 or not isinstance(outputs[0][2], int):
        return None
    units, loss = outputs[0][2], outputs[0][3].get("name")
    if units > 1:
        return None if loss == "binary_crossentropy" else 1.0 / units
    shares = trace.column("y0_mean") if "y0_mean" in trace.steps else np.array([])
    shares = shares[np.isfinite(shares)]
    share = float(np.mean(shares)) if shares.size else -1.0
    return max(share, 1.0 - share) if 0.0 <= share <= 1.0 else None


def label_variance(trace: Trace) -> tuple[float, float] | None:
    """``(variance, n)`` of the labels of a regression on mean squared error
    with one scalar target, from the batches recorded (``n`` labels): the
    loss of always predicting their mean. None for anything else.

    Example:
        >>> label_variance(trace)   # targets of size ~56
        (1431.2, 1920.0)
    """
    losses = [l.get("name") for l in trace.meta.get("loss") or []]
    if losses not in (["mean_squared_error"], ["mse"]) or "y0_sq" not in trace.steps:
        return None
    width, mean, sq = (trace.column(f"y0_{c}") for c in ("width", "mean", "sq"))
    ok = np.isfinite(mean) & np.isfinite(sq)
    if not ok.any() or not np.all(width[np.isfinite(width)] == 1):
        return None
    variance = float(np.mean(sq[ok]) - np.mean(mean[ok]) ** 2)
    # rows watched from outside the step past the first have the labels' moments, not the batch size
    sizes = trace.column("batch_size") if "batch_size" in trace.steps else np.array([np.nan])
    per_batch = float(np.nanmedian(sizes)) if np.isfinite(sizes).any() else 1.0
    return (variance, max(float(ok.sum()) * per_batch, 2.0)) if variance > 0 else None


def started_trained(trace: Trace, config: dict) -> bool:
    """The first window of the run's loss is below ``trained_loss_fraction`` of the
    chance loss: the model had learned before this run began."""
    chance = chance_loss(trace.meta)
    loss = np.asarray(trace.column("loss"), dtype=float)
    loss = loss[np.isfinite(loss)]
    w = config["window"]
    if chance is None or loss.size < w:
        return False
    return float(np.median(loss[:w])) < config["trained_loss_fraction"] * chance


def check_initial_loss(trace: Trace, config: dict) -> list[Finding]:
    """An ``initial_loss_high`` warning when the loss of the run's first step
    (the weights as initialized) is more than ``initial_loss_chance_ratio``
    times the loss of a uniform guess. Its root cause is left to the
    diagnosis (inputs out of scale, else the initialization).

    Example:
        >>> [f.kind for f in check_initial_loss(trace, load_config())]   # a CNN on raw 0-255 pixels
        ['initial_loss_high']
    """
    chance = chance_loss(trace.meta)
    if chance is None or trace.n_steps == 0 or "loss" not in trace.steps:
        return []
    first, step = float(trace.column("loss")[0]), float(trace.column("step")[0])
    ratio = config["initial_loss_chance_ratio"]
    if not (math.isfinite(first) and step < config["window"] and first > ratio * chance):
        return []
    return [Finding(
        kind="initial_loss_high", severity="warning", step=int(step), epoch=0,
        evidence={"first_loss": first, "chance_loss": chance, "ratio": first / chance},
        message=f"The first step's loss is {first:.4g}, {first / chance:.0f}x the {chance:.3g} of a uniform guess: "
        "before any update the model's predictions are confidently wrong.")]


def late_loss_drop(trace: Trace, config: dict) -> tuple[float, float, float] | None:
    """``(drop, before, last)``: how much lower (relative) the loss's median
    over the last quarter of the run is than over the quarter before; None
    when the run is too short or the loss has converged.

    Example:
        >>> late_loss_drop(trace, load_config())
        (0.21, 0.91, 0.72)
    """
    loss = np.asarray(trace.column("loss"), dtype=float)
    loss = loss[np.isfinite(loss)]
    q = loss.size // 4
    if q < 2 or np.median(np.abs(loss)) <= config["loss_converged"]:
        return None
    before, last = float(np.median(loss[-2 * q:-q])), float(np.median(loss[-q:]))
    return (before - last) / max(abs(before), 1e-12), before, last

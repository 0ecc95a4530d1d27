"""What a model that has learned nothing scores, and whether a run started far past it.

A model continued from trained weights (a second ``fit``, fine-tuning) sits
on a plateau from its first step: its loss does not fall much, and that is
not a failure to learn. The loss of a classifier that has learned nothing is
known (the cross-entropy of a uniform guess), so a first window far below it
says the model was trained before this run.

Example:
    >>> chance_loss({"loss": [{"name": "sparse_categorical_crossentropy"}], "output_shapes": [[None, 10]]})
    2.302585092994046
"""

from __future__ import annotations

import math

import numpy as np

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

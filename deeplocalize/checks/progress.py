"""End-of-run checks: how a run ended, judged once over the whole run.

A pure function ``(trace, config) -> list[Finding]`` each, run by the
monitor's final re-check only (never mid-run).

Example:
    >>> [f.kind for f in run_final(trace, load_config())]
    ['still_learning', 'few_updates']
"""

from __future__ import annotations

import numpy as np

from deeplocalize.checks.chance import chance_accuracy, chance_loss, is_regression, label_variance, late_loss_drop
from deeplocalize.checks.windows import _epoch, _ev, _finite, _step
from deeplocalize.findings import Finding
from deeplocalize.trace import Trace
from deeplocalize.vocab import accuracy_key


def run_final(trace: Trace, config: dict) -> list[Finding]:
    """Every end-of-run check over ``trace``."""
    findings: list[Finding] = []
    for check in CHECKS:
        findings += check(trace, config)
    return findings


def check_still_learning(trace: Trace, config: dict) -> list[Finding]:
    """A note, at the end of a run: the loss was still falling fast when
    training stopped (its median over the last quarter of the run at least
    ``still_learning_drop`` below the quarter before), so more steps would
    likely help. Not where the loss is already below ``still_learning_floor``
    times the first quarter's (what is left to learn is small). Only a note:
    verification tries training longer."""
    late = _still_falling(trace, config)
    if late is None:
        return []
    drop, before, last = late
    row = trace.n_steps - _finite(trace.column("loss")).size // 4
    return [Finding(
        kind="still_learning", layer="training_config", root_cause="training_config", severity="info",
        step=_step(trace, row), epoch=_epoch(trace, row),
        message=f"The loss was still falling when training ended: {100 * drop:.0f}% lower over the last "
        f"quarter of the run ({before:.4g} -> {last:.4g}).",
        suggestion="Train for more epochs (or use a smaller batch for more updates per epoch).",
        evidence=_ev(previous_quarter_median=before, last_quarter_median=last, drop=drop,
                     threshold=config["still_learning_drop"]))]


def _still_falling(trace: Trace, config: dict) -> tuple[float, float, float] | None:
    """`late_loss_drop` when the loss was still falling fast at the end (by
    ``still_learning_drop``) and is not yet below ``still_learning_floor`` of
    its first quarter's median; else None."""
    late = late_loss_drop(trace, config)
    if late is None or late[0] < config["still_learning_drop"]:
        return None
    loss = _finite(trace.column("loss"))
    first = float(np.median(loss[:loss.size // 4]))
    return None if first > 0 and late[2] < config["still_learning_floor"] * first else late


def check_few_updates(trace: Trace, config: dict) -> list[Finding]:
    """At the end of a run: the whole run made fewer than ``few_updates_steps``
    weight updates because its batches were large (at least
    ``few_updates_batch`` examples), too few for most models to learn. A note,
    worth verifying (``verify="auto"`` tries smaller batches and training
    longer); a warning when the loss was also still falling fast at the end
    (as `check_still_learning` sees it): the run stopped long before it converged."""
    steps, batches = trace.column("step"), _finite(trace.column("batch_size"))
    batch = float(np.median(batches)) if batches.size else 0.0
    if steps.size == 0 or batch < config["few_updates_batch"]:
        return []
    # the steps recorded are a sample of the run; the callback says how many it saw
    updates = max(int(np.max(steps)) + 1, int(trace.meta.get("steps_run") or 0))
    loss = _finite(trace.column("loss"))
    if updates >= config["few_updates_steps"] or (loss.size and np.median(np.abs(loss)) <= config["loss_converged"]):
        return []
    per_epoch = (trace.meta.get("params") or {}).get("steps")
    how = f" ({per_epoch} per epoch)" if per_epoch else ""
    late = _still_falling(trace, config)
    unfinished = late is not None
    falling = f" and the loss was still falling fast at the end ({late[1]:.4g} -> {late[2]:.4g} over the " \
              "last two quarters): it stopped long before it converged" if unfinished else \
              ": too few updates for most models to learn"
    return [Finding(
        kind="few_updates", layer="training_config", root_cause="training_config",
        severity="warning" if unfinished else "info",
        step=updates - 1, epoch=_epoch(trace, trace.n_steps - 1),
        message=f"The whole run made only {updates} weight updates{how}, with batches of "
        f"{int(batch)} examples{falling}.",
        suggestion="Use smaller batches (more updates per epoch), or train for more epochs.",
        evidence=_ev(updates=updates, steps_per_epoch=per_epoch, batch_size=batch,
                     threshold=config["few_updates_steps"]))]


def check_no_better_than_mean(trace: Trace, config: dict) -> list[Finding]:
    """A warning at the end of a regression run (one scalar target, mean
    squared error) whose loss over the last quarter of the run is still at
    least ``mean_baseline_fraction`` of the labels' variance: the model does
    no better than always predicting their mean (estimated from the batches
    seen, the bar raised by two standard errors of that estimate). Still falling fast (as `check_still_learning` sees it): the run
    stopped before the model learned (training_config). Not falling, with
    targets of root mean square above ``target_scale_max``: their scale
    (data_preprocessing: the initial weights predict values near 0). Not
    falling on targets in scale: no finding (targets this noisy may allow no
    better; a flat loss is the trend checks' to judge).

    Example:
        >>> [f.kind for f in check_no_better_than_mean(trace, load_config())]   # MSE 1.3, var(y) 0.88
        ['no_better_than_mean']
    """
    labels = label_variance(trace)
    loss = _finite(trace.column("loss"))
    if labels is None or loss.size // 4 < 2:
        return []
    (variance, n), last = labels, float(np.median(loss[-(loss.size // 4):]))
    # a variance from few labels (one batch, watched from outside the step) is loose: two standard
    # errors of a sample variance, sqrt(2 / (n - 1)), are added to the bar
    if last < config["mean_baseline_fraction"] * variance * (1 + 2 * np.sqrt(2 / (n - 1))):
        return []
    late, scale = _still_falling(trace, config), float(np.sqrt(np.nanmean(trace.column("y0_sq"))))
    said = f"The run ended with a mean squared error of {last:.4g}, no better than always predicting the " \
           f"labels' mean ({variance:.4g}, their variance)"
    if late is not None:
        cause, layer, suggestion = "training_config", "training_config", \
            "Train for many more epochs (or use a smaller batch, or a faster optimizer such as Adam)."
        said += f", and the loss was still falling fast ({late[1]:.4g} -> {late[2]:.4g} over the last two " \
                "quarters): it stopped before the model learned."
    elif scale > config["target_scale_max"]:
        cause, layer, suggestion = "data_preprocessing", "data", \
            "Standardize the targets (y - mean) / std for training, and invert it on the predictions."
        said += f", and it is no longer falling: the targets are about {scale:.4g} in size, far from the values " \
                "near 0 that freshly initialized weights predict."
    else:  # targets in scale, no progress: noisy targets may allow no better (the trend checks judge a flat loss)
        return []
    row = trace.n_steps - 1
    return [Finding(
        kind="no_better_than_mean", layer=layer, root_cause=cause, severity="warning",
        step=_step(trace, row), epoch=_epoch(trace, row), message=said, suggestion=suggestion,
        evidence=_ev(last_quarter_median=last, label_variance=variance, label_rms=scale,
                     still_falling=late is not None, threshold=config["mean_baseline_fraction"]))]


def check_memorized(trace: Trace, config: dict) -> list[Finding]:
    """A warning at the end of a classifier's run of ``min_epochs`` epochs or
    more with validation data: training accuracy ended at least
    ``memorized_gain`` above chance while validation accuracy never rose
    more than ``chance_margin`` above it. The model learned the training
    examples but nothing that carries over to new ones: the labels do not
    belong to their inputs, or the validation data is unlike the training
    data (or inputs with too little signal for the model's size). Chance is
    one class in ``units`` (for one sigmoid unit, the majority share of the
    0/1 labels of the batches recorded).

    Example:
        >>> [f.kind for f in check_memorized(trace, load_config())]   # shuffled labels, validation_split=0.2
        ['memorized']
    """
    key = accuracy_key(trace.steps, trace.epochs)
    chance = chance_accuracy(trace)
    if key is None or chance is None or is_regression(trace) or len(trace.epochs) < config["min_epochs"]:
        return []
    train, val = _finite(trace.epoch_column(key)), _finite(trace.epoch_column("val_" + key))
    if val.size < config["min_epochs"] or train.size == 0:
        return []
    if train[-1] < chance + config["memorized_gain"] or val.max() > chance + config["chance_margin"]:
        return []
    return [Finding(
        kind="memorized", layer="labels", root_cause="labels", severity="warning",
        step=_step(trace, trace.n_steps - 1), epoch=len(trace.epochs) - 1,
        message=f"Training accuracy rose to {train[-1]:.3f}, but validation accuracy never rose above chance "
        f"({chance:.3f}; at best {val.max():.3f}): the model learns the training examples by heart and nothing "
        "that carries over to new ones. The labels may not belong to their inputs (shuffled or sorted apart from "
        "them), the validation data may be prepared unlike the training data, or the inputs carry too little "
        "signal for this many parameters.",
        suggestion="Check that each label stays with its input (shuffle x and y together, with one permutation), "
        "and that validation data is preprocessed like the training data (validation_split takes the last rows: "
        "shuffle sorted data first); if both hold, use fewer parameters, regularization or more data.",
        evidence=_ev(train_accuracy=train[-1], best_val_accuracy=val.max(), chance=chance,
                     threshold=config["memorized_gain"]))]


def check_validation_unlike_training(trace: Trace, config: dict) -> list[Finding]:
    """A warning at the end of a classifier's run with validation data whose
    validation loss was ``val_gap_factor`` times its training loss from the
    first epoch to the last, and worse than a uniform guess's. Overfitting
    grows out of a shared start; a gap already there after one epoch says the
    validation data is not like the training data: scaled differently,
    encoded differently, or of classes the training data lacks.

    Example:
        >>> [f.kind for f in check_validation_unlike_training(trace, load_config())]   # x_val left unscaled
        ['validation_unlike_training']
    """
    chance = chance_loss(trace.meta)
    if chance is None or not trace.epochs or "val_loss" not in trace.epochs[0]:
        return []
    train, val = trace.epoch_column("loss"), trace.epoch_column("val_loss")
    factor = config["val_gap_factor"]
    ends = [(train[k], val[k]) for k in (0, -1)]
    if not all(np.isfinite(t) and np.isfinite(v) and t > 0 and v >= factor * t and v > chance for t, v in ends):
        return []
    return [Finding(
        kind="validation_unlike_training", layer="data", root_cause="data_preprocessing", severity="warning",
        step=_step(trace, trace.n_steps - 1), epoch=0,
        message=f"The validation loss was {val[0]:.4g} after the first epoch, {val[0] / train[0]:.0f}x the training "
        f"loss ({train[0]:.4g}) and worse than a uniform guess ({chance:.3g}), and it still is at the end "
        f"({val[-1]:.4g} against {train[-1]:.4g}): the validation data is not like the training data.",
        suggestion="Prepare the validation data exactly as the training data (the same scaler, fitted on the "
        "training data, applied to both; the same label encoding), and make sure it holds the same classes "
        "(validation_split takes the last rows: shuffle sorted data first).",
        evidence=_ev(train_loss_first=train[0], val_loss_first=val[0], train_loss_last=train[-1],
                     val_loss_last=val[-1], chance_loss=chance, factor=factor))]


CHECKS = (check_still_learning, check_few_updates, check_no_better_than_mean, check_memorized,
          check_validation_unlike_training)

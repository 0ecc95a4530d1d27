"""The tools compared on every case, and the small callbacks that time and count runs.

Tools (one ``fit`` each, on a freshly built program):

- ``plain``: no callback; its per-step time is the denominator of the overhead ratio.
- ``deeplocalize``: `DeepLocalizeCallback(verbose=0)` at defaults; it flags a run
  when its diagnosis says ``buggy``.
- ``terminate_on_nan``: `keras.callbacks.TerminateOnNaN()`; flags a run when it
  stops training or the batch loss was NaN/Inf.
- ``es_loss``: `EarlyStopping(monitor="loss", patience=1)`; flags when it stops early.
- ``es_accuracy``: `EarlyStopping(monitor=<accuracy key>, patience=1)`; ``n/a`` when
  the model logs no accuracy metric.

``keras_all`` (the paper's "all three") is derived in scoring: the OR of the
three Keras baselines.
"""

from __future__ import annotations

import math
import time

TOOLS = ("plain", "deeplocalize", "terminate_on_nan", "es_loss", "es_accuracy")
KERAS_TOOLS = ("terminate_on_nan", "es_loss", "es_accuracy")
SCORED_TOOLS = ("deeplocalize", "terminate_on_nan", "es_loss", "es_accuracy", "keras_all")
TOOL_LABELS = {
    "deeplocalize": "DeepLocalize (ours)",
    "terminate_on_nan": "Keras TerminateOnNaN",
    "es_loss": "Keras EarlyStopping(loss)",
    "es_accuracy": "Keras EarlyStopping(accuracy)",
    "keras_all": "Keras, all three",
    "plain": "no callback",
}


def accuracy_key(history_keys) -> str | None:
    """The training-accuracy key EarlyStopping(monitor="accuracy") should watch:
    ``accuracy`` when logged, else another training accuracy (``acc``,
    ``binary_accuracy``, ...), else None (the baseline is n/a)."""
    keys = [k for k in history_keys if not k.startswith("val_")]
    if "accuracy" in keys:
        return "accuracy"
    if "acc" in keys:
        return "acc"
    others = sorted(k for k in keys if k.endswith("accuracy") or k.endswith("_acc"))
    return others[0] if others else None


def make_callbacks(tool: str, keras, acc_key: str | None = None) -> list:
    """The Keras callbacks of one baseline tool (fresh instances)."""
    if tool == "plain":
        return []
    if tool == "terminate_on_nan":
        return [keras.callbacks.TerminateOnNaN()]
    if tool == "es_loss":
        return [keras.callbacks.EarlyStopping(monitor="loss", patience=1)]
    if tool == "es_accuracy":
        if acc_key is None:
            raise ValueError("es_accuracy needs an accuracy metric")
        return [keras.callbacks.EarlyStopping(monitor=acc_key, patience=1)]
    raise ValueError(f"not a Keras baseline: {tool!r}")


def epoch_clock(keras):
    """A callback with epoch hooks only (so Keras keeps its asynchronous batch
    dispatch): wall-clock time at train begin and at each epoch end."""

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.start = None
            self.epoch_ends: list[float] = []

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_ends.append(time.perf_counter())

    return EpochClock()


def step_counter(keras):
    """A callback that counts train steps and notes a non-finite batch loss
    (added only to runs that already have batch hooks)."""

    class StepCounter(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps = 0
            self.first_nonfinite_step = None

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            try:
                bad = loss is not None and not math.isfinite(float(loss))
            except (TypeError, ValueError):
                bad = False
            if bad and self.first_nonfinite_step is None:
                self.first_nonfinite_step = self.steps
            self.steps += 1

    return StepCounter()


def per_step_time(clock, steps_per_epoch: int | None, steps_run: int | None,
                  total_s: float) -> tuple[float | None, str]:
    """Seconds per train step, leaving out the first epoch (tracing, warm-up)
    when a second epoch ran; else the whole fit over all its steps.

    ``steps_run`` counts every step (a run halted mid-epoch included).
    Returns ``(seconds, basis)``; basis says which one was used.
    """
    ends = list(clock.epoch_ends)
    if steps_per_epoch and steps_run and len(ends) >= 2 and steps_run > steps_per_epoch:
        return (ends[-1] - ends[0]) / (steps_run - steps_per_epoch), "after_first_epoch"
    if steps_run:
        return total_s / steps_run, "whole_fit"
    return None, "unknown"


class _StopProxy:
    """Stands in for the model inside an observed callback: records its
    ``stop_training = True`` instead of stopping the real run."""

    def __init__(self, model):
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "stop_training", False)

    def __getattr__(self, name):
        return getattr(self._model, name)

    def __setattr__(self, name, value):
        if name == "stop_training":
            object.__setattr__(self, name, value)
        else:
            setattr(self._model, name, value)


def epoch_observer(keras):
    """The Keras baselines replayed on one run ("shared" baselines).

    Keras's own `EarlyStopping(monitor="loss", patience=1)` and
    `EarlyStopping(monitor=<accuracy>, patience=1)` objects watch the plain run
    through a proxy model, so their decision to stop is recorded (epoch and
    step) instead of stopping it; TerminateOnNaN's decision is read from the
    epoch loss (Keras logs a running mean, which is non-finite at an epoch's
    end exactly when TerminateOnNaN would have fired in that epoch; the
    harness then runs the real TerminateOnNaN to get its exact step). The
    callback has epoch hooks only, so the plain run keeps Keras's
    asynchronous batch dispatch and its timing stays that of a run without
    callbacks. Up to the step where a baseline stops, a separate run of it
    is the same computation (same program, same seed), so its decision is
    the same.
    """

    class EpochObserver(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.inner: dict[str, object] = {}
            self.fired: dict[str, int | None] = {"es_loss": None, "es_accuracy": None, "terminate_on_nan": None}
            self.acc_key: str | None = None
            self.acc_known = False

        def on_train_begin(self, logs=None):
            self.inner = {}
            loss_es = keras.callbacks.EarlyStopping(monitor="loss", patience=1)
            loss_es.set_model(_StopProxy(self.model))
            loss_es.on_train_begin()
            self.inner["es_loss"] = loss_es

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            if not self.acc_known:
                self.acc_known = True
                self.acc_key = accuracy_key(list(logs))
                if self.acc_key is not None:
                    acc_es = keras.callbacks.EarlyStopping(monitor=self.acc_key, patience=1)
                    acc_es.set_model(_StopProxy(self.model))
                    acc_es.on_train_begin()
                    self.inner["es_accuracy"] = acc_es
            loss = logs.get("loss")
            try:
                bad = loss is not None and not math.isfinite(float(loss))
            except (TypeError, ValueError):
                bad = False
            if bad and self.fired["terminate_on_nan"] is None:
                self.fired["terminate_on_nan"] = epoch
            for name, cb in self.inner.items():
                if self.fired[name] is None:
                    cb.on_epoch_end(epoch, logs)
                    if cb.model.stop_training:
                        self.fired[name] = epoch

    return EpochObserver()

"""Callbacks the harness adds to a fit: a clock, a step counter, and watchers.

A *watcher* lets a tool look at a fit it does not own. The tool's own
callbacks get a stand-in model (`StopProxy`) whose ``stop_training = True``
is recorded instead of stopping the run, so several tools can watch one
plain fit and each decision is the one a separate fit of that tool would
have made up to its stopping point (same program, same seed). Watchers
forward epoch hooks only, so the fit keeps Keras's asynchronous batch
dispatch; the time spent inside them is measured and taken out of the
fit's clock.

Example:
    >>> clock = epoch_clock(keras)
    >>> w = ProxyWatch(lambda: [keras.callbacks.EarlyStopping(monitor="loss", patience=1)])
    >>> model.fit(x, y, epochs=5, callbacks=[w, clock])
    >>> w.fired_epoch  # None, or the epoch where EarlyStopping asked to stop
"""

from __future__ import annotations

import math
import time


def _nonfinite(value) -> bool:
    try:
        return value is not None and not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _callback_base():
    import keras

    return keras.callbacks.Callback


def epoch_clock(keras, watchers=()):
    """A callback with epoch hooks only: wall-clock and process CPU time at
    train begin and at each epoch end, less the time spent inside
    ``watchers`` so far."""

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.start = None
            self.epoch_ends: list[float] = []
            self.epoch_cpu_ends: list[float] = []

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_ends.append(time.perf_counter() - sum(w.seconds for w in watchers))
            self.epoch_cpu_ends.append(time.process_time() - sum(w.cpu_seconds for w in watchers))

    return EpochClock()


def untimed(keras, callbacks, watchers):
    """A callback, put before ``callbacks``, that takes the time spent in
    ``watchers`` out of our callback's own clock of the fit when training
    ends: the verification budget is the user's fit time, which the
    benchmark's other tools looking on must not lengthen."""

    class Untimed(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            spent = sum(w.seconds for w in watchers)
            for cb in callbacks:
                if hasattr(cb, "_fit_start"):
                    cb._fit_start += spent

    return Untimed()


def step_counter(keras):
    """A callback that counts train steps and notes a non-finite batch loss
    (added only to runs that already have batch hooks)."""

    class StepCounter(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps = 0
            self.first_nonfinite_step = None

        def on_train_batch_end(self, batch, logs=None):
            if _nonfinite((logs or {}).get("loss")) and self.first_nonfinite_step is None:
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
    if _after_first_epoch(ends, steps_per_epoch, steps_run):
        return (ends[-1] - ends[0]) / (steps_run - steps_per_epoch), "after_first_epoch"
    if steps_run:
        return total_s / steps_run, "whole_fit"
    return None, "unknown"


def per_step_cpu(clock, steps_per_epoch: int | None, steps_run: int | None, total_cpu_s: float) -> float | None:
    """Process CPU seconds per train step, on the same basis as `per_step_time`
    (less disturbed than wall time by other processes on a shared machine)."""
    ends = list(clock.epoch_cpu_ends)
    if _after_first_epoch(ends, steps_per_epoch, steps_run):
        return (ends[-1] - ends[0]) / (steps_run - steps_per_epoch)
    return total_cpu_s / steps_run if steps_run else None


def _after_first_epoch(ends, steps_per_epoch, steps_run) -> bool:
    return bool(steps_per_epoch and steps_run and len(ends) >= 2 and steps_run > steps_per_epoch)


class StopProxy:
    """Stands in for the model inside a watching callback: records its
    ``stop_training = True`` instead of stopping the real run."""

    def __init__(self, model):
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "stop_training", False)

    def __getattr__(self, name):
        return getattr(self._model, name)

    def __call__(self, *args, **kwargs):
        return self._model(*args, **kwargs)

    def __setattr__(self, name, value):
        if name == "stop_training":
            object.__setattr__(self, name, value)
        else:
            setattr(self._model, name, value)


class _Watch:
    """Base of the watchers: a Keras callback made on demand (keras is imported late)."""

    def __init__(self):
        self.fired_epoch: int | None = None
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.callback = None
        self.error: str | None = None  # the tool's own failure: the fit and the other tools go on

    def keras_callback(self):
        if self.callback is None:
            watch = self

            class _Hooks(_callback_base()):
                def on_train_begin(self, logs=None):
                    watch._timed(watch.train_begin, self.model, logs)

                def on_epoch_begin(self, epoch, logs=None):
                    watch._timed(watch.epoch_begin, epoch, logs)

                def on_epoch_end(self, epoch, logs=None):
                    watch._timed(watch.epoch_end, epoch, logs)

                def on_train_end(self, logs=None):
                    watch._timed(watch.train_end, logs)

            self.callback = _Hooks()
        return self.callback

    def _timed(self, fn, *args):
        if self.error is not None:
            return
        t, cpu = time.perf_counter(), time.process_time()
        try:
            fn(*args)
        except Exception as exc:  # a watching tool never breaks the fit it watches
            import traceback

            self.error = f"{type(exc).__name__}: {exc}"
            self.traceback = traceback.format_exc()[-4000:]
        finally:
            self.seconds += time.perf_counter() - t
            self.cpu_seconds += time.process_time() - cpu

    def train_begin(self, model, logs):
        pass

    def epoch_begin(self, epoch, logs):
        pass

    def epoch_end(self, epoch, logs):
        pass

    def train_end(self, logs):
        pass


class ProxyWatch(_Watch):
    """A tool's own callbacks watching a fit through a `StopProxy`.

    ``make(logs_keys)`` returns the callbacks; with ``lazy=True`` they are made
    at the first epoch end, when the logged keys are known (EarlyStopping on
    accuracy needs the key), else at train begin. After the first request to
    stop, the callbacks see no more epochs (the real tool would have stopped).
    """

    def __init__(self, make, lazy: bool = False):
        super().__init__()
        self.make, self.lazy = make, lazy
        self.inner: list | None = None
        self.proxy = None

    def _start(self, keys):
        self.inner = list(self.make(keys))
        for cb in self.inner:
            cb.set_model(self.proxy)
            if hasattr(cb, "set_params") and self.callback is not None:
                cb.set_params(self.callback.params)
            cb.on_train_begin()

    def train_begin(self, model, logs):
        self.proxy = StopProxy(model)
        self.inner = None
        if not self.lazy:
            self._start(None)

    def epoch_begin(self, epoch, logs):
        if self.inner is not None and self.fired_epoch is None:
            for cb in self.inner:
                cb.on_epoch_begin(epoch, logs)

    def epoch_end(self, epoch, logs):
        if self.inner is None:
            self._start(sorted(logs or {}))
        if self.fired_epoch is not None:
            return
        for cb in self.inner:
            cb.on_epoch_end(epoch, logs)
        if self.proxy.stop_training:
            self.fired_epoch = epoch

    def train_end(self, logs):
        for cb in self.inner or []:
            cb.on_train_end(logs)


class NanEpochWatch(_Watch):
    """TerminateOnNaN's decision read from the epoch loss: Keras logs a running
    mean, which is non-finite at an epoch's end exactly when TerminateOnNaN
    would have fired in that epoch (its exact step needs its own fit)."""

    def epoch_end(self, epoch, logs):
        if self.fired_epoch is None and _nonfinite((logs or {}).get("loss")):
            self.fired_epoch = epoch

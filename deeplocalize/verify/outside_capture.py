"""Keeping the first batches where the run is watched from outside its train step.

Where the in-step probes do not run (the JAX and PyTorch backends, a model's
own ``train_step``, ``run_eagerly=True``, ``tf.distribute``), no
instrumented step can copy the batches. Every Keras trainer, though, hands
its train function the batch, or an iterator over batches, from Python:
JAX calls ``train_function(state, iterator)``, PyTorch
``train_function([batch])`` and TensorFlow ``train_function(iterator)``.
`OutsideCapture` puts a thin wrapper on the model instance's
``train_function`` that copies each batch to the host on its way in and
passes the very same batch on, so the user's step runs unchanged; the
wrapper takes itself off once the sample is full, and at the end of
training. On TensorFlow the iterator is read one call ahead (the batches
of ``steps_per_execution`` steps) and the batches passed as a list, which
Keras's train function runs one by one through the same compiled step
(traced once more for it).

Example:
    >>> capture = OutsideCapture(DataSample(), model)
    >>> capture.switch_on()        # after the observer is installed
    >>> model.fit(x, y)            # the first batches land in capture.sample
    >>> capture.switch_off()
"""

from __future__ import annotations

import functools
import itertools

import numpy as np


class OutsideCapture:
    """Copies the first batches of a run into ``self.sample`` from the train function's input.

    The same interface as `SampleCapture` (``sample``, ``unavailable``,
    ``switch_on``, ``switch_off``, ``switch_off_when_full``).

    Example:
        >>> capture = OutsideCapture(DataSample(max_examples=256), model)
        >>> capture.switch_on(); model.fit(x, y, epochs=1); capture.sample.n
        256
    """

    def __init__(self, sample, model):
        import keras

        self.sample = sample
        self.model = model
        self.unavailable: str | None = None  # why nothing can be captured, in plain words
        self._on = False
        self._backend = keras.backend.backend()
        self._inner = None  # the train function the wrapper stands in front of
        self._wrapper = None

    def switch_on(self) -> None:
        """Start copying (wraps the model's train function; a no-op once the sample is full)."""
        self._on = not self.sample.full
        if not self._on:
            return
        why = self._why_not()
        if why is not None:
            self.unavailable, self._on = why, False
            return
        self._wrap()

    def switch_off(self) -> None:
        """Stop copying and take the wrapper off (only if it is still the model's train function)."""
        self._on = False
        model, wrapper = self.model, self._wrapper
        if wrapper is not None and model.__dict__.get("train_function") is wrapper:
            model.train_function = self._inner
        self._inner = self._wrapper = None

    def switch_off_when_full(self) -> bool:
        """Called at batch ends; True on the batch where it switched off."""
        if self._on and self.sample.full:
            self.switch_off()
            return True
        return False

    # ---- the wrapper ------------------------------------------------------------------
    def _why_not(self) -> str | None:
        model = self.model
        if getattr(model, "train_function", None) is None:
            return "the model had no train function when training began"
        return None

    def _wrap(self) -> None:
        model = self.model
        inner = model.train_function
        if inner is self._wrapper:
            return
        capture = self

        if self._backend == "jax":
            def train_function(state, iterator):
                if capture._on and not capture.sample.full:
                    iterator = _Tap(iterator, capture._keep)
                return inner(state, iterator)
        elif self._backend == "torch":
            def train_function(data):
                if capture._on and isinstance(data, (list, tuple)) and len(data) == 1:
                    capture._keep(data[0])
                return inner(data)
        else:
            per_call = max(1, int(getattr(model, "steps_per_execution", 1) or 1))

            def train_function(iterator):
                if not capture._on:
                    return inner(iterator)
                batches = list(itertools.islice(iterator, per_call))
                if not batches:  # the end of the data, as Keras's own call would say it
                    raise StopIteration
                for data in batches:
                    capture._keep(data)
                return inner(batches)

        self._inner, self._wrapper = inner, functools.wraps(inner)(train_function)
        model.train_function = self._wrapper

    def _keep(self, data) -> None:
        """Copy one batch into the sample; never raises (a failure switches the capture off, saying why)."""
        if not self._on or self.sample.full:
            return
        try:
            data = _canonical(data)
            if getattr(self.sample, "labels_only", False) and len(data) > 1:
                data = ((), data[1])  # no copy of the inputs (an image batch, on a GPU)
            flat = [_to_numpy(a) for a in _flatten(data)]
            if not flat or any(a.ndim == 0 or a.dtype == object for a in flat):
                raise ValueError("a batch part is not an array with one example per row")
            self.sample.add(flat, structure=_structure(data))
        except Exception as exc:
            self.unavailable = f"the batches could not be copied ({type(exc).__name__}: {str(exc)[:200]})"
            self.switch_off()


class _Tap:
    """An iterator that hands each item to ``keep`` on its way through."""

    def __init__(self, iterator, keep):
        self._iterator, self._keep = iterator, keep

    def __iter__(self):
        return self

    def __next__(self):
        item = next(self._iterator)
        self._keep(item)
        return item


def _canonical(data):
    """``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` of one batch as Keras hands it to the step."""
    import keras

    x, y, sw = keras.utils.unpack_x_y_sample_weight(data)
    return (x,) if y is None else ((x, y) if sw is None else (x, y, sw))


def _flatten(data) -> list:
    import keras

    return keras.tree.flatten(data)


def _structure(data):
    import keras

    return keras.tree.map_structure(lambda _: 0, data)


def _to_numpy(value) -> np.ndarray:
    """A host copy of one batch part (per-replica values of tf.distribute joined)."""
    import keras

    replicas = getattr(value, "values", None)
    if isinstance(replicas, tuple) and replicas and not isinstance(value, np.ndarray):
        return np.concatenate([_to_numpy(v) for v in replicas])
    return np.asarray(keras.ops.convert_to_numpy(value))

"""A bounded copy of the first real training batches, kept for the trials.

`SampleCapture` is called from inside the instrumented train step (see
`deeplocalize.probes`): while its switch is on, one ``tf.numpy_function``
copies the batch into a `DataSample`; once the sample is full the callback
turns the switch off and the step pays for one variable read. Capturing in
the step works alike for numpy arrays, ``tf.data`` and generators, because
Keras feeds all three to the step as tensors. A step compiled with XLA
cannot call Python, so there nothing is captured and the verification says
so (pass the data to `Diagnosis.verify` instead).

Example:
    >>> s = DataSample.from_arrays(x[:512], y[:512])
    >>> x_s, y_s, w_s = s.arrays()
    >>> s.n
    512
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


class DataSample:
    """The first batches of a run, at most ``max_examples`` examples and ``max_bytes`` bytes.

    Example:
        >>> s = DataSample(max_examples=256)
        >>> s.add([x_batch, y_batch], structure=(0, 0))
        False
        >>> x, y, w = s.arrays()
    """

    def __init__(self, max_examples: int = 2048, max_bytes: int = 64 * 2**20):
        self.max_examples = int(max_examples)
        self.max_bytes = int(max_bytes)
        self.structure = None  # nest structure of one batch, leaves are 0
        self._batches: list[list[np.ndarray]] = []
        self.n = 0
        self.nbytes = 0
        self.batch_size: int | None = None
        self.full = False

    @classmethod
    def from_arrays(cls, x, y=None, sample_weight=None, max_examples: int = 2048, max_bytes: int = 64 * 2**20):
        """A sample from arrays (or dicts/lists of arrays) already in memory: the first examples."""
        import keras

        data = (x,) if y is None else ((x, y) if sample_weight is None else (x, y, sample_weight))
        flat = [np.asarray(a) for a in keras.tree.flatten(data)]
        if not flat or any(a.ndim == 0 for a in flat):
            raise ValueError("verification needs arrays with one example per row, e.g. x of shape (n, features).")
        sample = cls(max_examples, max_bytes)
        sample.structure = keras.tree.map_structure(lambda _: 0, data)
        sample.add(flat)
        return sample

    def add(self, flat: list, structure=None) -> bool:
        """Keep one batch (its flattened arrays); returns True once the sample is full."""
        if self.full:
            return True
        if structure is not None and self.structure is None:
            self.structure = structure
        flat = [np.asarray(a) for a in flat]
        n = int(flat[0].shape[0]) if flat and flat[0].ndim else 0
        if n == 0:
            return self.full
        if self.batch_size is None:
            self.batch_size = n
        per_example = max(1, sum(a.nbytes for a in flat) // n)
        room = min(self.max_examples - self.n, (self.max_bytes - self.nbytes) // per_example)
        take = max(0, min(n, room))
        if take:
            kept = [np.array(a[:take]) for a in flat]  # a copy: the batch's memory belongs to the backend
            self._batches.append(kept)
            self.n += take
            self.nbytes += sum(a.nbytes for a in kept)
        if take < n or self.n >= self.max_examples:
            self.full = True
        return self.full

    def arrays(self):
        """``(x, y, sample_weight)`` with the batches joined; y and sample_weight may be None."""
        import keras

        if not self._batches:
            raise ValueError("the data sample is empty: no batch was captured.")
        joined = [np.concatenate(parts) for parts in zip(*self._batches)]
        data = keras.tree.pack_sequence_as(self.structure, joined)
        if not isinstance(data, tuple):
            return data, None, None
        data = data + (None,) * (3 - len(data))
        return data[0], data[1], data[2]

    def save(self, path) -> Path:
        """Write the sample to ``path`` (a pickle of plain numpy arrays)."""
        path = Path(path)
        with open(path, "wb") as f:
            pickle.dump({"structure": self.structure, "batches": self._batches, "batch_size": self.batch_size,
                         "max_examples": self.max_examples, "max_bytes": self.max_bytes}, f)
        return path

    @classmethod
    def load(cls, path) -> "DataSample":
        """Read a sample written by `save`."""
        with open(path, "rb") as f:
            state = pickle.load(f)
        sample = cls(state["max_examples"], state["max_bytes"])
        sample.structure, sample.batch_size = state["structure"], state["batch_size"]
        for batch in state["batches"]:
            sample._batches.append(batch)
            sample.n += int(batch[0].shape[0])
            sample.nbytes += sum(a.nbytes for a in batch)
        sample.full = True
        return sample


class SampleCapture:
    """Copies the first batches of a run into ``self.sample`` from inside the train step.

    Example:
        >>> capture = SampleCapture(DataSample())
        >>> capture.switch_on()            # outside any tf.function
        >>> on, take = capture.in_step(data, jit=False)  # while the train step is traced
        >>> capture.sample.full            # after some steps
        True
    """

    def __init__(self, sample: DataSample):
        self.sample = sample
        self.unavailable: str | None = None  # why nothing can be captured, in plain words
        self._active = None
        self._on = False  # a Python copy of the switch, so a full sample costs no variable read
        self._structure = None

    def switch_on(self) -> None:
        import tensorflow as tf

        self._on = not self.sample.full
        if self._active is None:
            self._active = tf.Variable(self._on, trainable=False, name="deeplocalize_capture")
        else:
            self._active.assign(self._on)

    def switch_off(self) -> None:
        self._on = False
        if self._active is not None:
            self._active.assign(False)

    def switch_off_when_full(self) -> bool:
        """Called at batch ends: one Python check, one assignment when the sample fills.
        True on the batch where it switched off."""
        if self._on and self.sample.full:
            self.switch_off()
            return True
        return False

    def in_step(self, data, jit: bool):
        """While the train step is traced: ``(on, take)``, a boolean tensor
        saying whether batches are still being kept and the function that
        copies this one out (for the step to run in a branch where ``on``
        holds); None where none can be (under XLA, sparse batches).

        Example:
            >>> on, take = capture.in_step(data, jit=False)
            >>> tf.cond(on, take, lambda: tf.constant(0, tf.int64))
        """
        import tensorflow as tf

        if self._active is None:
            return None
        if jit:
            self.unavailable = ("the train step is compiled with XLA (jit_compile=True), which cannot copy "
                                "batches out; pass data to diagnosis.verify(x=..., y=...)")
            return None
        flat = tf.nest.flatten(data)
        if not flat or not all(isinstance(t, tf.Tensor) for t in flat):
            self.unavailable = "the batches hold sparse or ragged tensors, which the sample cannot keep"
            return None
        self._structure = tf.nest.map_structure(lambda _: 0, data)
        structure = self._structure

        def store(*arrays):
            self.sample.add(list(arrays), structure=structure)
            return np.int64(self.sample.n)

        def take():
            return tf.numpy_function(store, flat, tf.int64, stateful=True)

        return self._active.read_value(), take

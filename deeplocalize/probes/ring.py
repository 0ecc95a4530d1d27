"""The ring buffer the instrumented step writes recorded steps into, and its read-back.

The graph keeps the last `RING_ROWS` recorded steps in one ``tf.Variable``
(one row a step: the per-layer statistics, then the per-step columns), plus
the first non-finite step's row until it is read. The callback reads them a
batch at a time, so the full tensors never leave the graph.

Example:
    >>> layer_row, columns = probes.read()[-1]
    >>> columns["step"]
    0.0
"""

from __future__ import annotations

import numpy as np

from deeplocalize.trace import LAYER_STATS

# Global per-step columns written by the graph, besides the per-input ones.
_BASE_COLUMNS = ("step", "nonfinite", "loss", "lr", "batch_size")
MAX_COLUMNS = 96  # per-step columns kept: the base ones, then 4 per input and 8 per target
RING_ROWS = 32  # recorded steps the graph holds until the callback reads them, a batch at a time


class RingBuffer:
    """The variables the step writes into and their read-back; mixed into `Probes`.

    Example:
        >>> probes.is_sampled(0), probes.read_fault()
        (True, None)
    """

    def _step_counter(self):
        return self._counter.read_value()

    def _create_buffers(self):
        """Variables are made once, outside any tf.function (Keras traces the
        train step more than once for some models)."""
        tf = self._tf
        if self._counter is None:
            self._counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="deeplocalize_step")
            self._every_var = tf.Variable(self.every, dtype=tf.int64, trainable=False, name="deeplocalize_every")
            self._dense_var = tf.Variable(self.dense_steps, dtype=tf.int64, trainable=False, name="deeplocalize_dense")
            width = self._n_layer + MAX_COLUMNS
            self.buffer = tf.Variable(tf.zeros([RING_ROWS, width], tf.float32), trainable=False,
                                      name="deeplocalize_probe")
            self._rows = tf.Variable(0, dtype=tf.int64, trainable=False, name="deeplocalize_rows")
            self.fault_buffer = tf.Variable(tf.zeros([width], tf.float32), trainable=False, name="deeplocalize_fault")
            self._fault_step = tf.Variable(-1.0, trainable=False, name="deeplocalize_fault_step")

    # ---- reading -----------------------------------------------------------
    def is_sampled(self, step: int) -> bool:
        """Whether the graph records full statistics on ``step`` (besides
        non-finite steps), so the callback reads only when there is news."""
        return step < self.dense_steps or step % self.every == 0

    def fault_kept(self) -> bool:
        """Whether the graph kept a non-finite step that was not read yet
        (free, but under XLA a read of one variable)."""
        if self.fault_waiting:
            return True
        return bool(getattr(self.model, "jit_compile", False)) and float(self._fault_step.numpy()) >= 0

    def read_fault(self):
        """The statistics of the first step with a NaN/Inf, or None."""
        self.fault_waiting = False
        step = float(self._fault_step.numpy())
        if step < 0:
            return None
        return self._unpack(self.fault_buffer.numpy(), step)

    def clear_fault(self) -> None:
        """Forget the kept step (the sentinel's sum overflowed on huge but
        finite values), so that the next non-finite step is kept instead."""
        self._fault_step.assign(-1.0)

    def _unpack(self, values, step=None):
        values = values.astype(float)
        n = self._n_layer
        layer_row = values[:n].reshape(len(self.layers), len(LAYER_STATS))
        columns = dict(zip(self.columns, values[n: n + len(self.columns)].tolist()))
        if step is not None:
            columns["step"] = float(step)
        return layer_row, columns

    def read(self) -> list:
        """The recorded steps the graph holds, oldest first: a list of
        ``(layer_row, columns)``.

        The graph keeps the last `RING_ROWS` recorded steps, so the callback
        reads them a batch at a time. ``layer_row`` has shape
        ``(n_layers, len(LAYER_STATS))`` in the order of ``self.layers``;
        ``columns["step"]`` says which step it was (not every step is
        recorded, see ``every``), and ``columns["nonfinite"]`` is 1 when the
        step's sentinel saw a NaN or Inf (then its counts are exact).
        """
        values = self.buffer.numpy()
        steps = values[:, self._n_layer]
        return [self._unpack(values[r]) for r in np.argsort(steps, kind="stable") if steps[r] >= 0]

"""Input and label statistics of the batches, computed on the host.

The in-step probes compute these columns inside TensorFlow's compiled step
(`deeplocalize.probes.stats`). Where the run is watched from outside its
step (JAX, PyTorch, a model's own ``train_step``, ``run_eagerly=True``,
``tf.distribute``), `BatchTap` takes batches as the train function receives
them (through `deeplocalize.verify.outside_capture.OutsideCapture`) and
computes the same columns with numpy: the first batch's, so the pre-flight
checks of inputs and labels (`deeplocalize.checks.preflight.check_first_batch`)
run there too, and the labels' of the later batches it is asked for (the
recorded steps'), which the end-of-run checks compare the loss with.

Example:
    >>> tap = BatchTap()
    >>> tap.add([np.ones((4, 3)), np.array([0, 1, 1, 0])], structure=(0, 0))
    >>> columns = tap.take(); columns["x0_max"], columns["y0_int_frac"], columns["batch_size"]
    (1.0, 1.0, 4.0)
"""

from __future__ import annotations

import math

import numpy as np


def batch_columns(x_parts: list, y_parts: list, inputs: bool = True) -> dict[str, float]:
    """``batch_size`` and ``x{k}_min/max/mean/std`` per numeric input (unless
    ``inputs`` is False) and ``y{k}_min/max/mean/sq/int_frac/rowsum/width/neg_sq``
    per numeric target, named as the in-step probes name them.

    Example:
        >>> batch_columns([np.array([[0.0, 255.0]])], [])["x0_max"]
        255.0
    """
    columns: dict[str, float] = {}
    x_parts = [np.asarray(a) for a in x_parts]
    if inputs and x_parts and x_parts[0].ndim:  # (a row with a batch size has its batch inspected)
        columns["batch_size"] = float(x_parts[0].shape[0])
    for k, t in enumerate(x_parts if inputs else []):
        if not (_numeric(t) and t.size):
            continue
        t = t.astype(np.float64)
        columns.update({f"x{k}_min": float(np.min(t)), f"x{k}_max": float(np.max(t)),
                        f"x{k}_mean": float(np.mean(t)), f"x{k}_std": float(np.std(t))})
    for k, t in enumerate(np.asarray(a) for a in y_parts):
        if not ((_numeric(t) or t.dtype == bool) and t.size):
            continue
        t = t.astype(np.float64)
        wide = t.ndim >= 2
        columns.update({
            f"y{k}_min": float(np.min(t)), f"y{k}_max": float(np.max(t)), f"y{k}_mean": float(np.mean(t)),
            f"y{k}_sq": float(np.mean(t * t)),
            f"y{k}_int_frac": float(np.mean(t == np.round(t))),
            f"y{k}_rowsum": float(np.mean(np.sum(t, axis=-1))) if wide else math.nan,
            f"y{k}_width": float(t.shape[-1]) if wide else 1.0,
            f"y{k}_neg_sq": float(np.mean(np.minimum(t, 0.0) ** 2)),
        })
    return columns


def _numeric(t: np.ndarray) -> bool:
    return np.issubdtype(t.dtype, np.floating) or np.issubdtype(t.dtype, np.integer)


def tap(model):
    """A `BatchTap` filled from ``model``'s train function (an
    `OutsideCapture`, switched on; the batches pass on unchanged), or None
    where that fails: input statistics are a bonus, never a reason not to
    watch. Put on last, so taken off first: the model's train function is
    left as it was found.

    Example:
        >>> capture = tap(model); model.fit(x, y); capture.sample.take()["x0_max"]
        255.0
    """
    from deeplocalize.verify.outside_capture import OutsideCapture

    try:
        capture = OutsideCapture(BatchTap(), model)
        capture.switch_on()
        return capture
    except Exception:
        return None


class BatchTap:
    """A sink for `OutsideCapture` (it reads ``full`` and calls ``add``) that
    keeps no data: `batch_columns` of the first batch, then the labels'
    columns of each later batch it is asked for (``want = True``), until
    `take` hands them over.

    Example:
        >>> tap = BatchTap(); tap.full
        False
    """

    def __init__(self):
        self.columns: dict[str, float] | None = None
        self.want = True  # the next batch's columns are wanted
        self._first = True

    @property
    def full(self) -> bool:
        return not self.want

    @property
    def labels_only(self) -> bool:
        """After the first batch only the labels are wanted (`OutsideCapture` copies no inputs)."""
        return not self._first

    def add(self, flat: list, structure=None) -> None:
        """One batch as `OutsideCapture` hands it over: its arrays, flattened
        from ``structure`` (``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``)."""
        import keras

        x, y = (keras.tree.pack_sequence_as(structure, flat) + (None,))[:2] if structure is not None else (flat, None)
        self.columns = batch_columns(keras.tree.flatten(x), keras.tree.flatten(y) if y is not None else [],
                                     inputs=self._first)
        self.want = self._first = False

    def take(self) -> dict[str, float]:
        """The columns of the last batch added, once ({} when none has been since)."""
        columns, self.columns = self.columns, None
        return columns or {}

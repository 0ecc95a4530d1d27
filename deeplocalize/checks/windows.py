"""Helpers the trend and end-of-run checks share: finite values, medians
over windows of recorded steps, the step and epoch of a trace row, and
JSON-friendly evidence.

Example:
    >>> _rolling_medians(np.arange(8.0), 4)
    [5.5]
"""

from __future__ import annotations

import numpy as np

from deeplocalize.trace import Trace


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def _step(trace: Trace, row: int) -> int:
    steps = trace.column("step")
    if 0 <= row < len(steps) and np.isfinite(steps[row]):
        return int(steps[row])
    return int(row)


def _epoch(trace: Trace, row: int):
    epochs = trace.column("epoch")
    if 0 <= row < len(epochs) and np.isfinite(epochs[row]):
        return int(epochs[row])
    return None


def _rolling_medians(values: np.ndarray, w: int) -> list[float]:
    """Medians of windows after the first one, half-overlapping, always
    including the most recent window."""
    starts = list(range(w, values.size - w + 1, max(1, w // 2)))
    if values.size >= 2 * w and (not starts or starts[-1] != values.size - w):
        starts.append(values.size - w)
    return [float(np.median(values[i: i + w])) for i in starts]


def _enough(trace: Trace, config: dict, factor: int = 2) -> bool:
    return trace.n_steps >= max(factor * config["window"], config["warmup_steps"])


def _last_window(values: np.ndarray, w: int) -> np.ndarray:
    return _finite(values[-w:])


def _weighted(trace: Trace) -> list[int]:
    w = trace.stat("w_norm")
    return [i for i in range(len(trace.layers)) if np.isfinite(w[:, i]).any() and trace.layers[i].trainable]


def _ev(**kw) -> dict:
    return {k: (float(v) if isinstance(v, (np.floating, np.integer)) else v) for k, v in kw.items()}

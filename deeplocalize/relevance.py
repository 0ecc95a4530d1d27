"""Layer relevance: how much each layer's own behaviour explains a bad run.

DeepLocalize localizes a fault at the layer whose values go wrong first. For
symptoms that belong to the whole run (a loss that does not fall), we score
every layer by how far its recorded statistics are from those of a layer
that learns: dead units, saturated outputs, a gradient far smaller than its
neighbours', weights that do not move. The scores are in [0, 1] and add up
several independent pieces of evidence.

Example:
    >>> scores = layer_relevance(trace)
    >>> max(scores, key=scores.get)
    'dense_2'
"""

from __future__ import annotations

import numpy as np

from deeplocalize.trace import Trace
from deeplocalize.vocab import SQUASHING, ZERO_OUTPUT


def _tail_median(values: np.ndarray, w: int) -> float:
    tail = values[-w:]
    tail = tail[np.isfinite(tail)]
    return float(np.median(tail)) if tail.size else float("nan")


def layer_relevance(trace: Trace, window: int = 20) -> dict[str, float]:
    """Anomaly score in [0, 1] per layer name (0: behaves like a learning layer)."""
    if trace.n_steps == 0 or not trace.layers:
        return {}
    w = min(window, trace.n_steps)
    dead = trace.stat("act_dead_frac")
    sat = trace.stat("act_sat_frac")
    grad = trace.stat("gw_norm")
    wnorm = trace.stat("w_norm")
    ratio = trace.stat("update_ratio")
    rel_grad = {}
    for i in range(len(trace.layers)):
        g, n = _tail_median(grad[:, i], w), _tail_median(wnorm[:, i], w)
        if np.isfinite(g) and np.isfinite(n) and n > 0:
            rel_grad[i] = np.log10(g / n + 1e-30)
    typical = float(np.median(list(rel_grad.values()))) if rel_grad else 0.0

    scores: dict[str, float] = {}
    for i, layer in enumerate(trace.layers):
        score = 0.0
        if layer.activation in ZERO_OUTPUT:
            d = _tail_median(dead[:, i], w)
            score += max(0.0, d - 0.2) / 0.8 if np.isfinite(d) else 0.0
        if layer.activation in SQUASHING or (layer.activation in ("softmax", "sigmoid") and layer.is_output):
            s = _tail_median(sat[:, i], w)
            score += max(0.0, s - 0.3) / 0.7 if np.isfinite(s) else 0.0
        if i in rel_grad and len(rel_grad) >= 2:
            score += min(1.0, max(0.0, (typical - rel_grad[i]) - 2.0) / 4.0)  # >2 decades below typical
        r = _tail_median(ratio[:, i], w)
        if np.isfinite(r) and r < 1e-7:
            score += 0.5
        scores[layer.name] = round(min(1.0, score), 4)
    return scores


def most_relevant(trace: Trace, threshold: float = 0.3, window: int = 20) -> str | None:
    """The layer with the highest relevance score, if it reaches ``threshold``;
    ties go to the earlier layer (where the anomaly starts)."""
    scores = layer_relevance(trace, window)
    if not scores:
        return None
    best = max(scores.values())
    if best < threshold:
        return None
    return next(name for name in trace.layer_names if scores.get(name) == best)

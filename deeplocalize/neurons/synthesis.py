"""Input synthesis that drives selected neurons up, within an L-infinity ball and the input range.

* :func:`gradient_ascent` (DeepFault, and NP-SBFL-GA with ``iterations=3``): each step adds
  ``clip(step_size * grad, -d, d)`` of the mean pre-activation of the selected neurons.
* :func:`mga` (NP-SBFL-MGA): multi-stage ascent with Adam, layer by layer, raising the current
  layer's path neurons while keeping earlier layers' high and of similar magnitude.

After every step the input is projected onto ``[seed - d, seed + d]`` and ``bounds``
(``distance=None`` drops the ball, as in the NP-SBFL reference). Neuron values are
pre-activations (so an inactive ReLU unit still has a gradient); Conv2D channels are
spatial means. A selection is a DataFrame with ``site`` and ``neuron`` columns.

>>> x_new = gradient_ascent(model, seeds, top, step_size=1.0, distance=0.1)   # doctest: +SKIP
>>> float(np.abs(x_new - seeds).max()) <= 0.1                               # doctest: +SKIP
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import ascent


def project(x, seeds, distance: float | None, bounds=(0.0, 1.0)) -> np.ndarray:
    """Clip ``x`` to the L-infinity ball of radius ``distance`` around ``seeds`` and to ``bounds``.

    >>> [round(float(v), 6) for v in project(np.array([0.9, 0.1]), np.array([0.5, 0.2]), 0.1)]
    [0.6, 0.1]
    """
    x = np.asarray(x, np.float32)
    if distance is not None:
        x = np.clip(x, seeds - distance, seeds + distance)
    lo, hi = bounds
    return np.clip(x, lo, hi).astype(np.float32)


def gradient_ascent(model, seeds, selection: pd.DataFrame, *, step_size: float = 1.0,
                    distance: float | None = 0.1, iterations: int = 1, bounds=(0.0, 1.0),
                    ball: bool = True) -> np.ndarray:
    """DeepFault-style synthesis (one step by default; NP-SBFL-GA uses 3).

    Each step adds ``clip(step_size * grad, -d, d)``; ``ball=False`` is the references' rule
    (no projection onto the ball, so 3 steps can move an input by 3 * d).

    >>> gradient_ascent(model, seeds, top, iterations=3).shape == seeds.shape   # doctest: +SKIP
    True
    """
    masks = ascent.selection_masks(selection, ascent.units_of(model), len(seeds))
    d = np.inf if distance is None else distance
    return ascent.ga(model, seeds, masks, step_size=step_size, distance=d, iterations=iterations,
                     ball=ball and distance is not None, bounds=bounds)


def mga(model, seeds, selection: pd.DataFrame, *, lr: float = 0.01, iterations: int = 10,
        distance: float | None = 0.1, bounds=(0.0, 1.0)) -> np.ndarray:
    """Multi-stage gradient ascent (NP-SBFL-MGA). Per outer iteration a fresh Adam state; per
    stage i one Adam step on L_i = -S_i + sum_{l<i} (-S_l + |S_i - S_l|), S_l = sum of the
    path neurons of layer l. ``distance=None`` is the reference (no bound).

    >>> x_new = mga(model, seeds, path, distance=0.1)   # doctest: +SKIP
    """
    masks = ascent.selection_masks(selection, ascent.units_of(model), len(seeds))
    return ascent.mga(model, seeds, masks, lr=lr, iterations=iterations, distance=distance, bounds=bounds)


def random_selection(table: pd.DataFrame, like: pd.DataFrame, rng=None) -> pd.DataFrame:
    """Random neurons with the same count per layer as ``like``, avoiding ``like``'s neurons
    (the control of DeepFault's evaluation).

    >>> t = pd.DataFrame({"layer": ["a"] * 4, "site": [0] * 4, "neuron": range(4)})
    >>> sorted(random_selection(t, t.iloc[:2], np.random.default_rng(0))["neuron"])
    [2, 3]
    """
    rng = np.random.default_rng(rng)
    taken = set(zip(like["site"], like["neuron"]))
    free = np.array([(a, b) not in taken for a, b in zip(table["site"], table["neuron"])], bool)
    parts = []
    for s, n in like.groupby("site").size().items():
        pool = table[(table["site"].to_numpy() == s) & free]
        if len(pool) == 0:
            pool = table[table["site"] == s]
        parts.append(pool.iloc[rng.choice(len(pool), size=min(n, len(pool)), replace=False)])
    return pd.concat(parts).sort_values(["site", "neuron"])

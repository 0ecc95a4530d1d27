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

from ._chain import input_gradient


def project(x, seeds, distance: float | None, bounds=(0.0, 1.0)) -> np.ndarray:
    """Clip ``x`` to the L-infinity ball of radius ``distance`` around ``seeds`` and to ``bounds``.

    >>> project(np.array([0.9, 0.1]), np.array([0.5, 0.2]), 0.1).tolist()
    [0.6, 0.1]
    """
    x = np.asarray(x, np.float32)
    if distance is not None:
        x = np.clip(x, seeds - distance, seeds + distance)
    lo, hi = bounds
    return np.clip(x, lo, hi).astype(np.float32)


def _groups(selection: pd.DataFrame):
    if len(selection) == 0:
        raise ValueError("The neuron selection is empty; pick k >= 1 neurons first.")
    return [(int(s), g["neuron"].to_numpy().astype(int))
            for s, g in selection.groupby("site", sort=True)]


def _mean_objective(selection):
    import tensorflow as tf

    groups = _groups(selection)
    total = sum(len(n) for _, n in groups)

    def objective(pre, out):
        return tf.add_n([tf.reduce_sum(tf.gather(pre[s], n, axis=1), axis=1) for s, n in groups]) / total
    return objective


def gradient_ascent(model, seeds, selection: pd.DataFrame, *, step_size: float = 1.0,
                    distance: float | None = 0.1, iterations: int = 1, bounds=(0.0, 1.0),
                    batch_size: int = 256) -> np.ndarray:
    """DeepFault-style synthesis (one step by default; NP-SBFL-GA uses 3).

    >>> gradient_ascent(model, seeds, top, iterations=3).shape == seeds.shape   # doctest: +SKIP
    True
    """
    seeds = np.asarray(seeds, np.float32)
    objective = _mean_objective(selection)
    out = []
    for b in range(0, len(seeds), batch_size):
        s = seeds[b:b + batch_size]
        x = s.copy()
        for _ in range(iterations):
            g = input_gradient(model, x, objective)
            step = step_size * g if distance is None else np.clip(step_size * g, -distance, distance)
            x = project(x + step, s, distance, bounds)
        out.append(x)
    return np.concatenate(out)


def mga(model, seeds, selection: pd.DataFrame, *, lr: float = 0.01, iterations: int = 10,
        distance: float | None = 0.1, bounds=(0.0, 1.0), batch_size: int = 256) -> np.ndarray:
    """Multi-stage gradient ascent (NP-SBFL-MGA). Per outer iteration a fresh Adam state; per
    stage i one Adam step on L_i = -S_i + sum_{l<i} (-S_l + |S_i - S_l|), S_l = sum of the
    path neurons of layer l.

    >>> x_new = mga(model, seeds, path, distance=0.1)   # doctest: +SKIP
    """
    import tensorflow as tf

    seeds = np.asarray(seeds, np.float32)
    groups = _groups(selection)

    def stage_loss(i):
        def loss(pre, out):
            sums = [tf.reduce_sum(tf.gather(pre[s], n, axis=1), axis=1) for s, n in groups[: i + 1]]
            total = -sums[i]
            for sl in sums[:i]:
                total = total - sl + tf.abs(sums[i] - sl)
            return -total  # input_gradient ascends; we minimise the loss
        return loss

    objectives = [stage_loss(i) for i in range(len(groups))]
    b1, b2, tiny = 0.9, 0.999, 1e-7
    out = []
    for b in range(0, len(seeds), batch_size):
        s = seeds[b:b + batch_size]
        x = s.copy()
        for _ in range(iterations):
            m, v, t = np.zeros_like(x), np.zeros_like(x), 0
            for obj in objectives:
                g = -input_gradient(model, x, obj)  # gradient of the loss
                t += 1
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                x = x - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + tiny)
                x = project(x, s, distance, bounds)
        out.append(x)
    return np.concatenate(out)


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

"""Batched input synthesis on per-input neuron masks: one compiled gradient for many selections.

A *mask* is a list with one float array per analysed site, shape (B, units): row b marks the
neurons that input b must drive up. Several selections (e.g. one suspicious and 19 random
ones) are synthesized in one batch by stacking their seeds and masks.

Two update rules, each in a reference form and a bounded form:

* :func:`ga` (DeepFault: 1 iteration; NP-SBFL-GA: 3): ``x += clip(step * grad, -d, d)``, then
  clip to ``bounds``. ``ball=False`` is the reference rule (the per-iteration clip is the only
  limit, so ``iterations`` steps can move an input by up to ``iterations * d``);
  ``ball=True`` also projects onto the L-inf ball of radius ``d`` around the seed.
* :func:`mga` (NP-SBFL-MGA): per outer iteration a fresh Adam state; per stage i (sites in
  forward order) one Adam step on ``L_i = -S_i + sum_{l<i} (-S_l + |S_i - S_l|)``, S_l = the
  sum of the marked pre-activations of site l. ``distance=None`` is the reference (no bound).

Objectives use pre-activations (an inactive ReLU unit still has a gradient); a Conv2D
channel's value is its spatial mean.

Example:
    >>> masks = selection_masks(top, units_of(model), n=len(seeds))   # doctest: +SKIP
    >>> x_new = ga(model, seeds, masks, step_size=1.0, distance=0.1, iterations=3)   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._chain import analysed_sites, site_values

_CACHE: dict = {}


def units_of(model) -> list[int]:
    """Number of neurons of each analysed site.

    Example:
        >>> units_of(model)   # doctest: +SKIP
        [30, 30, 30, 30, 30]
    """
    return [s.units for s in analysed_sites(model)]


def selection_masks(selection: pd.DataFrame, units: list[int], n: int = 1) -> list[np.ndarray]:
    """Masks (one (n, units) array per site) marking ``selection``'s neurons on every row.

    Example:
        >>> m = selection_masks(pd.DataFrame({"site": [1], "neuron": [2]}), [2, 3], n=2)
        >>> [a.tolist() for a in m]
        [[[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]]
    """
    if len(selection) == 0:
        raise ValueError("The neuron selection is empty; pick k >= 1 neurons first.")
    masks = [np.zeros((n, u), np.float32) for u in units]
    for s, j in zip(selection["site"].to_numpy(int), selection["neuron"].to_numpy(int)):
        masks[s][:, j] = 1.0
    return masks


def stack_masks(parts: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Concatenate several mask lists along the batch axis.

    Example:
        >>> [a.shape for a in stack_masks([[np.ones((2, 3))], [np.zeros((1, 3))]])]
        [(3, 3)]
    """
    return [np.concatenate(col).astype(np.float32) for col in zip(*parts)]


def _functions(model):
    key = id(model)
    if key in _CACHE and _CACHE[key][0] is model:
        return _CACHE[key][1]
    import tensorflow as tf

    sites = analysed_sites(model)

    def sums(x, masks):
        pre, _ = site_values(model, x, sites, pre=True)
        return tf.stack([tf.reduce_sum(p * m, 1) for p, m in zip(pre, masks)], 1)

    @tf.function(reduce_retracing=True)
    def grad_mean(x, masks):
        with tf.GradientTape() as tape:
            tape.watch(x)
            count = tf.add_n([tf.reduce_sum(m, 1) for m in masks])
            value = tf.reduce_sum(tf.reduce_sum(sums(x, masks), 1) / tf.maximum(count, 1.0))
        return tape.gradient(value, x)

    @tf.function(reduce_retracing=True)
    def grad_stage(x, masks, stage, lower):
        with tf.GradientTape() as tape:
            tape.watch(x)
            s = sums(x, masks)
            si = tf.reduce_sum(s * stage, 1, keepdims=True)
            loss = -si[:, 0] + tf.reduce_sum(lower * (-s + tf.abs(si - s)), 1)
            value = tf.reduce_sum(loss)
        return tape.gradient(value, x)

    if len(_CACHE) > 4:
        _CACHE.clear()
    _CACHE[key] = (model, (grad_mean, grad_stage))
    return grad_mean, grad_stage


def _batches(seeds, masks, batch_size):
    """Yield (seed batch, tuple of mask tensors) after checking one mask row per seed."""
    import tensorflow as tf

    seeds = np.asarray(seeds, np.float32)
    masks = [np.asarray(m, np.float32) for m in masks]
    if any(m.shape[0] != len(seeds) for m in masks):
        raise ValueError(f"Every mask needs one row per seed ({len(seeds)}); got "
                         f"{[m.shape[0] for m in masks]}.")
    for b in range(0, len(seeds), batch_size):
        yield seeds[b:b + batch_size], tuple(tf.constant(a[b:b + batch_size]) for a in masks)


def ga(model, seeds, masks, *, step_size: float = 1.0, distance: float = 0.1, iterations: int = 1,
       ball: bool = True, bounds=(0.0, 1.0), batch_size: int = 2048) -> np.ndarray:
    """Gradient ascent on the mean marked pre-activation (see module doc for ``ball``).

    Example:
        >>> x_ref = ga(model, seeds, masks, iterations=3, ball=False)   # doctest: +SKIP
        >>> float(abs(x_ref - seeds).max()) <= 0.3 + 1e-6               # doctest: +SKIP
        True
    """
    import tensorflow as tf

    grad_mean, _ = _functions(model)
    out = []
    for s, m in _batches(seeds, masks, batch_size):
        x = s.copy()
        for _ in range(iterations):
            g = grad_mean(tf.constant(x), m).numpy()
            x = x + np.clip(step_size * g, -distance, distance)
            if ball:
                x = np.clip(x, s - distance, s + distance)
            x = np.clip(x, *bounds).astype(np.float32)
        out.append(x)
    return np.concatenate(out)


def stages(masks) -> list[int]:
    """The sites that carry marked neurons, in forward order (MGA's stages).

    Example:
        >>> stages([np.zeros((1, 2)), np.ones((1, 3))])
        [1]
    """
    return [i for i, m in enumerate(masks) if np.asarray(m).any()]


def mga(model, seeds, masks, *, lr: float = 0.01, iterations: int = 10, distance: float | None = None,
        bounds=(0.0, 1.0), eps: float = 1e-8, batch_size: int = 2048) -> np.ndarray:
    """Multi-stage gradient ascent with Adam (fresh state per outer iteration), see module doc.

    Example:
        >>> x_ref = mga(model, seeds, masks)                  # reference: no bound   # doctest: +SKIP
        >>> x_bnd = mga(model, seeds, masks, distance=0.1)    # doctest: +SKIP
    """
    import tensorflow as tf

    _, grad_stage = _functions(model)
    order = stages(masks)
    n = len(masks)
    plan = [(tf.constant(np.eye(n, dtype=np.float32)[i]),
             tf.constant(np.isin(np.arange(n), order[:j]).astype(np.float32)))
            for j, i in enumerate(order)]
    b1, b2 = 0.9, 0.999
    out = []
    for s, m in _batches(seeds, masks, batch_size):
        x = s.copy()
        for _ in range(iterations):
            mom, vel, t = np.zeros_like(x), np.zeros_like(x), 0
            for stage, lower in plan:
                g = grad_stage(tf.constant(x), m, stage, lower).numpy()
                t += 1
                mom = b1 * mom + (1 - b1) * g
                vel = b2 * vel + (1 - b2) * g * g
                x = x - lr * (mom / (1 - b1 ** t)) / (np.sqrt(vel / (1 - b2 ** t)) + eps)
                if distance is not None:
                    x = np.clip(x, s - distance, s + distance)
                x = np.clip(x, *bounds).astype(np.float32)
        out.append(x)
    return np.concatenate(out)

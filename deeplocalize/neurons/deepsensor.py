"""DeepSensor: excitable neurons by sampled Shapley values, and tests that excite them.

Shapley game (one per analysed layer, per seed): the players are the layer's neurons,
the payoff of a coalition is the cross-entropy loss of the model when the coalition's
neurons take their values under a small random perturbation of the seed
(uniform in [-delta, delta], clipped to the input range) and the others keep their
clean values. Monte Carlo permutation sampling: for ``n_permutations`` random orders,
switch neurons one by one and credit each with its marginal change of loss. Values are
averaged over seeds; a Conv2D channel is switched as a whole.

Test generation is gradient-based (documented choice; the paper uses particle swarm):
signed gradient ascent on a smooth count of excited neurons, sum of
sigmoid((dz_j - tau * scale_j) / (0.25 * scale_j)) where dz_j is the change of neuron j's
pre-activation from the seed and scale_j its standard deviation over the data; the
iterate with the most excited neurons (dz_j > tau * scale_j) is kept. Every iterate is
projected onto the L-infinity ball of radius ``distance`` and the input range.

>>> table = shapley_values(model, x[:20], y[:20])            # doctest: +SKIP
>>> top = excitable_neurons(table, k=10)                     # doctest: +SKIP
>>> x_new, n_excited = generate(model, seeds, top)           # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._chain import analysed_sites, forward, input_gradient, labels_of, layers_of, site_values
from .spectra import neuron_table
from .synthesis import project


def _head(layers, start, a):
    for layer in layers[start:]:
        a = layer(a, training=False)
    return a


def shapley_values(model, x, y=None, *, delta: float = 0.1, n_permutations: int = 8,
                   bounds=(0.0, 1.0), seed: int = 0) -> pd.DataFrame:
    """Mean sampled Shapley value of every hidden neuron (column ``shapley``), its mean
    absolute value, and ``scale`` (std of its pre-activation over ``x``).

    Without ``y`` the loss uses the predicted class of the clean input.

    >>> shapley_values(model, x[:10], y[:10], n_permutations=4).sort_values("shapley").tail(3)  # doctest: +SKIP
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    x = np.asarray(x, np.float32)
    sites, layers = analysed_sites(model), layers_of(model)
    noisy = project(x + rng.uniform(-delta, delta, x.shape), x, None, bounds)
    clean_in, clean_out = forward(model, x)
    noisy_in, _ = forward(model, noisy)
    lab = np.asarray(clean_out).argmax(1) if y is None else labels_of(y)
    per_site = []
    for s in sites:
        start = s.value_index + 1
        a, b = np.asarray(clean_in[start]), np.asarray(noisy_in[start])
        n = s.units
        phi = np.zeros((len(x), n))
        for i in range(len(x)):
            ranks = np.argsort(rng.random((n_permutations, n)), axis=1)  # permutations
            pos = np.argsort(ranks, axis=1)  # position of each neuron in its permutation
            steps = np.arange(n + 1)[None, :, None]
            mask = (pos[:, None, :] < steps).astype(np.float32).reshape(-1, n)  # (P*(n+1), n)
            shape = (-1,) + (1,) * (a.ndim - 2) + (n,)
            batch = a[i][None] + mask.reshape(shape) * (b[i] - a[i])[None]
            probs = _head(layers, start, tf.convert_to_tensor(batch, tf.float32))
            loss = -np.log(np.clip(np.asarray(probs)[:, lab[i]], 1e-12, None))
            loss = loss.reshape(n_permutations, n + 1)
            marg = np.diff(loss, axis=1)  # marginal of the neuron switched at each step
            np.add.at(phi[i], ranks.reshape(-1), marg.reshape(-1) / n_permutations)
        per_site.append(phi)
    phi = np.concatenate(per_site, axis=1)
    return neuron_table(model, sites).assign(shapley=phi.mean(0), abs_shapley=np.abs(phi).mean(0),
                                             scale=pre_scale(model, x))


def pre_scale(model, x, batch_size: int = 256) -> np.ndarray:
    """Standard deviation of every hidden neuron's pre-activation over ``x`` (plus 1e-6).

    >>> pre_scale(model, x[:100]).shape   # doctest: +SKIP
    (96,)
    """
    x = np.asarray(x, np.float32)
    pre = []
    for b0 in range(0, len(x), batch_size):
        vals, _ = site_values(model, x[b0:b0 + batch_size], pre=True)
        pre.append(np.concatenate([np.asarray(v) for v in vals], axis=1))
    return np.concatenate(pre).std(0) + 1e-6


def excitable_neurons(table: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """The k neurons with the largest mean Shapley value (they raise the loss most).

    >>> t = pd.DataFrame({"site": [0, 0], "neuron": [0, 1], "shapley": [0.1, 0.5], "scale": [1, 1]})
    >>> excitable_neurons(t, 1)["neuron"].tolist()
    [1]
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    out = table.sort_values("shapley", ascending=False, kind="stable").head(k).copy()
    out["score"] = out["shapley"]
    return out


def generate(model, seeds, excitable: pd.DataFrame, *, distance: float = 0.1, steps: int = 10,
             step_size: float | None = None, tau: float = 0.5, bounds=(0.0, 1.0)):
    """Tests from ``seeds`` that excite as many ``excitable`` neurons as possible.

    Returns (inputs, number of excited neurons per input).

    >>> x_new, n = generate(model, seeds, top, distance=0.1)   # doctest: +SKIP
    """
    import tensorflow as tf

    seeds = np.asarray(seeds, np.float32)
    groups = [(int(s), g["neuron"].to_numpy().astype(int), g["scale"].to_numpy().astype(np.float32))
              for s, g in excitable.groupby("site", sort=True)]
    step_size = distance / 4 if step_size is None else step_size

    def pre_of(x):
        vals, _ = site_values(model, x, pre=True)
        return [np.asarray(tf.gather(vals[s], n, axis=1)) for s, n, _ in groups]

    base = pre_of(seeds)

    def n_excited(x):
        return sum(((v - b0) > tau * sc).sum(1) for v, b0, (_, _, sc) in zip(pre_of(x), base, groups))

    def smooth(pre, out):
        terms = [tf.reduce_sum(tf.sigmoid((tf.gather(pre[s], n, axis=1) - b0 - tau * sc) / (0.25 * sc)), axis=1)
                 for (s, n, sc), b0 in zip(groups, base)]
        return tf.add_n(terms)

    x, best, best_n = seeds.copy(), seeds.copy(), n_excited(seeds)
    for _ in range(steps):
        g = input_gradient(model, x, smooth)
        x = project(x + step_size * np.sign(g), seeds, distance, bounds)
        n = n_excited(x)
        better = n >= best_n
        best[better], best_n = x[better], np.maximum(n, best_n)
    return best, best_n

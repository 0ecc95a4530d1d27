"""The reference-setting synthesis follows the references' update rules (on linear nets,
where the gradients can be written down by hand)."""

import numpy as np
import pandas as pd
import pytest

from deeplocalize.neurons import ascent


@pytest.fixture(scope="module")
def linear_net(keras):
    """Two linear hidden layers: every site's pre-activation is an affine function of x."""
    keras.utils.set_random_seed(5)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(3),
                          keras.layers.Dense(2, activation="softmax")])
    rng = np.random.default_rng(5)
    w0 = rng.normal(size=(4, 3)).astype(np.float32)
    w0[np.abs(w0) < 0.2] = 0.5  # no zero gradient component
    m.layers[0].kernel.assign(w0)
    m.layers[1].kernel.assign(rng.normal(size=(3, 3)).astype(np.float32))
    return m


def _masks(units, pairs, n):
    return ascent.selection_masks(pd.DataFrame(pairs, columns=["site", "neuron"]), units, n)


def test_ga_reference_reaches_three_d_and_no_more(linear_net):
    seeds = np.full((3, 4), 0.5, np.float32)
    masks = _masks([3, 3], [(0, 1)], 3)
    d = 0.05
    w = linear_net.layers[0].kernel.numpy()[:, 1]
    ref = ascent.ga(linear_net, seeds, masks, step_size=100.0, distance=d, iterations=3, ball=False)
    np.testing.assert_allclose(ref - seeds, np.tile(3 * d * np.sign(w), (3, 1)), atol=1e-6)
    more = ascent.ga(linear_net, seeds, masks, step_size=100.0, distance=d, iterations=3, ball=False,
                     bounds=(-10, 10))
    assert np.abs(more - seeds).max() <= 3 * d + 1e-6
    bounded = ascent.ga(linear_net, seeds, masks, step_size=100.0, distance=d, iterations=3, ball=True)
    np.testing.assert_allclose(np.abs(bounded - seeds), d, atol=1e-6)


def test_ga_small_step_is_step_times_mean_gradient(linear_net):
    seeds = np.full((1, 4), 0.5, np.float32)
    masks = _masks([3, 3], [(0, 0), (0, 2)], 1)
    w = linear_net.layers[0].kernel.numpy()
    got = ascent.ga(linear_net, seeds, masks, step_size=0.01, distance=0.1, iterations=1, ball=False)
    np.testing.assert_allclose(got[0] - seeds[0], 0.01 * (w[:, 0] + w[:, 2]) / 2, atol=1e-6)


def _reference_mga(x, a0, a1, c0, c1, lr, iterations, reset=True):
    """NP-SBFL-MGA written out for two stages on an affine net: S_l = x.a_l + c_l."""
    x = x.copy()
    b1, b2, eps = 0.9, 0.999, 1e-8
    m, v, t = np.zeros_like(x), np.zeros_like(x), 0
    for _ in range(iterations):
        if reset:
            m, v, t = np.zeros_like(x), np.zeros_like(x), 0
        for stage in (0, 1):
            s0, s1 = x @ a0 + c0, x @ a1 + c1
            if stage == 0:
                g = -np.tile(a0, (len(x), 1))
            else:
                g = -a1 - a0 + np.sign(s1 - s0)[:, None] * (a1 - a0)
            t += 1
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            x = np.clip(x - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps), 0, 1)
    return x


def test_mga_reference_matches_written_out_rule_and_is_not_bounded(linear_net):
    rng = np.random.default_rng(0)
    seeds = (0.3 + 0.4 * rng.random((5, 4))).astype(np.float32)
    masks = _masks([3, 3], [(0, 0), (0, 1), (1, 2)], 5)
    w0, b0 = linear_net.layers[0].kernel.numpy(), linear_net.layers[0].bias.numpy()
    w1, b1 = linear_net.layers[1].kernel.numpy(), linear_net.layers[1].bias.numpy()
    a0, c0 = w0[:, [0, 1]].sum(1), b0[[0, 1]].sum()
    a1, c1 = w0 @ w1[:, 2], b0 @ w1[:, 2] + b1[2]
    got = ascent.mga(linear_net, seeds, masks, lr=0.01, iterations=10, distance=None)
    want = _reference_mga(seeds, a0, a1, c0, c1, 0.01, 10)
    np.testing.assert_allclose(got, want, atol=2e-5)
    no_reset = _reference_mga(seeds, a0, a1, c0, c1, 0.01, 10, reset=False)
    assert np.abs(no_reset - want).max() > 1e-3  # the fresh Adam state matters here
    assert np.abs(got - seeds).max() > 0.15  # 20 Adam steps of ~0.01: beyond d = 0.1
    bounded = ascent.mga(linear_net, seeds, masks, lr=0.01, iterations=10, distance=0.1)
    assert np.abs(bounded - seeds).max() <= 0.1 + 1e-6


def test_masks_need_one_row_per_seed(linear_net):
    with pytest.raises(ValueError, match="one row per seed"):
        ascent.ga(linear_net, np.zeros((2, 4), np.float32), _masks([3, 3], [(0, 0)], 3))

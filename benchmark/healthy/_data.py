"""Data for the healthy programs: scikit-learn's bundled datasets and seeded generated data.

Example:
    >>> x, y = digits_images()
    >>> x.shape, float(x.max()) <= 1.0
    ((1797, 8, 8, 1), True)
"""

from __future__ import annotations

import numpy as np


def digits_images():
    """scikit-learn's 8x8 digits as images in [0, 1], with their labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[..., None] / 16.0).astype("float32"), d.target.astype("int64")


def token_sequences(seed: int, n: int = 1200, length: int = 40, vocab: int = 400):
    """Two classes of token sequences: each class draws a quarter of its tokens
    from its own band of the vocabulary (a sentiment-like signal), the rest at random."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = rng.integers(2, vocab, size=(n, length))
    marked = rng.random((n, length)) < 0.25
    band = np.where(y[:, None] == 1, rng.integers(2, 50, size=(n, length)), rng.integers(50, 100, size=(n, length)))
    return np.where(marked, band, x).astype("int64"), y.astype("int64")


def sine_windows(seed: int, n: int = 1200, window: int = 24):
    """Windows of a noisy sum of sines and the value that follows each window."""
    rng = np.random.default_rng(seed)
    t = np.arange(n + window + 1)
    series = np.sin(t * 0.1) + 0.5 * np.sin(t * 0.037) + rng.normal(scale=0.05, size=t.size)
    x = np.stack([series[i:i + window] for i in range(n)])[..., None].astype("float32")
    return x, series[window:window + n].astype("float32")


def two_shape_series(seed: int, n: int = 800, length: int = 64):
    """Series of two classes (a sine or a square wave of random phase), with noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    t = np.linspace(0, 4 * np.pi, length)[None, :] + rng.uniform(0, 2 * np.pi, size=(n, 1))
    wave = np.where(y[:, None] == 1, np.sign(np.sin(t)), np.sin(t))
    return (wave + rng.normal(scale=0.3, size=wave.shape))[..., None].astype("float32"), y.astype("int64")


def split(x, y, seed: int, test: float = 0.2):
    """A seeded train/validation split of arrays (or lists of arrays) ``x`` and ``y``."""
    n = len(y)
    idx = np.random.default_rng(seed).permutation(n)
    cut = int(n * (1 - test))
    tr, va = idx[:cut], idx[cut:]
    pick = (lambda a, i: [v[i] for v in a]) if isinstance(x, list) else (lambda a, i: a[i])
    return pick(x, tr), y[tr], pick(x, va), y[va]

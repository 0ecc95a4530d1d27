"""The raw data sets of the corpus's base programs, all available offline.

scikit-learn's bundled data sets, generated data, and the 10,000 MNIST test
digits in ``benchmark/data``.

Example:
    >>> x, y = raw_data("iris")
    >>> x.shape
    (150, 4)
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

# Where the MNIST test digits live (IDX format, gzip).
MNIST_DIR = Path(__file__).resolve().parents[2] / "benchmark" / "data" / "mnist-t10k"


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist_t10k() -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 MNIST test digits: uint8 images (10000, 28, 28) and labels.

    Example:
        >>> x, y = load_mnist_t10k(); x.shape
        (10000, 28, 28)
    """
    x = _read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    y = _read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    return x, y.astype(np.int64)


def raw_data(name: str, seed: int = 0, n_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unpreprocessed ``(x, y)`` of a named data set (pixels stay 0..255).

    Example:
        >>> x, y = raw_data("iris"); x.shape, sorted(set(y))
        ((150, 4), [0, 1, 2])
    """
    from sklearn import datasets

    rng = np.random.default_rng(seed)
    if name == "digits":
        d = datasets.load_digits()
        x, y = d.data * (255.0 / 16.0), d.target  # pixels on the usual 0..255 scale
    elif name == "iris":
        d = datasets.load_iris()
        x, y = d.data, d.target
    elif name == "wine":
        d = datasets.load_wine()
        x, y = d.data, d.target
    elif name == "breast_cancer":
        d = datasets.load_breast_cancer()
        x, y = d.data, d.target
    elif name == "diabetes":
        d = datasets.load_diabetes(scaled=False)
        x, y = d.data, d.target
    elif name == "moons":
        x, y = datasets.make_moons(n_samples=n_samples or 1000, noise=0.2, random_state=seed)
        x = x * 3.0 + 5.0  # off-centre, so standardization matters
    elif name == "circles":
        x, y = datasets.make_circles(n_samples=n_samples or 1000, noise=0.08, factor=0.5, random_state=seed)
        x = x * 4.0 - 2.0
    elif name == "friedman":
        x, y = datasets.make_friedman1(n_samples=n_samples or 1500, n_features=8, noise=0.5, random_state=seed)
        x = x * 10.0
    elif name == "blobs":
        x, y = datasets.make_classification(
            n_samples=n_samples or 1500, n_features=20, n_informative=10, n_classes=5,
            n_clusters_per_class=1, class_sep=1.5, random_state=seed)
        x = x * 5.0 + 3.0
    elif name == "mnist":
        x, y = load_mnist_t10k()
        x = x.astype(np.float64)
    elif name == "sequences":  # does the running sum of a noisy sequence end positive?
        n = n_samples or 1200
        steps = rng.normal(0.0, 1.0, size=(n, 12, 1))
        y = (steps.sum(axis=(1, 2)) > 0).astype(np.int64)
        x = steps * 10.0 + 50.0  # raw scale of, say, a sensor reading
    else:
        raise KeyError(f"Unknown data set {name!r}.")
    order = rng.permutation(len(x))
    x, y = np.asarray(x, dtype=np.float64)[order], np.asarray(y)[order]
    if n_samples is not None and name in ("digits", "mnist", "wine", "breast_cancer", "diabetes", "iris"):
        x, y = x[:n_samples], y[:n_samples]
    return x, y


def _preprocess(x: np.ndarray, how: str | None) -> np.ndarray:
    if how is None:
        return x
    if how == "standardize":
        mu, sd = x.mean(axis=0), x.std(axis=0)
        return (x - mu) / np.where(sd > 1e-12, sd, 1.0)
    if how == "divide255":
        return x / 255.0
    if how == "minmax":
        lo, hi = x.min(axis=0), x.max(axis=0)
        return (x - lo) / np.where(hi - lo > 1e-12, hi - lo, 1.0)
    raise KeyError(f"Unknown preprocessing {how!r}.")

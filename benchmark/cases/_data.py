"""Loaders for the data files kept in benchmark/data (no network needed)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def data_path(*parts: str) -> Path:
    """Absolute path of a file under benchmark/data, with a clear error if missing."""
    path = DATA_DIR.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"Benchmark data file {path} is missing; it ships with the repository.")
    return path


def load_mnist(n: int | None = None, seed: int | None = None):
    """The 10,000 real MNIST test digits: (images uint8 (N,28,28), labels uint8 (N,)).

    ``n`` keeps the first n digits (or a seeded random n when ``seed`` is set).
    """
    with gzip.open(data_path("mnist-t10k", "t10k-images-idx3-ubyte.gz"), "rb") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(data_path("mnist-t10k", "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    if n is not None:
        idx = np.random.default_rng(seed).permutation(len(labels))[:n] if seed is not None else np.arange(n)
        images, labels = images[idx], labels[idx]
    return images.copy(), labels.copy()


def one_hot(labels, n_classes: int | None = None) -> np.ndarray:
    """Integer labels to a float32 one-hot matrix."""
    labels = np.asarray(labels).astype(int).ravel()
    n_classes = n_classes or int(labels.max()) + 1
    out = np.zeros((len(labels), n_classes), dtype=np.float32)
    out[np.arange(len(labels)), labels] = 1.0
    return out


def load_iris_csv():
    """UCI Iris from benchmark/data/51930566/iris.data: (X float32 (150,4), y int (150,) in 0..2)."""
    import pandas as pd

    df = pd.read_csv(data_path("51930566", "iris.data"), header=None).dropna()
    names = sorted(df[4].unique())
    return df.iloc[:, :4].to_numpy("float32"), df[4].map({n: i for i, n in enumerate(names)}).to_numpy(int)


def load_export78():
    """SO 58609115's export78.csv: (x float64 (n,1) raw values, y float32 one-hot (n,69) of column 2)."""
    import pandas as pd

    df = pd.read_csv(data_path("58609115", "export78.csv"))  # the post reads the first row as header
    codes = np.unique(df.iloc[:, 1].to_numpy(), return_inverse=True)[1]
    return df.iloc[:, [0]].to_numpy("float64"), one_hot(codes, 69)

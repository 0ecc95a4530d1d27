"""Data for the CLI and the evaluation, and a PNG grid of seeds vs. synthesized inputs.

``--data`` accepts:

* a path to an ``.npz`` file with arrays ``x`` (inputs, floats in [0, 1], or uint8 0-255
  which are divided by 255) and ``y`` (integer labels or one-hot rows);
* ``mnist``: the 10,000 real MNIST test digits shipped in ``benchmark/data/mnist-t10k``
  (scaled to [0, 1]);
* ``digits``: scikit-learn's 1,797 8x8 digits (scaled to [0, 1]).

Inputs are reshaped to the model's input shape when the sizes agree.

>>> x, y = load_data("digits")   # doctest: +SKIP
>>> x.shape, y.shape             # doctest: +SKIP
((1797, 8, 8, 1), (1797,))
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
MNIST_DIR = REPO_ROOT / "benchmark" / "data" / "mnist-t10k"


def load_mnist(n: int | None = None):
    """The 10,000 real MNIST test digits as float32 (N, 28, 28, 1) in [0, 1] and int labels.

    >>> x, y = load_mnist(100)   # doctest: +SKIP
    """
    img, lab = MNIST_DIR / "t10k-images-idx3-ubyte.gz", MNIST_DIR / "t10k-labels-idx1-ubyte.gz"
    for p in (img, lab):
        if not p.exists():
            raise FileNotFoundError(f"MNIST file {p} is missing; it ships with the repository "
                                    "(benchmark/data/mnist-t10k). Pass --data FILE.npz instead.")
    with gzip.open(img, "rb") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
    with gzip.open(lab, "rb") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    x, y = x[:n], y[:n]
    return (x / 255.0).astype(np.float32), y.astype(int)


def load_digits():
    """scikit-learn's 8x8 digits as float32 (1797, 8, 8, 1) in [0, 1] and int labels.

    >>> load_digits()[0].max()   # doctest: +SKIP
    1.0
    """
    from sklearn.datasets import load_digits as sk

    d = sk()
    return (d.images[..., None] / 16.0).astype(np.float32), d.target.astype(int)


def load_data(spec: str, input_shape=None):
    """Load ``spec`` (see module doc) and reshape x to ``input_shape`` (without batch axis).

    >>> x, y = load_data("digits", (64,))   # doctest: +SKIP
    >>> x.shape                             # doctest: +SKIP
    (1797, 64)
    """
    if spec == "mnist":
        x, y = load_mnist()
    elif spec == "digits":
        x, y = load_digits()
    else:
        path = Path(spec)
        if not path.exists():
            raise FileNotFoundError(f"--data {spec}: no such file; give an .npz with x and y, "
                                    "or the keyword mnist or digits.")
        with np.load(path) as f:
            if "x" not in f or "y" not in f:
                raise ValueError(f"{spec} must contain arrays named 'x' and 'y' (has {list(f.keys())}).")
            x, y = f["x"], f["y"]
        x = x / 255.0 if x.dtype == np.uint8 else x
        x = x.astype(np.float32)
    if input_shape is not None:
        shape = tuple(int(d) for d in input_shape)
        if x.shape[1:] != shape:
            if int(np.prod(x.shape[1:])) != int(np.prod(shape)):
                raise ValueError(f"Inputs have shape {x.shape[1:]} but the model expects {shape}.")
            x = x.reshape((len(x),) + shape)
    return x, np.asarray(y)


def image_shape(x):
    """(H, W) if the inputs look like grey images (square or H x W x 1), else None.

    >>> image_shape(np.zeros((2, 64))), image_shape(np.zeros((2, 5)))
    ((8, 8), None)
    """
    shape = x.shape[1:]
    if len(shape) == 3 and shape[2] in (1, 3):
        return shape[:2] if shape[2] == 1 else shape
    if len(shape) == 2:
        return shape
    side = int(round(np.sqrt(np.prod(shape))))
    return (side, side) if len(shape) == 1 and side * side == shape[0] and side > 2 else None


def save_grid(seeds, synthesized, path, labels=None, predicted=None, n: int = 10) -> bool:
    """Save a PNG with seeds (top row) over synthesized inputs (bottom row); False if not images.

    >>> save_grid(x[:5], x_new[:5], "grid.png")   # doctest: +SKIP
    True
    """
    shape = image_shape(seeds)
    if shape is None:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(n, len(seeds))
    fig, axes = plt.subplots(2, max(n, 1), figsize=(1.2 * max(n, 1), 2.8), squeeze=False)
    for i in range(n):
        for row, arr in enumerate((seeds, synthesized)):
            ax = axes[row, i]
            ax.imshow(np.asarray(arr[i]).reshape(shape), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if labels is not None and row == 0:
                ax.set_title(f"y={labels[i]}", fontsize=8)
            if predicted is not None and row == 1:
                ax.set_title(f"pred={predicted[i]}", fontsize=8,
                             color="red" if labels is not None and predicted[i] != labels[i] else "black")
    axes[0, 0].set_ylabel("seed", fontsize=8)
    axes[1, 0].set_ylabel("synth.", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True

"""SO 48385830: MNIST with a purely linear 784-30-10 net, MSE and SGD lr 3.0.

Buggy: Dense(30)-Dense(10) with no activation at all, kernel and bias
RandomNormal(stddev=1), mean squared error, SGD(lr=3.0), batch 10: with no
squashing, the lr-3.0 steps blow the outputs up and the loss becomes NaN.
Fixed (the benchmark's patch): hidden Dense(30) activation sigmoid, output
Dense(10) activation softmax, categorical crossentropy (lr 3.0 kept).
"""

import numpy as np
import keras
from keras import layers

from ._data import load_mnist, one_hot

CASE = {"id": "48385830", "source": "stackoverflow:48385830", "title": "Linear MNIST net with MSE and SGD lr=3.0 diverges"}

N_SAMPLES = 3000  # original: 60,000 training digits, 30 epochs of batch 10; see substitutions
EPOCHS = 3


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    images, labels = load_mnist(N_SAMPLES, seed=seed)
    x = (images.reshape(-1, 784) / 255.0).astype(np.float32)
    y = one_hot(labels, 10)
    hidden, out = (None, None) if variant == "buggy" else ("sigmoid", "softmax")
    model = keras.Sequential(
        [
            keras.Input(shape=(784,), name="input"),
            layers.Dense(
                30,
                activation=hidden,
                kernel_initializer=keras.initializers.RandomNormal(stddev=1.0),
                bias_initializer=keras.initializers.RandomNormal(stddev=1.0),
                name="dense_1",
            ),
            layers.Dense(
                10,
                activation=out,
                kernel_initializer=keras.initializers.RandomNormal(stddev=1.0),
                bias_initializer=keras.initializers.RandomNormal(stddev=1.0),
                name="dense_out",
            ),
        ],
        name=f"so_48385830_{variant}",
    )
    loss = "mean_squared_error" if variant == "buggy" else "categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=3.0), loss=loss, metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": EPOCHS, "batch_size": 10}}

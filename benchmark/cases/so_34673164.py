"""SO 34673164: county features -> candidate, unscaled inputs into tanh, softmax + MSE.

Buggy: Dense(64)-tanh-Dropout-Dense(64)-tanh-Dropout-Dense(2)-softmax, MSE,
SGD(lr=0.1, momentum=0.9, nesterov), 20 epochs, batch 16, on 16 raw numeric
features (up to ~6e5): the first tanh layer saturates.
Fixed (the benchmark's patch): BatchNormalization inserted before the first
Dense, last activation sigmoid, binary crossentropy.
"""

import numpy as np
import pandas as pd
import keras
from keras import layers

from ._data import data_path, one_hot

CASE = {"id": "34673164", "source": "stackoverflow:34673164", "title": "Unscaled features saturate tanh; softmax + MSE classifier"}


def _uniform():
    # Keras 2 init='uniform' = RandomUniform(-0.05, 0.05)
    return keras.initializers.RandomUniform(minval=-0.05, maxval=0.05)


def _load():
    # as the original: read_csv with the default header=0, so the first row is the header
    data = pd.read_csv(data_path("34673164", "dataset.csv"), delimiter=",").values
    x = data[:, 0:16].astype(np.float32)
    _, codes = np.unique(data[:, 16].astype(str), return_inverse=True)
    return x, one_hot(codes, 2)


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    x, y = _load()
    stack = [keras.Input(shape=(16,), name="input")]
    if variant == "fixed":
        stack.append(layers.BatchNormalization(name="batchnorm_in"))
    stack += [
        layers.Dense(64, kernel_initializer=_uniform(), name="dense_1"),
        layers.Activation("tanh", name="act_1"),
        layers.Dropout(0.5, name="dropout_1"),
        layers.Dense(64, kernel_initializer=_uniform(), name="dense_2"),
        layers.Activation("tanh", name="act_2"),
        layers.Dropout(0.5, name="dropout_2"),
        layers.Dense(2, kernel_initializer=_uniform(), name="dense_out"),
        layers.Activation("softmax" if variant == "buggy" else "sigmoid", name="act_out"),
    ]
    model = keras.Sequential(stack, name=f"so_34673164_{variant}")
    # original: SGD(lr=0.1, decay=1e-6, momentum=0.9, nesterov=True); decay dropped (no decay in Keras 3)
    opt = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    loss = "mean_squared_error" if variant == "buggy" else "binary_crossentropy"
    model.compile(loss=loss, optimizer=opt, metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 20, "batch_size": 16}}

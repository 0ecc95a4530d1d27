"""SO 45442843: one unscaled feature, single-unit softmax output, MAE loss.

Buggy: Dense(1)-sigmoid-Dense(1, 'normal' init)-softmax, mean absolute error,
rmsprop, batch 200, 100 epochs, on one raw feature (15,000-25,000) and a boolean
label: softmax over one unit is constantly 1.0, accuracy = share of positives.
Fixed (the benchmark's patch): X = preprocessing.scale(X), output
Dense(1, sigmoid), binary crossentropy; trained 300 instead of 100 epochs (with
rmsprop's default lr and 4 steps per epoch the fixed model leaves its starting
plateau late for some initialisations, e.g. seed 0).

Speed: the 798 training rows are repeated REPEAT times (shuffled, batch 200), so
one epoch here is REPEAT epochs of the original.
"""

import numpy as np
import pandas as pd
import keras
from keras import layers

from ._data import data_path

REPEAT = 5  # the 798 training rows repeated: one epoch here = 5 epochs of the original
CASE = {"id": "45442843", "source": "stackoverflow:45442843", "title": "Softmax 1-unit output with MAE on an unscaled feature"}


def _normal():
    # Keras 2 init='normal' = RandomNormal(stddev=0.05)
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.05)


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    data = pd.read_csv(data_path("45442843", "dataset.csv"), delimiter=",").values  # first row is the header
    x = data[:, 0:1].astype(np.float64)
    y = data[:, 1].astype(bool).astype(np.float32)
    if variant == "fixed":
        x = (x - x.mean(axis=0)) / x.std(axis=0)  # sklearn.preprocessing.scale
    x = x.astype(np.float32)
    train_size = int(len(x) * 0.80)
    x, y = x[:train_size], y[:train_size]
    model = keras.Sequential(
        [
            keras.Input(shape=(1,), name="input"),
            layers.Dense(1, name="dense_1"),
            layers.Activation("sigmoid", name="act_1"),
            layers.Dense(1, kernel_initializer=_normal(), name="dense_out"),
            layers.Activation("softmax" if variant == "buggy" else "sigmoid", name="act_out"),
        ],
        name=f"so_45442843_{variant}",
    )
    loss = "mean_absolute_error" if variant == "buggy" else "binary_crossentropy"
    model.compile(loss=loss, optimizer="rmsprop", metrics=["accuracy"])
    x, y = np.tile(x, (REPEAT, 1)), np.tile(y, REPEAT)
    # original: 100 epochs for both; the fixed model is given 300 (see substitutions)
    epochs = 100 // REPEAT if variant == "buggy" else 300 // REPEAT
    return {"model": model, "x": x, "y": y, "fit": {"epochs": epochs, "batch_size": 200, "shuffle": True}}

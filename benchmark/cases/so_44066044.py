"""SO 44066044: network packets with raw IP integers (~3e9) and a relu output under BCE.

Buggy: Dense(12)-relu-Dense(12)-relu-Dense(1)-relu ('normal' init), binary
crossentropy, Adam, batch 5, 100 epochs, on 11 unscaled features (IP addresses
as integers ~3.2e9, flags ~5e5).
Fixed (the benchmark's patch): X = preprocessing.scale(X) and output sigmoid.

Speed: the 21 rows are repeated REPEAT times (shuffled, batch 5), so one epoch
here is REPEAT epochs of the original (Keras 3 pays ~50 ms per epoch).
"""

import numpy as np
import keras
from keras import layers

from ._data import data_path

REPEAT = 10  # the 21 rows repeated: one epoch here = 10 epochs of the original
CASE = {"id": "44066044", "source": "stackoverflow:44066044", "title": "Raw IP integers and a relu output under binary crossentropy"}


def _normal():
    # Keras 2 kernel_initializer='normal' = RandomNormal(stddev=0.05)
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.05)


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    data = np.loadtxt(data_path("44066044", "NetworkPackets.csv"), delimiter=",")
    x = data[:, 0:11].astype(np.float64)
    y = data[:, 11].astype(np.float32)
    if variant == "fixed":
        std = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(std == 0, 1.0, std)  # sklearn.preprocessing.scale
    x = x.astype(np.float32)
    model = keras.Sequential(
        [
            keras.Input(shape=(11,), name="input"),
            layers.Dense(12, kernel_initializer=_normal(), name="dense_1"),
            layers.Activation("relu", name="act_1"),
            layers.Dense(12, kernel_initializer=_normal(), name="dense_2"),
            layers.Activation("relu", name="act_2"),
            layers.Dense(1, kernel_initializer=_normal(), name="dense_out"),
            layers.Activation("relu" if variant == "buggy" else "sigmoid", name="act_out"),
        ],
        name=f"so_44066044_{variant}",
    )
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    x, y = np.tile(x, (REPEAT, 1)), np.tile(y, REPEAT)
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 100 // REPEAT, "batch_size": 5, "shuffle": True}}

"""GitHub kerasma: Pima Indians diabetes, small 12-8-1 MLP on raw features."""

import keras
import numpy as np
from keras import layers

from . import _data

CASE = {"id": "kerasma", "source": "github:kerasma",
        "title": "Pima diabetes: 12-8-1 MLP on raw features plateaus near 0.7"}


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    data = np.loadtxt(_data.data_path("kerasma", "pima-indians-diabetes.data"), delimiter=",")
    x, y = data[:, :8].astype("float32"), data[:, 8].astype("float32")
    if variant == "buggy":
        stack = [keras.Input(shape=(8,)),
                 layers.Dense(12, name="dense_1"), layers.Activation("relu", name="relu_1"),
                 layers.Dense(8, name="dense_2"), layers.Activation("relu", name="relu_2"),
                 layers.Dense(1, name="dense_out"), layers.Activation("sigmoid", name="act_out")]
    elif variant == "fixed":
        stack = [keras.Input(shape=(8,))]
        for i, units in enumerate([12, 24, 120, 36, 12], start=1):
            stack.append(layers.Dense(units, activation="relu", name=f"dense_{i}"))
        stack.append(layers.Dense(1, activation="sigmoid", name="dense_out"))
    else:
        raise ValueError(variant)
    model = keras.Sequential(stack, name="kerasma_" + variant)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 60, "batch_size": 10}}

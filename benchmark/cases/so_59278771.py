"""SO 59278771: Iris CSV, unscaled inputs, tiny net with a sigmoid output under categorical CE."""

import keras
import numpy as np
from keras import layers

from . import _data

CASE = {"id": "59278771", "source": "stackoverflow:59278771",
        "title": "Iris: 4-4-3 net with sigmoid output on unscaled inputs stays at chance"}


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    X, y = _data.load_iris_csv()
    Y = _data.one_hot(y, 3)
    normal = keras.initializers.RandomNormal(stddev=0.05)  # Keras 1/2 "normal"
    if variant == "buggy":
        model = keras.Sequential([
            keras.Input(shape=(4,)),
            layers.Dense(4, kernel_initializer=normal, name="dense_1"),
            layers.Activation("relu", name="relu_1"),
            layers.Dense(3, kernel_initializer=normal, name="dense_out"),
            layers.Activation("sigmoid", name="act_out"),
        ], name="so_59278771_buggy")
        fit = {"epochs": 100, "batch_size": 5}
    elif variant == "fixed":
        X = (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))  # MinMaxScaler
        model = keras.Sequential([
            keras.Input(shape=(4,)),
            layers.Dense(4, kernel_initializer=normal, name="dense_1"),
            layers.Activation("relu", name="relu_1"),
            layers.Dense(8, kernel_initializer=normal, name="dense_2"),
            layers.Activation("relu", name="relu_2"),
            layers.Dense(3, kernel_initializer=normal, name="dense_out"),
            layers.Activation("softmax", name="act_out"),
        ], name="so_59278771_fixed")
        fit = {"epochs": 100, "batch_size": 5}
    else:
        raise ValueError(variant)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return {"model": model, "x": X.astype("float32"), "y": Y, "fit": fit}

"""SO 48221692: regression on a parabola with a sigmoid output.

Buggy: Dense(5)-sigmoid-Dense(1)-sigmoid, MSE, plain 'sgd', full batch (the
150 training rows), 1000 epochs, on Linear_Data.csv (x in [-10, 10], y from 3 to
103): the sigmoid output is bounded to (0, 1), so the MSE cannot fall below
~mean(y^2) (~2300).
Fixed (the benchmark's patch): output activation linear.

Speed: the training rows are repeated REPEAT times in order, with batch_size =
the number of original rows and shuffle off, so every batch is exactly the
original full batch; one epoch here is REPEAT epochs of the original.
"""

import numpy as np
import pandas as pd
import keras
from keras import layers
from sklearn.model_selection import train_test_split

from ._data import data_path

CASE = {"id": "48221692", "source": "stackoverflow:48221692", "title": "Sigmoid output bounds a regression to (0, 1)"}

REPEAT = 20


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    data = pd.read_csv(data_path("48221692", "Linear_Data.csv"), header=None).values.astype(np.float32)
    x_train, _x_test, y_train, _y_test = train_test_split(data[:, 0:1], data[:, 1], test_size=0.25, random_state=seed)
    n = len(x_train)
    model = keras.Sequential(
        [
            keras.Input(shape=(1,), name="input"),
            layers.Dense(5, name="dense_1"),
            layers.Activation("sigmoid", name="act_1"),
            layers.Dense(1, name="dense_out"),
            layers.Activation("sigmoid" if variant == "buggy" else "linear", name="act_out"),
        ],
        name=f"so_48221692_{variant}",
    )
    model.compile(loss="mean_squared_error", optimizer="sgd")
    x, y = np.tile(x_train, (REPEAT, 1)), np.tile(y_train, REPEAT)
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 1000 // REPEAT, "batch_size": n, "shuffle": False}}

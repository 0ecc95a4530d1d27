"""SO 41372874: sine-direction classifier -- a program WITHOUT a bug (control case).

The benchmark ships only this program (no correct version; its spreadsheet says
"No issue in the structure"): Dense(2)-relu-Dense(2)-relu-Dense(1)-sigmoid
('uniform' init), binary crossentropy, adam, batch 2, 20 epochs, on SIN.csv
(first 80 % of rows). It trains to accuracy 1.0. Both variants build the same
program: a detector that calls either one buggy is giving a false positive.
"""

import numpy as np
import pandas as pd
import keras
from keras import layers

from ._data import data_path

CASE = {"id": "41372874", "source": "stackoverflow:41372874", "title": "Sine direction MLP, no bug (control case)"}


def _uniform():
    # Keras 2 init='uniform' = RandomUniform(-0.05, 0.05)
    return keras.initializers.RandomUniform(minval=-0.05, maxval=0.05)


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    data = pd.read_csv(data_path("41372874", "SIN.csv"), usecols=[0, 1, 2]).values
    x = data[:, 0:2].astype(np.float32)
    y = data[:, 2].astype(np.float32)
    train_size = int(len(x) * 0.80)
    x, y = x[:train_size], y[:train_size]
    model = keras.Sequential(
        [
            keras.Input(shape=(2,), name="input"),
            layers.Dense(2, kernel_initializer=_uniform(), name="dense_1"),
            layers.Activation("relu", name="act_1"),
            layers.Dense(2, kernel_initializer=_uniform(), name="dense_2"),
            layers.Activation("relu", name="act_2"),
            layers.Dense(1, kernel_initializer=_uniform(), name="dense_out"),
            layers.Activation("sigmoid", name="act_out"),
        ],
        name=f"so_41372874_{variant}",
    )
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 20, "batch_size": 2}}

"""GitHub kaggle-melbourne_properties: tanh 20-20-1 regression of raw house prices, batch 1."""

import keras
import numpy as np
from keras import layers

from . import _data

CASE = {"id": "kaggle-melbourne_properties", "source": "github:kaggle-melbourne_properties",
        "title": "House prices: tanh MLP on raw features and raw SalePrice; learning stops"}


def build(variant: str, seed: int = 0) -> dict:
    import pandas as pd

    keras.utils.set_random_seed(seed)
    df = pd.read_csv(_data.data_path("kaggle-melbourne_properties", "train.csv"))
    df = df.sample(n=400, random_state=seed)
    num = df.select_dtypes("number").fillna(0)
    x = num.drop(columns=["Id", "SalePrice"]).to_numpy("float64")
    y = num["SalePrice"].to_numpy("float64").reshape(-1, 1)
    init = "glorot_normal"
    if variant == "buggy":
        reg = None
        metrics = ["accuracy", keras.metrics.R2Score(name="r2")]
    elif variant == "fixed":
        # the repo's --normalize (StandardScaler per input column), plus the target scaled
        # the same way; L1(1e-4) from the repo's --regularize fix is kept
        x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        y = (y - y.mean()) / y.std()
        reg = keras.regularizers.l1(0.0001)
        metrics = [keras.metrics.R2Score(name="r2")]
    else:
        raise ValueError(variant)
    model = keras.Sequential([
        keras.Input(shape=(x.shape[1],)),
        layers.Dense(20, kernel_initializer=init, kernel_regularizer=reg, name="dense_1"),
        layers.Activation("tanh", name="tanh_1"),
        layers.Dense(20, kernel_initializer=init, kernel_regularizer=reg, name="dense_2"),
        layers.Activation("tanh", name="tanh_2"),
        layers.Dense(1, kernel_initializer=init, kernel_regularizer=reg, name="dense_out"),
        layers.Activation("linear", name="linear_out"),
    ], name="melbourne_" + variant)
    model.compile(loss="mean_squared_error", optimizer=keras.optimizers.Adam(), metrics=metrics)
    return {"model": model, "x": x.astype("float32"), "y": y.astype("float32"),
            "fit": {"epochs": 4, "batch_size": 1, "validation_split": 0.2}}

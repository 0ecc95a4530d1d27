"""SO 52800582: fit y = x^4 on x in [-100, 100) without scaling; sigmoid hidden layer saturates."""

import keras
import numpy as np
from keras import layers

CASE = {"id": "52800582", "source": "stackoverflow:52800582",
        "title": "Regression y=x^4 with unscaled inputs/targets (up to 1e8) and a sigmoid layer"}


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    x = np.arange(-100, 100, 0.5).reshape(400, 1)
    y = x ** 4
    if variant == "buggy":
        first = "sigmoid"
    elif variant == "fixed":
        x = (x - x.mean()) / x.std()  # StandardScaler on x and on y
        y = (y - y.mean()) / y.std()
        first = "relu"
    else:
        raise ValueError(variant)
    model = keras.Sequential([
        keras.Input(shape=(1,)),
        layers.Dense(50, name="dense_1"),
        layers.Activation(first, name="act_1"),
        layers.Dense(50, name="dense_2"),
        layers.Activation("elu", name="elu_2"),
        layers.Dense(1, name="dense_out"),
    ], name="so_52800582_" + variant)
    # R2 is added (monitoring only) so that the two variants, trained on differently
    # scaled targets, can be compared on one scale-free number.
    model.compile(loss="mse", optimizer="adam", metrics=[keras.metrics.R2Score(name="r2")])
    return {"model": model, "x": x.astype("float32"), "y": y.astype("float32"),
            "fit": {"epochs": 120, "batch_size": 400}}

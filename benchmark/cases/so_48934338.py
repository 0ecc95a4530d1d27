"""SO 48934338: quadratic regression, SGD learning rate 0.1 too high for unscaled targets."""

import keras
import numpy as np
from keras import layers

CASE = {"id": "48934338", "source": "stackoverflow:48934338",
        "title": "Regression of y=5x^2: SGD lr=0.1 diverges on unscaled targets"}


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = np.arange(0.0, 5.0, 0.1, dtype="float32").reshape(-1, 1)
    y = (5 * np.power(x, 2) + np.power(rng.standard_normal(50).reshape(-1, 1), 3)).astype("float32")

    uniform = keras.initializers.RandomUniform(-0.05, 0.05)  # Keras 1 init='uniform'
    model = keras.Sequential([
        keras.Input(shape=(1,)),
        layers.Dense(50, name="dense_1"),
        layers.Activation("relu", name="relu_1"),
        layers.Dense(30, kernel_initializer=uniform, name="dense_2"),
        layers.Activation("relu", name="relu_2"),
        layers.Dense(1, name="dense_out"),
        layers.Activation("linear", name="linear_out"),
    ], name="so_48934338_" + variant)
    if variant == "buggy":
        model.compile(loss="mse", optimizer=keras.optimizers.SGD(learning_rate=0.1), metrics=["accuracy"])
    elif variant == "fixed":
        model.compile(loss="mse", optimizer=keras.optimizers.SGD(learning_rate=0.001))
    else:
        raise ValueError(variant)
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 120, "batch_size": 32}}

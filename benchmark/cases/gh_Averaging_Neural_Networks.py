"""GitHub Averaging_Neural_Networks: regress the mean of two numbers, judged by 'accuracy'."""

import keras
import numpy as np
from keras import layers

CASE = {"id": "Averaging_Neural_Networks", "source": "github:Averaging_Neural_Networks",
        "title": "Average of two numbers: linear 2-1 net monitored with a meaningless accuracy"}


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    n = rng.integers(0, 101, size=(3000, 2)).astype("float32")
    x = n / 100.0
    y = (n.mean(axis=1) / 100.0).astype("float32")
    stack = [keras.Input(shape=(2,)), layers.Dense(2, name="dense_1")]
    if variant == "buggy":
        metrics = ["accuracy"]
    elif variant == "fixed":
        stack.append(layers.Dense(2, activation="relu", name="dense_hidden"))
        metrics = []
    else:
        raise ValueError(variant)
    stack.append(layers.Dense(1, name="dense_out"))
    model = keras.Sequential(stack, name="averaging_" + variant)
    model.compile(optimizer="rmsprop", loss="mse", metrics=metrics)
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 10, "batch_size": 10}}

"""SO 50306988: two uniform 2-D clusters, 2-unit softmax trained 5 epochs stays at chance."""

import keras
import numpy as np
from keras import layers

CASE = {"id": "50306988", "source": "stackoverflow:50306988",
        "title": "Two 2-D clusters: softmax/CCE for 5 epochs stays at 50% accuracy"}


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    if variant == "buggy":
        n = 200
        class_1 = rng.uniform(0.2, 0.4, size=n)
        class_2 = rng.uniform(0.5, 0.7, size=n)  # the post wrote low=0.7, high=0.5: same interval
        rows = []
        for i in range(0, n, 2):
            rows.append([class_1[i], class_1[i + 1], 0])
            rows.append([class_2[i], class_2[i + 1], 1])
        rows = np.asarray(rows, dtype="float32")
        x = rows[:, :2]
        y = keras.utils.to_categorical(rows[:, 2].astype(int), 2)
        model = keras.Sequential([
            keras.Input(shape=(2,)),
            layers.Dense(2, name="dense_1"),
            layers.Activation("sigmoid", name="sigmoid_1"),
            layers.Dense(2, name="dense_out"),
            layers.Activation("softmax", name="act_out"),
        ], name="so_50306988_buggy")
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        fit = {"epochs": 5, "batch_size": 32}
    elif variant == "fixed":
        n = 200
        cls0 = rng.uniform(0.2, 0.4, size=(n, 2))
        cls1 = rng.uniform(0.5, 0.7, size=(n, 2))
        x = np.concatenate([cls0, cls1]).astype("float32")
        y = np.concatenate([np.zeros(n), np.ones(n)]).astype("float32")
        idx = rng.permutation(len(x))
        x, y = x[idx], y[idx]
        model = keras.Sequential([
            keras.Input(shape=(2,)),
            layers.Dense(2, name="dense_1"),
            layers.Activation("sigmoid", name="sigmoid_1"),
            layers.Dense(1, name="dense_out"),
            layers.Activation("sigmoid", name="act_out"),
        ], name="so_50306988_fixed")
        model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
        fit = {"epochs": 50, "batch_size": 32}
    else:
        raise ValueError(variant)
    return {"model": model, "x": x, "y": y, "fit": fit}

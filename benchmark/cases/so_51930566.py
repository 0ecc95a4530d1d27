"""SO 51930566: Iris with a sigmoid output under categorical cross-entropy, trained on unscaled X."""

import keras
import numpy as np
from keras import layers
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from . import _data

CASE = {"id": "51930566", "source": "stackoverflow:51930566",
        "title": "Iris: sigmoid output with categorical cross-entropy, scaled split overwritten"}


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    X, y = _data.load_iris_csv()
    Y = _data.one_hot(y, 3)
    X_scaled = StandardScaler().fit_transform(X).astype("float32")
    if variant == "buggy":
        # the post splits the scaled data, then re-splits the UNscaled data over it
        X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.5, random_state=2)
        out = "sigmoid"
    elif variant == "fixed":
        X_train, X_test, Y_train, Y_test = train_test_split(X_scaled, Y, test_size=0.5, random_state=2)
        out = "softmax"
    else:
        raise ValueError(variant)
    normal = keras.initializers.RandomNormal(stddev=0.05)  # Keras 1 init='normal'
    model = keras.Sequential([
        keras.Input(shape=(4,)),
        layers.Dense(4, kernel_initializer=normal, name="dense_1"),
        layers.Activation("relu", name="relu_1"),
        layers.Dense(3, kernel_initializer=normal, name="dense_out"),
        layers.Activation(out, name="act_out"),
    ], name="so_51930566_" + variant)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return {"model": model, "x": X_train, "y": Y_train,
            "fit": {"epochs": 50, "batch_size": 5, "validation_data": (X_test, Y_test)}}

"""SO 50481178: deep ReLU stack on make_multilabel_classification; 1-unit sigmoid vs 2-unit softmax."""

import keras
import numpy as np
from keras import layers
from sklearn.datasets import make_multilabel_classification
from sklearn.model_selection import train_test_split

CASE = {"id": "50481178", "source": "stackoverflow:50481178",
        "title": "Binary task: 1-unit sigmoid/BCE replaced by 2-unit softmax/sparse CCE"}


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    x, y = make_multilabel_classification(n_samples=1000, n_features=4, n_classes=1, random_state=seed)
    y = y.ravel().astype("float32")  # LabelEncoder on {0,1} is the identity
    x_train, _, y_train, _ = train_test_split(x.astype("float32"), y, test_size=0.20, random_state=seed)

    stack = [keras.Input(shape=(4,)), layers.Dense(10, activation="relu", name="dense_1")]
    for i, units in enumerate([20, 30, 40, 50], start=2):
        stack.append(layers.Dense(units, name=f"dense_{i}"))
        stack.append(layers.Activation("relu", name=f"relu_{i}"))
    if variant == "buggy":
        stack += [layers.Dense(1, name="dense_out"), layers.Activation("sigmoid", name="act_out")]
        loss = "binary_crossentropy"
    elif variant == "fixed":
        stack += [layers.Dense(2, name="dense_out"), layers.Activation("softmax", name="act_out")]
        loss = "sparse_categorical_crossentropy"
    else:
        raise ValueError(variant)
    model = keras.Sequential(stack, name="so_50481178_" + variant)
    model.compile(loss=loss, optimizer="adam", metrics=["accuracy"])
    return {"model": model, "x": x_train, "y": y_train,
            "fit": {"epochs": 50, "batch_size": 10, "validation_split": 0.10, "shuffle": True}}

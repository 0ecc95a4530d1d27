"""SO 59325381: MNIST CNN whose integer labels were divided by 255."""

import keras
import numpy as np
from keras import layers

from . import _data

CASE = {"id": "59325381", "source": "stackoverflow:59325381",
        "title": "MNIST CNN: labels divided by 255 (y/255) under sparse categorical CE"}


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    images, labels = _data.load_mnist(n=3000, seed=seed)
    x = (images / 255.0).reshape(-1, 28, 28, 1).astype("float32")
    if variant == "buggy":
        y = (labels / 255.0).reshape(-1, 1).astype("float32")
        loss, epochs = "sparse_categorical_crossentropy", 2
    elif variant == "fixed":
        y = _data.one_hot(labels, 10)
        loss, epochs = "categorical_crossentropy", 3
    else:
        raise ValueError(variant)
    stack = [
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(64, (3, 3), strides=(1, 1), padding="same", name="conv_1"),
        layers.MaxPooling2D(pool_size=(2, 2), padding="valid", name="pool_1"),
        layers.Conv2D(32, (3, 3), strides=(1, 1), padding="same", name="conv_2"),
        layers.MaxPooling2D(pool_size=(2, 2), padding="valid", name="pool_2"),
        layers.Flatten(name="flatten"),
        layers.Dense(128, name="dense_1"),
        layers.Activation("relu", name="relu_1"),
        layers.Dense(10, name="dense_out"),
        layers.Activation("softmax", name="act_out"),
    ]
    model = keras.Sequential(stack, name="so_59325381_" + variant)
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": epochs, "batch_size": 32}}

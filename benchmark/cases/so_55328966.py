"""SO 55328966: MNIST from CSV, raw 0-255 pixels and a sigmoid output under categorical CE."""

import keras
import numpy as np
from keras import layers

from . import _data

CASE = {"id": "55328966", "source": "stackoverflow:55328966",
        "title": "MNIST MLP: raw 0-255 pixels and sigmoid output with categorical cross-entropy"}


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    images, labels = _data.load_mnist(n=5000, seed=seed)
    x = images.reshape(-1, 784).astype("float32")
    y = _data.one_hot(labels, 10)
    if variant == "buggy":
        out = "sigmoid"
    elif variant == "fixed":
        x = x / 255.0
        out = "softmax"
    else:
        raise ValueError(variant)
    l2 = keras.regularizers.l2(0.0)  # lambda_ = 0 in the post
    model = keras.Sequential([
        keras.Input(shape=(784,)),
        layers.Dense(784, name="dense_in"),
        layers.Dense(50, kernel_regularizer=l2, name="dense_hidden"),
        layers.Activation("relu", name="relu_hidden"),
        layers.Dense(10, kernel_regularizer=l2, name="dense_out"),
        layers.Activation(out, name="act_out"),
    ], name="so_55328966_" + variant)
    # tf.compat.v1.train.GradientDescentOptimizer(0.0001) == plain SGD
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0001),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 10, "batch_size": 32}}

"""SO 47352366: MNIST CNN whose last layer is relu under categorical crossentropy.

Buggy: Reshape-Conv2D(32,5x5)-relu-MaxPool-Conv2D(64,5x5)-relu-MaxPool-
Reshape(1,3136)-Dense(1024)-relu-Dropout(0.5)-Flatten-Dense(10)-relu, categorical
crossentropy, adam, batch 50. The relu outputs are not a probability
distribution; once a sample's 10 outputs are all zero the loss is NaN.
Fixed (the benchmark's patch): output Dense(10) activation softmax.
"""

import numpy as np
import keras
from keras import layers

from ._data import load_mnist, one_hot

CASE = {"id": "47352366", "source": "stackoverflow:47352366", "title": "ReLU output layer with categorical crossentropy on MNIST"}

N_SAMPLES = 5000  # 100 steps of batch 50; the original runs 600 steps; see substitutions


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    images, labels = load_mnist(N_SAMPLES, seed=seed)
    x = (images.reshape(-1, 784) / 255.0).astype(np.float32)  # TF input_data scales to [0, 1]
    y = one_hot(labels, 10)
    bias = keras.initializers.Constant(0.1)
    model = keras.Sequential(
        [
            keras.Input(shape=(784,), name="input"),
            layers.Reshape((28, 28, 1), name="reshape_in"),
            layers.Conv2D(32, (5, 5), padding="same", bias_initializer=bias, name="conv_1"),
            layers.Activation("relu", name="act_1"),
            layers.MaxPooling2D(padding="same", name="pool_1"),
            layers.Conv2D(64, (5, 5), padding="same", bias_initializer=bias, name="conv_2"),
            layers.Activation("relu", name="act_2"),
            layers.MaxPooling2D(padding="same", name="pool_2"),
            layers.Reshape((1, 7 * 7 * 64), name="reshape_flat"),
            layers.Dense(1024, bias_initializer=bias, name="dense_1"),
            layers.Activation("relu", name="act_3"),
            layers.Dropout(0.5, name="dropout_1"),
            layers.Flatten(name="flatten"),
            layers.Dense(10, name="dense_out"),
            layers.Activation("relu" if variant == "buggy" else "softmax", name="act_out"),
        ],
        name=f"so_47352366_{variant}",
    )
    model.compile(loss=keras.losses.categorical_crossentropy, optimizer="adam", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 1, "batch_size": 50}}

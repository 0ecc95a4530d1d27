"""GitHub gol_nn: fully convolutional net that learns one step of Conway's Game of Life."""

import keras
import numpy as np
from keras import layers

CASE = {"id": "gol_nn", "source": "github:gol_nn",
        "title": "Game of Life CNN: binary CE with Adam lr=0.001 plateaus in 2 epochs"}

HEIGHT = WIDTH = 3


def _dataset(rng, n, alive_prob=0.5):
    field = (rng.random((n, HEIGHT, WIDTH, 1)) < alive_prob).astype(np.int32)
    neighbours = np.zeros_like(field)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            if dx or dy:
                neighbours += np.roll(np.roll(field, dx, 2), dy, 1)
    nxt = np.logical_or(neighbours == 3, np.logical_and(field, neighbours == 2)).astype("float32")
    padded = np.pad(field, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="wrap").astype("float32")
    return padded, nxt


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x_train, y_train = _dataset(rng, 8000)
    x_val, y_val = _dataset(rng, 2000)
    if variant == "buggy":
        loss, optimizer = "binary_crossentropy", "adam"
    elif variant == "fixed":
        loss, optimizer = "mse", keras.optimizers.Adam(learning_rate=0.01)
    else:
        raise ValueError(variant)
    model = keras.Sequential([
        keras.Input(shape=(HEIGHT + 2, WIDTH + 2, 1)),
        layers.Conv2D(10, (3, 3), strides=(1, 1), padding="valid", name="conv1_3x3"),
        layers.Activation("relu", name="relu_1"),
        layers.Conv2D(20, (1, 1), strides=(1, 1), padding="same", name="conv2_1x1"),
        layers.Activation("relu", name="relu_2"),
        layers.Conv2D(1, (1, 1), strides=(1, 1), padding="same", name="conv3_1x1"),
        layers.Activation("sigmoid", name="sigmoid_out"),
    ], name="gol_nn_" + variant)
    model.compile(loss=loss, optimizer=optimizer, metrics=["accuracy"])
    return {"model": model, "x": x_train, "y": y_train,
            "fit": {"epochs": 2, "batch_size": 64, "validation_data": (x_val, y_val)}}

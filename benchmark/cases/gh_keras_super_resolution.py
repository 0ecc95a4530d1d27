"""GitHub keras-super-resolution: SRCNN trained with binary CE and Adam lr=1e-4."""

import keras
import numpy as np
from keras import layers

CASE = {"id": "keras-super-resolution", "source": "github:keras-super-resolution",
        "title": "SRCNN: binary cross-entropy and Adam lr=1e-4 for pixel regression"}

SIZE = 16


def _images(rng, n):
    """Seeded smooth RGB images in [0,1]; input = 2x down-sampled then nearest up-sampled."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    imgs = np.zeros((n, SIZE, SIZE, 3), dtype="float32")
    for _ in range(4):
        fx, fy = rng.uniform(0.5, 4, size=(2, n, 1, 1, 3))
        ph = rng.uniform(0, 2 * np.pi, size=(n, 1, 1, 3))
        imgs += np.sin(2 * np.pi * (fx * xx[None, ..., None] + fy * yy[None, ..., None]) + ph).astype("float32")
    y = (imgs - imgs.min()) / (imgs.max() - imgs.min())
    x = y[:, ::2, ::2, :].repeat(2, axis=1).repeat(2, axis=2)
    return x.astype("float32"), y.astype("float32")


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    x, y = _images(np.random.default_rng(seed), 64)
    model = keras.Sequential([
        keras.Input(shape=(SIZE, SIZE, 3)),
        layers.Conv2D(256, (9, 9), padding="same", name="conv_1"),
        layers.Activation("relu", name="relu_1"),
        layers.Conv2D(128, (3, 3), padding="same", name="conv_2"),
        layers.Activation("relu", name="relu_2"),
        layers.Conv2D(3, (5, 5), padding="same", name="conv_out"),
        layers.Activation("sigmoid", name="sigmoid_out"),
    ], name="super_resolution_" + variant)
    # "mse" added as a metric to both (monitoring only) so the two losses can be compared
    if variant == "buggy":
        model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(learning_rate=0.0001),
                      metrics=["accuracy", "mse"])
    elif variant == "fixed":
        model.compile(loss="mse", optimizer=keras.optimizers.Adam(learning_rate=0.001), metrics=["mse"])
    else:
        raise ValueError(variant)
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 30, "batch_size": 64}}

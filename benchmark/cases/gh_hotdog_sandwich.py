"""GitHub hotdog-sandwich: greyscale food-vs-sandwich CNN with Dropout(0.5) inside the conv stack."""

import keras
import numpy as np
from keras import layers

CASE = {"id": "hotdog-sandwich", "source": "github:hotdog-sandwich",
        "title": "Food vs sandwich CNN: dropout in every conv block, weak feature extractor"}


def _images(rng, n, size):
    """Seeded stand-in for the histogram-equalised greyscale food photos (/255, values in [0,1]):
    class 1 ('sandwich') has horizontal layered bands, class 0 ('food') round blobs, both noisy."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    labels = rng.integers(0, 2, size=n)
    x = rng.uniform(0, 1, size=(n, size, size)) * 0.5
    for i, c in enumerate(labels):
        if c:
            f, ph = rng.uniform(3, 6), rng.uniform(0, 2 * np.pi)
            x[i] += 0.35 * (np.sin(2 * np.pi * f * yy + ph) > 0)
        else:
            for _ in range(3):
                cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.08, 0.2)
                x[i] += 0.35 * (np.hypot(xx - cx, yy - cy) < r)
    return np.clip(x, 0, 1)[..., None].astype("float32"), labels


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    if variant == "buggy":
        size = 32
        stack = [keras.Input(shape=(size, size, 1)),
                 layers.Conv2D(8, (5, 5), padding="valid", name="conv_1"),
                 layers.Dropout(0.5, name="dropout_1"), layers.Activation("relu", name="relu_1"),
                 layers.Conv2D(16, (3, 3), name="conv_2"),
                 layers.Dropout(0.5, name="dropout_2"), layers.Activation("relu", name="relu_2"),
                 layers.Conv2D(32, (3, 3), name="conv_3"),
                 layers.Dropout(0.5, name="dropout_3"), layers.Activation("relu", name="relu_3"),
                 layers.Flatten(name="flatten"),
                 layers.Dense(240, name="dense_1"), layers.Activation("relu", name="relu_4"),
                 layers.Dense(120, name="dense_2"),
                 layers.Dense(2, name="dense_out"), layers.Activation("softmax", name="softmax_out")]
    elif variant == "fixed":
        size = 64  # the fix doubles the image size (64 -> 128 originally)
        stack = [keras.Input(shape=(size, size, 1)),
                 layers.Conv2D(16, (8, 8), strides=(4, 4), padding="valid", name="conv_1"),
                 layers.ELU(name="elu_1"),
                 layers.Conv2D(32, (5, 5), strides=(2, 2), padding="same", name="conv_2"),
                 layers.ELU(name="elu_2"),
                 layers.Conv2D(64, (5, 5), strides=(2, 2), padding="same", name="conv_3"),
                 layers.Flatten(name="flatten"),
                 layers.Dropout(0.2, name="dropout_1"), layers.ELU(name="elu_3"),
                 layers.Dense(512, name="dense_1"), layers.ELU(name="elu_4"),
                 layers.Dense(2, name="dense_out"), layers.Activation("softmax", name="softmax_out")]
    else:
        raise ValueError(variant)
    x, labels = _images(np.random.default_rng(seed), 800, size)
    y = keras.utils.to_categorical(labels, 2)
    model = keras.Sequential(stack, name="hotdog_" + variant)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 8, "batch_size": 32, "validation_split": 0.1}}

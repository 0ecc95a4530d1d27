"""GitHub FacialKeypointsDetection: linear 50-100-30 net on 96x96 images with Adam lr=0.1."""

import keras
import numpy as np
from keras import layers

CASE = {"id": "FacialKeypointsDetection", "source": "github:FacialKeypointsDetection",
        "title": "Facial keypoints regression: Adam(lr=0.1) far too high"}

SIZE = 96


def _faces(rng, n):
    """Seeded stand-in for Kaggle training.csv: blurred spots at 15 keypoints on noise.

    Pixels in [0,1] (the original divides by 255), targets (coordinate-48)/48 in [-1,1].
    """
    template = rng.uniform(25, 71, size=(15, 2))
    shift = rng.uniform(-10, 10, size=(n, 1, 2))
    pts = np.clip(template[None] + shift + rng.normal(0, 2, size=(n, 15, 2)), 2, SIZE - 3)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    img = rng.uniform(0.0, 0.3, size=(n, SIZE, SIZE)).astype("float32")
    for k in range(15):
        d2 = (xx[None] - pts[:, k, 0, None, None]) ** 2 + (yy[None] - pts[:, k, 1, None, None]) ** 2
        img += 0.7 * np.exp(-d2 / 8.0).astype("float32")
    x = np.clip(img, 0, 1).reshape(n, SIZE * SIZE).astype("float32")
    y = ((pts.reshape(n, 30) - 48) / 48).astype("float32")
    return x, y


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    x, y = _faces(np.random.default_rng(seed), 600)
    model = keras.Sequential([
        keras.Input(shape=(SIZE * SIZE,)),
        layers.Dense(50, name="dense_1"),
        layers.Dense(100, name="dense_2"),
        layers.Dense(30, name="dense_out"),
    ], name="facial_keypoints_" + variant)
    if variant == "buggy":
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.1), loss="mean_squared_error",
                      metrics=["accuracy"])
        fit = {"epochs": 30, "batch_size": 32}
    elif variant == "fixed":
        # decay=1e-6 of the original dropped (no `decay` in Keras 3; negligible over this run)
        sgd = keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True, clipnorm=1)
        model.compile(optimizer=sgd, loss="mean_squared_error", metrics=["accuracy"])
        fit = {"epochs": 30, "batch_size": 32, "validation_split": 0.2, "shuffle": True}
    else:
        raise ValueError(variant)
    return {"model": model, "x": x, "y": y, "fit": fit}

"""GitHub Traffic-Sign-Classifier: 43-class CNN with relu after the first three convolutions."""

import keras
import numpy as np
from keras import layers

CASE = {"id": "Traffic-Sign-Classifier", "source": "github:Traffic-Sign-Classifier",
        "title": "Traffic signs CNN: relu on the 1x1/5x5/3x3 input convolutions"}

NUM_CLASSES = 43


def _signs(rng, n):
    """Seeded stand-in for the German traffic sign PNGs: 32x32x3 uint8-range images of 43 classes,
    each a class-specific colour and shape (disc/ring/bar/triangle at a class position) plus noise."""
    yy, xx = np.mgrid[0:32, 0:32]
    colours = rng.uniform(40, 255, size=(NUM_CLASSES, 3))
    centres = rng.uniform(10, 22, size=(NUM_CLASSES, 2))
    kinds = np.arange(NUM_CLASSES) % 4
    labels = rng.integers(0, NUM_CLASSES, size=n)
    imgs = rng.uniform(0, 80, size=(n, 32, 32, 3))
    for i, c in enumerate(labels):
        cx, cy = centres[c] + rng.normal(0, 1.0, size=2)
        r = np.hypot(xx - cx, yy - cy)
        if kinds[c] == 0:
            mask = r < 7
        elif kinds[c] == 1:
            mask = (r > 4) & (r < 8)
        elif kinds[c] == 2:
            mask = np.abs(yy - cy) < 2.5
        else:
            mask = (yy - cy > -6) & (yy - cy < 6) & (np.abs(xx - cx) < (yy - cy + 6) / 1.5)
        imgs[i][mask] = colours[c] * rng.uniform(0.8, 1.0)
    return np.clip(imgs, 0, 255).astype("float32"), labels


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    x, labels = _signs(np.random.default_rng(seed), 2500)
    y = keras.utils.to_categorical(labels, NUM_CLASSES)
    n_val = len(x) // 5
    x_train, x_val, y_train, y_val = x[n_val:], x[:n_val], y[n_val:], y[:n_val]
    if variant == "buggy":
        acts = ("relu", "relu", "relu")
    elif variant == "fixed":
        acts = ("sigmoid", "elu", "elu")
    else:
        raise ValueError(variant)
    model = keras.Sequential([
        keras.Input(shape=(32, 32, 3)),
        layers.Lambda(lambda p: p / 255.0 - 0.5, name="normalize"),
        layers.Conv2D(3, (1, 1), name="conv_1"), layers.Activation(acts[0], name="act_1"),
        layers.Conv2D(16, (5, 5), strides=(2, 2), name="conv_2"), layers.Activation(acts[1], name="act_2"),
        layers.Conv2D(32, (3, 3), name="conv_3"), layers.Activation(acts[2], name="act_3"),
        layers.MaxPooling2D(pool_size=(2, 2), strides=(2, 2), name="pool"),
        layers.Conv2D(64, (3, 3), name="conv_4"), layers.Activation("relu", name="relu_4"),
        layers.Conv2D(128, (3, 3), name="conv_5"), layers.Activation("relu", name="relu_5"),
        layers.Flatten(name="flatten"),
        layers.Dropout(0.5, name="dropout_1"),
        layers.Dense(128, name="dense_1"), layers.Activation("relu", name="relu_6"),
        layers.Dropout(0.5, name="dropout_2"),
        layers.Dense(NUM_CLASSES, name="dense_out"), layers.Activation("softmax", name="softmax_out"),
    ], name="traffic_signs_" + variant)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return {"model": model, "x": x_train, "y": y_train,
            "fit": {"epochs": 10, "batch_size": 512, "validation_data": (x_val, y_val)}}

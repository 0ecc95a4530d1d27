"""GitHub keras_catsdogs: cats vs dogs 64x64 with an over-pooled large-kernel conv stack."""

import io
import zipfile

import keras
import numpy as np
from keras import layers

from . import _data

CASE = {"id": "keras_catsdogs", "source": "github:keras_catsdogs",
        "title": "Cats vs dogs: 7x7/5x5 conv stack pooled down to 1x1 learns little"}


def _load(n_train, seed):
    from PIL import Image

    path = _data.data_path("keras_catsdogs", "catsdogsdataset64.zip")
    out = {"train": ([], []), "test": ([], [])}
    with zipfile.ZipFile(path) as z:
        for name in sorted(z.namelist()):
            parts = name.split("/")
            if len(parts) != 3 or parts[0] != "catsdogsdataset64" or not parts[2] or parts[2].startswith("."):
                continue
            folder = parts[1]
            split = "test" if folder.endswith("_test") else "train"
            label = 1 if folder.startswith("cats") else 0  # dogs 0, cats 1 as in the original
            img = np.asarray(Image.open(io.BytesIO(z.read(name))).convert("RGB").resize((64, 64)))
            out[split][0].append(img)
            out[split][1].append(label)
    rng = np.random.default_rng(seed)
    xs, ys = (np.asarray(a) for a in out["train"])
    idx = rng.permutation(len(ys))[:n_train]
    xt, yt = (np.asarray(a) for a in out["test"])
    return (xs[idx] / 255.0).astype("float32"), ys[idx], (xt / 255.0).astype("float32"), yt


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    x, y, xt, yt = _load(800, seed)
    y, yt = _data.one_hot(y, 2), _data.one_hot(yt, 2)
    if variant == "buggy":
        stack = [keras.Input(shape=(64, 64, 3)),
                 layers.Conv2D(32, (7, 7), name="conv_1"), layers.Activation("relu", name="relu_1"),
                 layers.MaxPooling2D((2, 2), name="pool_1"),
                 layers.Conv2D(20, (5, 5), name="conv_2"), layers.Activation("relu", name="relu_2"),
                 layers.MaxPooling2D((2, 2), name="pool_2"),
                 layers.Conv2D(20, (5, 5), name="conv_3"), layers.Activation("relu", name="relu_3"),
                 layers.MaxPooling2D((2, 2), name="pool_3"),
                 layers.Conv2D(20, (3, 3), name="conv_4"), layers.Activation("relu", name="relu_4"),
                 layers.MaxPooling2D((2, 2), name="pool_4"),
                 layers.Flatten(name="flatten"),
                 layers.Dense(2, name="dense_out"), layers.Activation("softmax", name="softmax_out")]
        batch = 100
    elif variant == "fixed":
        stack = [keras.Input(shape=(64, 64, 3)),
                 layers.Conv2D(16, (3, 3), activation="relu", name="conv_1"),
                 layers.MaxPooling2D((2, 2), name="pool_1"),
                 layers.Conv2D(32, (3, 3), activation="relu", name="conv_2"),
                 layers.Conv2D(32, (3, 3), activation="relu", name="conv_3"),
                 layers.MaxPooling2D((2, 2), name="pool_2"),
                 layers.Conv2D(32, (3, 3), activation="relu", name="conv_4"),
                 layers.MaxPooling2D((2, 2), name="pool_3"),
                 layers.Flatten(name="flatten"),
                 layers.Dense(2, activation="softmax", name="dense_out")]
        batch = 50
    else:
        raise ValueError(variant)
    model = keras.Sequential(stack, name="catsdogs_" + variant)
    # Keras 2.2's Adadelta() defaulted to lr=1.0; Keras 3's default is 0.001
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adadelta(learning_rate=1.0),
                  metrics=["accuracy"])
    return {"model": model, "x": x, "y": y,
            "fit": {"epochs": 10, "batch_size": batch, "validation_data": (xt, yt)}}

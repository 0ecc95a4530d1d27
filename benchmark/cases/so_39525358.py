"""SO 39525358: binary classifier on unscaled features (values 65-70).

Buggy: Dense(12)-relu-Dense(3)-relu-Dense(1)-sigmoid ('uniform' init), binary
crossentropy, adam, batch 1, 150 epochs, on 3 raw features between 65 and 70
whose class depends on a difference of 3 units: loss stays near 0.67.
Fixed (the benchmark's patch): StandardScaler on X before the split (batch 10,
as in the original correct program).
"""

import numpy as np
import keras
from keras import layers

from ._data import data_path

CASE = {"id": "39525358", "source": "stackoverflow:39525358", "title": "Unstandardised features (65-70) stall a small binary classifier"}


def _uniform():
    # Keras 2 init='uniform' = RandomUniform(-0.05, 0.05)
    return keras.initializers.RandomUniform(minval=-0.05, maxval=0.05)


def _load():
    # the file has old-Mac CR line endings and a UTF-8 BOM; the original skips its first row
    text = data_path("39525358", "sorted output.csv").read_bytes().decode("utf-8-sig")
    rows = [r for r in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if r.strip()]
    data = np.array([[float(v) for v in r.split(",")] for r in rows[1:]], dtype=np.float32)
    return data[:, 0:3], data[:, 3]


def _split(x, y, test_size=0.33, seed=7):
    # train_test_split(test_size=0.33, random_state=7) as in the original
    from sklearn.model_selection import train_test_split

    x_train, _x_test, y_train, _y_test = train_test_split(x, y, test_size=test_size, random_state=seed)
    return x_train, y_train


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    x, y = _load()
    if variant == "fixed":
        x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)  # StandardScaler().fit_transform
    x_train, y_train = _split(x, y)
    model = keras.Sequential(
        [
            keras.Input(shape=(3,), name="input"),
            layers.Dense(12, kernel_initializer=_uniform(), name="dense_1"),
            layers.Activation("relu", name="act_1"),
            layers.Dense(3, kernel_initializer=_uniform(), name="dense_2"),
            layers.Activation("relu", name="act_2"),
            layers.Dense(1, kernel_initializer=_uniform(), name="dense_out"),
            layers.Activation("sigmoid", name="act_out"),
        ],
        name=f"so_39525358_{variant}",
    )
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    batch_size = 1 if variant == "buggy" else 10
    return {"model": model, "x": x_train, "y": y_train, "fit": {"epochs": 150, "batch_size": batch_size}}

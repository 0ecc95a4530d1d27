"""SO 47724077: UCI Adult income with raw, unscaled features.

Buggy: Dense(21)-relu-Dense(2)-softmax, categorical crossentropy, adam,
batch 100, 50 epochs, on the 14 Adult columns with the categorical ones
label-encoded and the numeric ones raw (fnlwgt up to ~1.5e6, capital-gain up
to 99,999).
Fixed: the features are standardised (per-column mean/std), adam kept.
The benchmark's patch (adam -> sgd) was measured: after a first epoch with loss
~1e9, SGD ends with accuracy 0.759 = the share of '<=50K' rows and loss 0.551 =
the entropy of that prior, i.e. it predicts the majority class for every row
(the original spreadsheet reports the same 0.7592 / 0.552). See ground truth.
"""

import numpy as np
import pandas as pd
import keras
from keras import layers

from ._data import data_path, one_hot

CASE = {"id": "47724077", "source": "stackoverflow:47724077", "title": "Adult income MLP on raw unscaled features"}

N_SAMPLES = 8000  # original: all 32,561 rows, 50 epochs; see substitutions
EPOCHS = 20


def _load(seed):
    df = pd.read_csv(data_path("47724077", "adult.data.gz"), header=None, skipinitialspace=True)
    x = df.iloc[:, 0:14].copy()
    for i in [1, 3, 5, 6, 7, 8, 9, 13]:
        # The original writes to_categorical(codes) (a 2-D one-hot array) into the single
        # column x[i]; pandas rejects that today. The integer code is kept instead.
        _, codes = np.unique(x[i].astype(str), return_inverse=True)
        x[i] = codes
    _, y = np.unique(df.iloc[:, 14].astype(str), return_inverse=True)
    idx = np.random.default_rng(seed).permutation(len(df))[:N_SAMPLES]
    return x.to_numpy(dtype=np.float32)[idx], one_hot(y[idx], 2)


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    x, y = _load(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(14,), name="input"),
            layers.Dense(21, name="dense_1"),
            layers.Activation("relu", name="act_1"),
            layers.Dense(2, name="dense_out"),
            layers.Activation("softmax", name="act_out"),
        ],
        name=f"so_47724077_{variant}",
    )
    if variant == "fixed":
        x = (x - x.mean(axis=0)) / x.std(axis=0)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": EPOCHS, "batch_size": 100}}

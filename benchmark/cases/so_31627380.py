"""SO 31627380: Titanic survival MLP on raw, unscaled label-encoded features.

Buggy (as in the benchmark): Dense(512)-relu-Dropout-Dense(2)-softmax with
categorical crossentropy, adam, batch 4, 10 epochs, validation_split 0.2, on
label-encoded but unscaled Kaggle Titanic columns (Name/Ticket codes up to ~900,
Fare up to 512): first-epoch loss ~17, accuracy barely above the base rate.

Fixed: the features are standardised (per-column mean/std); the model is unchanged.
The benchmark's own patch (softmax -> sigmoid, categorical -> binary crossentropy)
was measured here and does not help (accuracy 0.66 -> 0.68 at seed 0): 2-unit
softmax + categorical CE is correct for one-hot labels. See ground_truth notes.
"""

import numpy as np
import pandas as pd
import keras
from keras import layers

from ._data import data_path, one_hot

CASE = {"id": "31627380", "source": "stackoverflow:31627380", "title": "Titanic MLP with softmax/categorical CE on unscaled features"}


def _load():
    train = pd.read_csv(data_path("31627380", "train.csv"), index_col=0)
    y = one_hot(train["Survived"].to_numpy(), 2)
    train = train.drop(columns="Survived")
    columns = list(train.columns)  # Pclass Name Sex Age SibSp Parch Ticket Fare Cabin Embarked
    train["Age"] = train["Age"].fillna(train["Age"].mean())
    train["Fare"] = train["Fare"].fillna(train["Fare"].mean())
    category_index = [0, 1, 2, 4, 5, 6, 8, 9]
    for i in category_index:
        train[columns[i]] = train[columns[i]].fillna("missing")
    arr = np.array(train, dtype=object)
    for i in category_index:
        # label encoding as sklearn's LabelEncoder does it (sorted unique values -> 0..k-1)
        _, codes = np.unique(arr[:, i].astype(str), return_inverse=True)
        arr[:, i] = codes
    return arr.astype(np.float32), y


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    x, y = _load()
    model = keras.Sequential(
        [
            keras.Input(shape=(x.shape[1],), name="input"),
            layers.Dense(512, name="dense_1"),
            layers.Activation("relu", name="act_1"),
            layers.Dropout(0.5, name="dropout_1"),
            layers.Dense(2, name="dense_out"),
            layers.Activation("softmax", name="act_out"),
        ],
        name=f"so_31627380_{variant}",
    )
    if variant == "fixed":
        x = (x - x.mean(axis=0)) / x.std(axis=0)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 10, "batch_size": 4, "validation_split": 0.2}}

"""A GRU classifying generated timeseries (sine vs square waves)."""
import keras
from keras import layers

from . import _data

CASE = {"id": "healthy_gru_sequence", "source": "keras-style:gru_classification",
        "title": "GRU on sine vs square waves"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    x, y = _data.two_shape_series(seed, n=600, length=32)
    model = keras.Sequential([keras.Input((32, 1)), layers.GRU(16, name="gru"),
                              layers.Dense(1, activation="sigmoid", name="out")])
    model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 8, "batch_size": 32, "validation_split": 0.2}}

"""Conv1D timeseries classification (after Keras's "Timeseries classification from scratch")."""
import keras
from keras import layers

from . import _data

CASE = {"id": "healthy_timeseries_classification", "source": "keras-examples:timeseries_classification_from_scratch",
        "title": "Conv1D + BatchNorm + ReLU blocks on sine vs square waves"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    x, y = _data.two_shape_series(seed)
    inputs = keras.Input((64, 1))
    h = inputs
    for i in (1, 2):
        h = layers.Conv1D(16, 3, padding="same", name=f"conv_{i}")(h)
        h = layers.BatchNormalization(name=f"bn_{i}")(h)
        h = layers.ReLU(name=f"relu_{i}")(h)
    h = layers.GlobalAveragePooling1D(name="gap")(h)
    model = keras.Model(inputs, layers.Dense(2, activation="softmax", name="out")(h))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 6, "batch_size": 32, "validation_split": 0.2}}

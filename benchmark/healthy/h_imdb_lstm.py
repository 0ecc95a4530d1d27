"""Bidirectional-free LSTM text classifier (after Keras's "Bidirectional LSTM on IMDB")."""
import keras
from keras import layers

from . import _data

CASE = {"id": "healthy_imdb_lstm", "source": "keras-examples:bidirectional_lstm_imdb",
        "title": "Embedding + LSTM on generated reviews"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    x, y = _data.token_sequences(seed)
    model = keras.Sequential([
        keras.Input((None,), dtype="int64"), layers.Embedding(400, 16, name="embedding"),
        layers.LSTM(16, name="lstm"), layers.Dense(1, activation="sigmoid", name="out")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 6, "batch_size": 32, "validation_split": 0.2}}

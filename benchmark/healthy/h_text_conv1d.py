"""Conv1D text classifier (after Keras's "Text classification from scratch")."""
import keras
from keras import layers

from . import _data

CASE = {"id": "healthy_text_conv1d", "source": "keras-examples:text_classification_from_scratch",
        "title": "Embedding + Conv1D on generated reviews"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    x, y = _data.token_sequences(seed)
    model = keras.Sequential([
        keras.Input((40,), dtype="int64"), layers.Embedding(400, 16, name="embedding"),
        layers.Dropout(0.3, name="drop_in"), layers.Conv1D(32, 5, activation="relu", name="conv"),
        layers.GlobalMaxPooling1D(name="pool"), layers.Dense(16, activation="relu", name="hidden"),
        layers.Dense(1, activation="sigmoid", name="out")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 6, "batch_size": 32, "validation_split": 0.2}}

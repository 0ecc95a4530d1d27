"""Two inputs, text and numbers, merged (after Keras's "Functional API: multi-input models")."""
import keras
import numpy as np
from keras import layers

from . import _data

CASE = {"id": "healthy_multi_input", "source": "keras-guides:functional_api_multi_input",
        "title": "tokens and numeric features, concatenated"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    tokens, y = _data.token_sequences(seed, n=1000)
    rng = np.random.default_rng(seed + 1)
    numbers = (rng.normal(size=(1000, 6)) * 0.5 + y[:, None] * 0.3).astype("float32")
    t_in, n_in = keras.Input((40,), dtype="int64", name="tokens"), keras.Input((6,), name="numbers")
    t = layers.GlobalAveragePooling1D(name="pool")(layers.Embedding(400, 16, name="embedding")(t_in))
    n = layers.Dense(8, activation="relu", name="numbers_dense")(n_in)
    h = layers.Dense(16, activation="relu", name="hidden")(layers.Concatenate(name="merge")([t, n]))
    model = keras.Model([t_in, n_in], layers.Dense(1, activation="sigmoid", name="out")(h))
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": [tokens, numbers], "y": y,
            "fit": {"epochs": 6, "batch_size": 32, "validation_split": 0.2}}

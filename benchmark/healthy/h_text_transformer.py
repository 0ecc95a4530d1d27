"""A small Transformer block for text (after Keras's "Text classification with Transformer")."""
import keras
from keras import layers, ops

from . import _data

CASE = {"id": "healthy_text_transformer", "source": "keras-examples:text_classification_with_transformer",
        "title": "token + position embedding, one Transformer block"}


class TokenAndPosition(layers.Layer):
    def __init__(self, length, vocab, dim, **kw):
        super().__init__(**kw)
        self.tok = layers.Embedding(vocab, dim)
        self.pos = layers.Embedding(length, dim)

    def call(self, x):
        return self.tok(x) + self.pos(ops.arange(0, ops.shape(x)[-1]))


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    x, y = _data.token_sequences(seed)
    inputs = keras.Input((40,), dtype="int64")
    h = TokenAndPosition(40, 400, 16, name="embedding")(inputs)
    att = layers.MultiHeadAttention(num_heads=2, key_dim=8, name="attention")(h, h)
    h = layers.LayerNormalization(epsilon=1e-6, name="norm_1")(h + layers.Dropout(0.1, name="drop_att")(att))
    ff = layers.Dense(16, name="ffn_out")(layers.Dense(32, activation="relu", name="ffn_in")(h))
    h = layers.LayerNormalization(epsilon=1e-6, name="norm_2")(h + ff)
    h = layers.GlobalAveragePooling1D(name="pool")(h)
    out = layers.Dense(2, activation="softmax", name="out")(layers.Dropout(0.1, name="drop")(h))
    model = keras.Model(inputs, out)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 5, "batch_size": 32, "validation_split": 0.2}}

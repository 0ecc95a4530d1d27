"""GitHub MovieReviews_Keras: IMDB-style multi-hot bag of words, 16-16-1 MLP without dropout."""

import keras
import numpy as np
from keras import layers

CASE = {"id": "MovieReviews_Keras", "source": "github:MovieReviews_Keras",
        "title": "IMDB bag-of-words MLP without dropout overfits"}

VOCAB = 2000


def _reviews(rng, n):
    """Seeded stand-in for imdb.load_data(num_words=10000) + vectorize_sequences: multi-hot rows
    over a smaller vocabulary; 60 'sentiment' words carry the label, the rest is Zipf-like noise."""
    labels = rng.integers(0, 2, size=n)
    freq = 1.0 / np.arange(1, VOCAB + 1) ** 0.8
    freq = freq / freq.sum()
    pos, neg = rng.choice(np.arange(50, VOCAB), size=(2, 30), replace=False)
    x = np.zeros((n, VOCAB), dtype="float32")
    for i in range(n):
        words = rng.choice(VOCAB, size=rng.integers(40, 120), p=freq)
        x[i, words] = 1.0
        good, bad = (pos, neg) if labels[i] else (neg, pos)
        x[i, rng.choice(good, size=rng.integers(0, 4))] = 1.0
        x[i, rng.choice(bad, size=rng.integers(0, 2))] = 1.0
    return x, labels.astype("float32")


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    x, y = _reviews(np.random.default_rng(seed), 4000)
    n_val = 2000  # the original validates on x_train[:10000] and trains on the rest
    if variant == "buggy":
        stack = [keras.Input(shape=(VOCAB,)),
                 layers.Dense(16, name="dense_1"), layers.Activation("relu", name="relu_1"),
                 layers.Dense(16, name="dense_2"), layers.Activation("relu", name="relu_2"),
                 layers.Dense(1, name="dense_out"), layers.Activation("sigmoid", name="sigmoid_out")]
        epochs = 4
    elif variant == "fixed":
        stack = [keras.Input(shape=(VOCAB,)),
                 layers.Dense(16, activation="relu", name="dense_1"), layers.Dropout(0.5, name="dropout_1"),
                 layers.Dense(16, activation="relu", name="dense_2"), layers.Dropout(0.5, name="dropout_2"),
                 layers.Dense(1, activation="sigmoid", name="dense_out")]
        epochs = 7
    else:
        raise ValueError(variant)
    model = keras.Sequential(stack, name="movie_reviews_" + variant)
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.001), loss="binary_crossentropy",
                  metrics=[keras.metrics.BinaryAccuracy(name="binary_accuracy")])
    return {"model": model, "x": x[n_val:], "y": y[n_val:],
            "fit": {"epochs": epochs, "batch_size": 512, "validation_data": (x[:n_val], y[:n_val])}}

"""Short fits of small healthy models unlike the benchmark's, over seeds: how
often do the defaults call one buggy? (slow: 36 fits, about 90 s.)

A person debugging a model mostly runs short fits (two to five epochs), where
training has barely begun: accuracy may not have left chance, the loss may
still be falling fast. Twelve small models (digits MLPs and a CNN, batch
normalization and dropout, binary and logit outputs, a regression with a
Normalization layer, wine, a GRU, an Embedding with pooling, an autoencoder)
trained for two to five epochs with seeds 0, 1 and 2 with the defaults
(``verify="auto"``). At most one fit in twenty may be called buggy: the
Embedding model learns slowly enough at Adam's default rate that lr x10 can
be verified on it; a healthy model flagged more often than that is a false
alarm to study.
"""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine

from deeplocalize import DeepLocalizeCallback

L = keras.layers


def _seq(shape, layers, dtype="float32"):
    return lambda: keras.Sequential([keras.Input(shape, dtype=dtype), *layers()])


def _scaled(data):
    return ((data - data.mean(0)) / data.std(0)).astype("float32")


def models(seed):
    """``(name, build, optimizer, loss, x, y, fit kwargs)`` of each healthy program."""
    d = load_digits()
    x, y = (d.data / 16.0).astype("float32"), d.target.astype("int32")
    sparse, e = "sparse_categorical_crossentropy", lambda n, b: dict(epochs=n, batch_size=b)
    yield ("mlp_digits_e3", _seq((64,), lambda: [L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")]),
           "adam", sparse, x, y, e(3, 32))
    yield ("mlp_digits_sgd_e2", _seq((64,), lambda: [L.Dense(32, activation="tanh"),
                                                     L.Dense(10, activation="softmax")]),
           keras.optimizers.SGD(0.05, momentum=0.9), sparse, x, y, e(2, 64))
    yield ("cnn_digits_e2", _seq((8, 8, 1), lambda: [L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
                                                     L.Dense(10, activation="softmax")]),
           "adam", sparse, x.reshape(-1, 8, 8, 1), y, e(2, 32))
    yield ("bn_dropout_e3", _seq((64,), lambda: [L.Dense(128), L.BatchNormalization(), L.Activation("relu"),
                                                 L.Dropout(0.3), L.Dense(10, activation="softmax")]),
           "rmsprop", sparse, x, y, e(3, 64))
    yield ("onehot_e2", _seq((64,), lambda: [L.Dense(32, activation="elu"), L.Dense(10, activation="softmax")]),
           "adam", "categorical_crossentropy", x, keras.utils.to_categorical(y, 10), e(2, 16))
    b = load_breast_cancer()
    xb, yb = _scaled(b.data), b.target.astype("float32")
    yield ("binary_e3", _seq((30,), lambda: [L.Dense(16, activation="relu"), L.Dense(1, activation="sigmoid")]),
           "adam", "binary_crossentropy", xb, yb, e(3, 32))
    yield ("binary_logits_e2", _seq((30,), lambda: [L.Dense(8, activation="relu"), L.Dense(1)]),
           "adam", keras.losses.BinaryCrossentropy(from_logits=True), xb, yb, e(2, 16))
    dd = load_diabetes()
    xd, yd = dd.data.astype("float32"), dd.target.astype("float32")

    def normalized():
        norm = L.Normalization()
        norm.adapt(xd)
        return [norm, L.Dense(32, activation="relu"), L.Dense(1)]
    yield "regression_norm_e5", _seq((10,), normalized), keras.optimizers.Adam(0.01), "mse", xd, yd, e(5, 32)
    w = load_wine()
    yield ("wine_e5", _seq((13,), lambda: [L.Dense(16, activation="relu"), L.Dense(3, activation="softmax")]),
           "adam", sparse, _scaled(w.data), w.target, e(5, 16))
    rng = np.random.default_rng(seed)
    seq = rng.normal(size=(512, 12, 3)).astype("float32")
    yield ("gru_e3", _seq((12, 3), lambda: [L.GRU(16), L.Dense(2, activation="softmax")]),
           "adam", sparse, seq, (seq[:, :, 0].sum(1) > 0).astype("int32"), e(3, 32))
    tokens = rng.integers(1, 200, size=(800, 20))
    yield ("embed_e3", _seq((20,), lambda: [L.Embedding(200, 16), L.GlobalAveragePooling1D(),
                                            L.Dense(1, activation="sigmoid")], dtype="int32"),
           "adam", "binary_crossentropy", tokens, (tokens[:, :5].mean(1) > 100).astype("float32"), e(3, 32))
    yield ("autoenc_e3", _seq((64,), lambda: [L.Dense(16, activation="relu"), L.Dense(64, activation="sigmoid")]),
           "adam", "mse", x, x, e(3, 32))


@pytest.mark.slow
def test_short_healthy_fits_are_rarely_called_buggy():
    flagged, runs = [], 0
    for seed in (0, 1, 2):
        for name, build, opt, loss, x, y, fit in models(seed):
            keras.utils.set_random_seed(seed)
            model = build()
            metrics = [] if name.startswith(("regression", "autoenc")) else ["accuracy"]
            optimizer = opt if isinstance(opt, str) else opt.__class__.from_config(opt.get_config())
            model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
            cb = DeepLocalizeCallback(verbose=0)
            model.fit(x, y, verbose=0, callbacks=[cb], **fit)
            runs += 1
            if cb.diagnosis.status != "healthy":
                flagged.append((name, seed, [(f.kind, f.severity) for f in cb.diagnosis.findings][:3]))
    assert runs == 36
    assert len(flagged) <= runs // 20, flagged

"""Small healthy and buggy Keras programs shared by the tests.

Each builder returns ``(model, fit_kwargs)`` with data included, seeded, and
fast (a few seconds on 2 CPU cores).
"""

from __future__ import annotations

import numpy as np


def _keras():
    import keras

    return keras


def _standardize(x):
    return ((x - x.mean(0)) / (x.std(0) + 1e-8)).astype("float32")


def digits(flat=True):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype("float32")
    return (x if flat else x.reshape(-1, 8, 8, 1)), d.target.astype("int32")


def mlp_classifier(seed=0):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    x, y = digits()
    m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu", name="hidden"),
                          keras.layers.Dense(10, activation="softmax", name="out")], name="mlp_classifier")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m, dict(x=x, y=y, epochs=4, batch_size=32)


def binary_classifier(seed=0):
    keras = _keras()
    from sklearn.datasets import load_breast_cancer

    keras.utils.set_random_seed(seed)
    d = load_breast_cancer()
    m = keras.Sequential([keras.Input((30,)), keras.layers.Dense(16, activation="relu", name="hidden"),
                          keras.layers.Dense(1, activation="sigmoid", name="out")], name="binary")
    m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return m, dict(x=_standardize(d.data), y=d.target.astype("float32"), epochs=5, batch_size=16,
                   validation_split=0.2)


def regressor_unscaled_targets(seed=0):
    keras = _keras()
    from sklearn.datasets import load_diabetes

    keras.utils.set_random_seed(seed)
    d = load_diabetes()  # targets 25..346, left unscaled on purpose
    m = keras.Sequential([keras.Input((10,)), keras.layers.Dense(32, activation="relu", name="hidden"),
                          keras.layers.Dense(1, name="out")], name="regressor")
    m.compile(keras.optimizers.Adam(0.01), "mse")
    # 30 epochs: at 8 its MSE (1.2e4) was still twice the targets' variance (5.9e3), worse than predicting
    # their mean, and still falling fast (no_better_than_mean rightly calls that unfinished)
    return m, dict(x=_standardize(d.data), y=d.target.astype("float32"), epochs=30, batch_size=32)


def cnn(seed=0):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    x, y = digits(flat=False)
    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(16, 3, activation="relu", name="conv"),
                          keras.layers.MaxPooling2D(name="pool"), keras.layers.Flatten(name="flat"),
                          keras.layers.Dense(10, activation="softmax", name="out")], name="cnn")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m, dict(x=x, y=y, epochs=4, batch_size=32)


def _sequences(seed, n=1024, t=12):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, 4)).astype("float32")
    y = (x[:, :, 0].sum(1) > 0).astype("int32")
    return x, y


def lstm(seed=0):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    x, y = _sequences(seed)
    m = keras.Sequential([keras.Input((12, 4)), keras.layers.LSTM(16, name="lstm"),
                          keras.layers.Dense(2, activation="softmax", name="out")], name="lstm")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m, dict(x=x, y=y, epochs=4, batch_size=32)


def gru_embedding(seed=0):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 50, size=(1024, 10))
    y = (x[:, :3] < 25).sum(1) >= 2
    m = keras.Sequential([keras.Input((10,), dtype="int32"), keras.layers.Embedding(50, 8, name="embed"),
                          keras.layers.GRU(16, name="gru"), keras.layers.Dense(1, activation="sigmoid", name="out")],
                         name="gru_embedding")
    m.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    return m, dict(x=x, y=y.astype("float32"), epochs=5, batch_size=32)


def batchnorm_dropout(seed=0):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    x, y = digits()
    m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, name="dense_1"),
                          keras.layers.BatchNormalization(name="bn"), keras.layers.Activation("relu", name="relu"),
                          keras.layers.Dropout(0.3, name="drop"),
                          keras.layers.Dense(10, activation="softmax", name="out")], name="bn_dropout")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m, dict(x=x, y=y, epochs=4, batch_size=32, validation_split=0.2)


def multi_input(seed=0):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    x, y = digits()
    a, b = keras.Input((32,), name="left"), keras.Input((32,), name="right")
    h = keras.layers.Concatenate(name="concat")([keras.layers.Dense(16, activation="relu", name="da")(a),
                                                 keras.layers.Dense(16, activation="relu", name="db")(b)])
    out = keras.layers.Dense(10, activation="softmax", name="out")(h)
    m = keras.Model([a, b], out, name="multi_input")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m, dict(x=[x[:, :32], x[:, 32:]], y=y, epochs=4, batch_size=32)


def multi_output(seed=0):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    x, y = digits()
    inp = keras.Input((64,))
    h = keras.layers.Dense(32, activation="relu", name="shared")(inp)
    cls = keras.layers.Dense(10, activation="softmax", name="cls")(h)
    reg = keras.layers.Dense(1, name="reg")(h)
    m = keras.Model(inp, [cls, reg], name="multi_output")
    m.compile("adam", ["sparse_categorical_crossentropy", "mse"])
    return m, dict(x=x, y=[y, x.mean(1, keepdims=True)], epochs=4, batch_size=32)


def subclassed(seed=0):
    keras = _keras()
    keras.utils.set_random_seed(seed)

    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="subclassed")
            self.hidden = keras.layers.Dense(32, activation="relu", name="hidden")
            self.out = keras.layers.Dense(10, activation="softmax", name="out")

        def call(self, x):
            return self.out(self.hidden(x))

    x, y = digits()
    m = Net()
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m, dict(x=x, y=y, epochs=4, batch_size=32)


def sigmoid_mlp(seed=0):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    x, y = digits()
    m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="sigmoid", name="hidden"),
                          keras.layers.Dense(10, activation="softmax", name="out")], name="sigmoid_mlp")
    m.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m, dict(x=x, y=y, epochs=5, batch_size=32)


def tanh_mlp(seed=0):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    x, y = digits()
    m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="tanh", name="h1"),
                          keras.layers.Dense(32, activation="tanh", name="h2"),
                          keras.layers.Dense(10, activation="softmax", name="out")], name="tanh_mlp")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m, dict(x=x, y=y, epochs=4, batch_size=32)


def small_learning_rate(seed=0):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    x, y = digits()
    m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu", name="hidden"),
                          keras.layers.Dense(10, activation="softmax", name="out")], name="small_lr")
    m.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m, dict(x=x, y=y, epochs=4, batch_size=32)


def dataset_input(seed=0):
    keras = _keras()
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    x, y = digits()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(512, seed=seed).batch(32)
    m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu", name="hidden"),
                          keras.layers.Dense(10, activation="softmax", name="out")], name="dataset_input")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m, dict(x=ds, epochs=4)


def generator_input(seed=0):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    x, y = digits()

    def batches():
        while True:
            for i in range(0, len(x) - 32, 32):
                yield x[i:i + 32], y[i:i + 32]

    m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu", name="hidden"),
                          keras.layers.Dense(10, activation="softmax", name="out")], name="generator_input")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m, dict(x=batches(), epochs=4, steps_per_epoch=50)


HEALTHY = {
    f.__name__: f
    for f in (mlp_classifier, binary_classifier, regressor_unscaled_targets, cnn, lstm, gru_embedding,
              batchnorm_dropout, multi_input, multi_output, subclassed, sigmoid_mlp, tanh_mlp,
              small_learning_rate, dataset_input, generator_input)
}


def fit(builder, callbacks, seed=0):
    """Build and train; returns (model, history)."""
    model, kwargs = builder(seed)
    kwargs = dict(kwargs)
    x, y = kwargs.pop("x"), kwargs.pop("y", None)
    history = model.fit(x, y, callbacks=callbacks, verbose=0, **kwargs)
    return model, history

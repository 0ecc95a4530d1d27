"""One small buggy program per root cause: the rules' diagnosis (verify="never") names the cause and
where it is (a layer, or the component outside the layers)."""

import keras
import numpy as np
import pytest

from deeplocalize import DeepLocalizeCallback
from models import digits

X, Y = digits()


def mlp(out="softmax", loss="sparse_categorical_crossentropy", opt="adam", init="glorot_uniform", hidden=1,
        units=10, trainable=True, act="relu", out_init="glorot_uniform"):
    layers = [keras.Input((64,))]
    for i in range(hidden):
        layers.append(keras.layers.Dense(32, activation=act, kernel_initializer=init, name=f"hidden_{i + 1}"))
    layers.append(keras.layers.Dense(units, activation=out, kernel_initializer=out_init, name="out"))
    m = keras.Sequential(layers)
    m.trainable = trainable
    m.compile(opt, loss, metrics=["accuracy"])
    return m


def overfit_program():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 64)).astype("float32")
    y = (x[:, 0] + 0.8 * rng.normal(size=60) > 0).astype("float32")
    m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256, activation="relu", name="wide_1"),
                          keras.layers.Dense(256, activation="relu", name="wide_2"),
                          keras.layers.Dense(1, activation="sigmoid", name="out")])
    m.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy", metrics=["accuracy"])
    return m, x, y, dict(epochs=40, batch_size=10, validation_split=0.3)


def wide_mlp():
    m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu", name="hidden"),
                          keras.layers.Dense(10, activation="softmax", name="out")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def regression(optimizer, epochs):
    """A 3-feature linear target with an offset, fit by a small ReLU net."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.normal(size=256) + 2.0).astype("float32")
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu", name="hidden"),
                          keras.layers.Dense(1, name="out")])
    m.compile(optimizer, "mse")
    return m, x, y, dict(epochs=epochs)


CASES = {
    # name: (build -> (model, x, y, fit kwargs), expected root cause, acceptable layers)
    "learning_rate": (lambda: (mlp(opt=keras.optimizers.SGD(learning_rate=5.0)), X, Y, {}), "learning_rate",
                      {"optimizer"}),
    "activation": (lambda: (mlp(out="relu"), X, Y, {}), "activation", {"out"}),
    # a stack of sigmoid layers under plain SGD stays at chance with no single anomalous layer
    "activation_stalled": (lambda: (mlp(act="sigmoid", hidden=3, opt=keras.optimizers.SGD(0.01)), X, Y, {}),
                           "activation", {"hidden_1"}),
    "loss_function": (lambda: (mlp(out="sigmoid", loss="mse"), X, keras.utils.to_categorical(Y), {}),
                      "loss_function", {"loss"}),
    # 0/1 labels scored by mean absolute error through sigmoid layers: the gradient vanishes as they saturate
    "loss_function_absolute_error": (lambda: (mlp(out="sigmoid", loss="mean_absolute_error", units=1, act="sigmoid",
                                                  opt=keras.optimizers.SGD(0.05)), X, (Y >= 5).astype("float32"), {}),
                                     "loss_function", {"loss"}),
    "initialization": (lambda: (mlp(init="zeros", hidden=2), X, Y, {}), "initialization", {"hidden_1"}),
    # features in the hundred-thousands (prices, IP addresses as integers) saturate a tanh layer
    "data_preprocessing": (lambda: (mlp(act="tanh"), X * 1e5, Y, {}), "data_preprocessing", {"data"}),
    # raw 0-255 pixels into ReLU layers: the first loss is ~50x a uniform guess's, though the run then learns
    "data_preprocessing_raw_pixels": (lambda: (mlp(), X * 255.0, Y, {}), "data_preprocessing", {"data"}),
    # normalized inputs, kernels drawn with stddev 3: confidently wrong from the first step
    "initialization_too_large": (lambda: (mlp(init=keras.initializers.RandomNormal(stddev=3.0),
                                              out_init=keras.initializers.RandomNormal(stddev=3.0)), X, Y, {}),
                                 "initialization", {"hidden_1", "out"}),
    "labels": (lambda: (mlp(out="sigmoid", loss="binary_crossentropy", units=1), X, Y.astype("float32"), {}),
               "labels", {"labels"}),
    # epsilon in the thousands divides every Adam step away: the optimizer, not the rate, is misconfigured
    "optimizer": (lambda: (mlp(opt=keras.optimizers.Adam(epsilon=1e3)), X, Y, {}), "optimizer", {"optimizer"}),
    "architecture": (overfit_program, "architecture", {None, "wide_1", "wide_2"}),
    "training_config": (lambda: (mlp(trainable=False), X, Y, {}), "training_config", {None}),
    # labels permuted apart from their inputs: training accuracy climbs, validation accuracy stays at chance
    "labels_shuffled": (lambda: (wide_mlp(), X, np.random.default_rng(0).permutation(Y),
                                 dict(epochs=30, validation_split=0.2)), "labels", {"labels", "data"}),
    # plain SGD stopped after 6 epochs: the mean squared error is still above the labels' variance, and falling
    "training_config_unfinished": (lambda: regression(keras.optimizers.SGD(0.005), 6), "training_config",
                                   {"training_config"}),
}


@pytest.mark.parametrize("cause", sorted(CASES))
def test_root_cause_and_location(cause):
    build, expected, layers = CASES[cause]
    keras.utils.set_random_seed(0)
    model, x, y, kwargs = build()
    kwargs = {"epochs": 5, "batch_size": 32, **kwargs}
    cb = DeepLocalizeCallback(verbose=0, verify="never")  # the rules alone; tests/test_verify.py tries fixes
    model.fit(x, y, callbacks=[cb], verbose=0, **kwargs)
    d = cb.diagnosis
    summary = [(f.kind, f.layer, f.root_cause, f.severity) for f in d.findings]
    assert d.status == "buggy", summary
    assert d.root_cause == expected, summary
    assert d.faulty_layer in layers, (d.faulty_layer, summary)
    top = next(f for f in d.findings if f.severity != "info")
    assert top.suggestion and top.message


def test_the_same_regression_trained_to_the_end_is_healthy():
    keras.utils.set_random_seed(0)
    model, x, y, kwargs = regression(keras.optimizers.Adam(0.01), 30)
    cb = DeepLocalizeCallback(verbose=0, verify="never")
    model.fit(x, y, callbacks=[cb], verbose=0, batch_size=32, **kwargs)
    assert cb.diagnosis.status == "healthy", [(f.kind, f.severity) for f in cb.diagnosis.findings]


def test_the_same_classifier_on_its_real_labels_generalizes_and_is_healthy():
    keras.utils.set_random_seed(0)
    cb = DeepLocalizeCallback(verbose=0, verify="never")
    wide_mlp().fit(X, Y, epochs=30, batch_size=32, validation_split=0.2, callbacks=[cb], verbose=0)
    assert cb.diagnosis.status == "healthy", [(f.kind, f.severity) for f in cb.diagnosis.findings]


def _relu_regression(y):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).normal(size=(len(y), 4)).astype("float32")
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="hidden"),
                          keras.layers.Dense(1, activation="relu", name="out")])
    m.compile("adam", "mse")
    cb = DeepLocalizeCallback(verbose=0, verify="never")
    history = m.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0, callbacks=[cb])
    found = [f for f in cb.diagnosis.findings if f.kind == "loss_activation_mismatch"]
    return found, len(history.history["loss"])


def test_a_relu_output_is_an_error_only_when_much_of_the_targets_is_out_of_its_reach():
    rng = np.random.default_rng(0)
    standardized = rng.normal(size=64).astype("float32")  # half the targets below 0: out of a relu's reach
    found, epochs = _relu_regression(standardized)
    assert [(f.severity, f.layer) for f in found] == [("error", "out")] and epochs == 1  # halted at step 0
    mostly_positive = (rng.uniform(0.5, 3.0, size=64)).astype("float32")
    mostly_positive[[3, 40]] = -0.5  # two small negative targets: a cap on the fit, not a failure
    found, epochs = _relu_regression(mostly_positive)
    assert [(f.severity, f.layer) for f in found] == [("info", "out")] and epochs == 2
    assert f"{found[0].evidence['floor']:.4f}" == f"{0.25 / 32:.4f}"  # mean(min(y, 0)^2) of the first batch

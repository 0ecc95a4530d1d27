"""The re-implemented peers (UMLAUT, AUTOTRAINER, DeepDiagnosis): each rule fires on
synthetic statistics built for it and stays silent on healthy ones; each callback
runs in a real (tiny) Keras 3 fit, flags a broken run and leaves a healthy one alone."""

from __future__ import annotations

import numpy as np
import pytest

from deeplocalize.bench.peers import autotrainer as at
from deeplocalize.bench.peers import deepdiagnosis as dd
from deeplocalize.bench.peers import umlaut as um


# ---- UMLAUT ---------------------------------------------------------------------------------------
HEALTHY_LAYERS = [("hidden", "Dense", "relu", None), ("drop", "Dropout", None, 0.5),
                  ("logits", "Dense", "linear", None), ("softmax", "Softmax", "softmax", None)]


def test_umlaut_pretrain_rules():
    assert um.pretrain_errors(HEALTHY_LAYERS, loss_from_logits=False) == []
    assert um.pretrain_errors([("hidden", "Dense", "relu", None), ("out", "Dense", "linear", None)],
                              loss_from_logits=True) == []
    errors = um.pretrain_errors([("hidden", "Dense", "linear", None), ("out", "Dense", "softmax", None)], False)
    assert errors == [("missing_softmax", None), ("missing_activation", "hidden"), ("last_layer_nonlinear", "out")]
    assert ("high_dropout", "drop") in um.pretrain_errors(
        [("drop", "Dropout", None, 0.6)] + HEALTHY_LAYERS[2:], False)
    assert um.verdict_of("missing_activation", "hidden") == {
        "error": "missing_activation", "root_cause": "activation", "faulty_layer": "hidden"}


def test_umlaut_epoch_rules():
    ok = [np.linspace(-1, 1, 64, dtype="float32").reshape(16, 4)]
    logs = {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.7}
    history = {"loss": [0.6], "val_loss": [0.7]}
    assert um.epoch_errors(4, ok, 0.5, 1e-3, history, logs) == []

    def kinds(**kw):
        args = dict(epoch=4, inputs=ok, loss=0.5, lr=1e-3, history=history, logs=logs) | kw
        return [e for e, _ in um.epoch_errors(**args)]

    assert kinds(inputs=[ok[0] * 255]) == ["input_not_normalized"]
    assert kinds(inputs=[np.zeros((2, 28, 32, 1), dtype="float32")]) == ["input_wrong_shape"]
    assert kinds(inputs=[np.zeros((4, 3), dtype="int64")]) == ["input_not_floating"]
    nan_x = ok[0].copy()
    nan_x[0, 0] = np.nan
    assert kinds(loss=float("nan")) == []  # a NaN loss alone is not UMLAUT's error: NaN in the input is
    assert "nan_in_input" in kinds(loss=float("nan"), inputs=[nan_x])
    assert kinds(lr=0.1) == ["lr_high"] and kinds(lr=1e-8) == ["lr_low"]
    assert kinds(logs=dict(logs, loss=0.55, val_loss=0.8)) == ["overfitting"]
    assert kinds(logs=dict(logs, val_accuracy=0.97, accuracy=0.99)) == ["overconfident_validation"]
    assert kinds(epoch=2, logs=dict(logs, val_accuracy=0.97, accuracy=0.99)) == []  # ignored before epoch 3


# ---- AUTOTRAINER ----------------------------------------------------------------------------------
def test_autotrainer_gradient_rules():
    rng = np.random.default_rng(0)
    healthy = [rng.normal(size=(8, 8)), rng.normal(size=(8, 1))]
    f = at.gradient_features(healthy)
    assert not (f["vanish_gradient"] or f["explode_gradient"] or f["died_relu"] or f["nan_gradient"])
    assert at.gradient_features([healthy[0] * 1e-7, healthy[1]])["vanish_gradient"]
    assert at.gradient_features([healthy[0] * 100, healthy[1]])["explode_gradient"]
    dead = [np.where(rng.random((8, 8)) < 0.8, 0.0, 1.0), np.zeros((8, 1))]
    assert at.gradient_features(dead)["died_relu"]
    assert at.gradient_features([healthy[0] * np.nan, healthy[1]])["nan_gradient"]


def test_autotrainer_loss_and_output_rules():
    learning = {"loss": [1.0, 0.6, 0.4, 0.3], "accuracy": [0.5, 0.7, 0.85, 0.9]}
    f = at.loss_features(learning, total_epochs=4)
    assert not any(f.values())
    assert at.loss_features({"loss": [1.0, float("nan")]}, 10)["nan_loss"]
    assert at.loss_features({"loss": [1.0, 2e3]}, 10)["nan_loss"]
    assert at.loss_features({"loss": [1.0, -0.5]}, 10)["abnormal_loss"]
    flat = at.loss_features({"loss": [0.7] * 6, "accuracy": [0.5] * 6}, 6)
    assert flat["not_converge"] and flat["sc_accuracy"]
    wobbly = at.loss_features({"loss": [0.7] * 9, "accuracy": [0.5, 0.7, 0.5, 0.7, 0.5, 0.7, 0.5, 0.7, 0.5]}, 9)
    assert wobbly["unstable_loss"]
    assert at.output_features("sparse_categorical_crossentropy", 10, "softmax") == {
        "improper_loss": False, "activation_output": False}
    assert at.output_features("binary_crossentropy", 1, "relu")["activation_output"]
    assert at.output_features("categorical_crossentropy", 1, "softmax")["improper_loss"]
    assert at.output_features("mse", 1, "linear")["improper_loss"]  # the published rule knows no regression
    assert not at.output_features(object(), 1, "linear")["improper_loss"]  # a loss object is not checked
    assert at.layer_features([np.full((4, 8), 20.0), np.full((4, 3), 0.3)])["abnormal_output"]
    assert at.layer_features([np.ones((4, 8)), np.full((4, 1), 3.0)])["activation_output"]


def test_autotrainer_judge():
    assert at.judge({}, outputs_read=True) == []
    assert at.judge({"nan_loss": True, "nan_weight": True}, outputs_read=False) == ["explode"]
    assert at.judge({"nan_loss": True}, outputs_read=False) == []
    assert at.judge({"abnormal_output": True, "unstable_loss": True}, outputs_read=True) == ["data", "unstable"]
    slow = {"not_converge": True, "sc_accuracy": True}
    assert at.judge(slow, True) == ["not_converge"]
    assert at.judge(dict(slow, vanish_gradient=True), True) == ["vanish"]
    assert at.judge(dict(slow, activation_output=True, died_relu=True), True) == ["activation"]
    assert at.judge({"improper_loss": True}, True) == ["loss"]
    assert at.CAUSES["relu"] == "activation" and at.CAUSES["data"] == "data_preprocessing"


# ---- DeepDiagnosis --------------------------------------------------------------------------------
def test_deepdiagnosis_symptom_rules():
    assert dd.numerical(0.0) and dd.numerical(float("inf")) and not dd.numerical(0.1)
    assert dd.unchanged([0.3] * 5) and not dd.unchanged([0.3, 0.3, 0.31, 0.3, 0.3])
    assert dd.dead(np.r_[np.zeros(8), np.ones(2)]) and not dd.dead(np.r_[np.zeros(6), np.ones(4)])
    assert dd.saturated(np.r_[np.full(6, 7.0), np.zeros(4)]) and not dd.saturated(np.r_[np.full(5, 7.0), np.zeros(5)])
    y01 = np.array([0.0, 1.0, 1.0])
    assert not dd.out_of_range("sigmoid", "binary_crossentropy", y01, [0.2, 0.5, 0.9])
    assert dd.out_of_range("tanh", "mse", np.array([0.0, 5.0]), [0.1, 0.2])
    assert dd.out_of_range("relu", "categorical_crossentropy", y01, [0.1, 0.2])
    assert dd.out_of_range("linear", "mse", y01, [-30.0, 30.0])
    assert not dd.out_of_range("linear", "mse", y01, [0.0, 1.0])


def test_deepdiagnosis_decision_tree():
    rng = np.random.default_rng(0)
    none = dd.Facts(poor_weight=None, unnormalized=False, lr_bad=False)
    assert dd.poor_weight([None, rng.normal(size=(8, 8)) * 0.3]) is None
    assert dd.poor_weight([rng.normal(size=(8, 8)) * 1e-4]) == 0
    w, g = rng.normal(size=(8, 8)), rng.normal(size=(8, 8))
    assert not dd.lr_out_of_range(dd.lr_ratios(1e-2, [w], [g]))
    assert dd.lr_out_of_range(dd.lr_ratios(10.0, [w], [g]))
    assert dd.analyse("numerical_fw", 1, none, n_layers=4) == ("activation", "activation", 2)
    assert dd.analyse("numerical_fw", 1, dd.Facts(None, True, True), 4) == ("normalize", "data_preprocessing", "data")
    assert dd.analyse("numerical_w", 0, dd.Facts(2, True, True), 4) == ("poor_weight", "initialization", 2)
    assert dd.analyse("numerical_dw", 2, none, 4) == ("loss", "loss_function", "loss")
    assert dd.analyse("unchanged_fw", 3, none, 4) == ("activation", "activation", 3)
    assert dd.analyse("loss_not_decreasing", None, dd.Facts(None, False, True), 4)[0] == "learning_rate"
    assert dd.analyse("accuracy_not_increasing", None, none, 4) == ("optimizer", "optimizer", "optimizer")
    assert dd.analyse("invalid_loss", None, none, 4, last_linear=True) == ("activation", "activation", 3)
    assert dd.analyse("dead_node", 1, none, 4) == ("dropout_or_activation", "architecture", 1)
    assert dd.analyse("out_of_range", 3, dd.Facts(1, True, True), 4) == ("softmax", "activation", 3)
    with pytest.raises(ValueError, match="unknown DeepDiagnosis symptom"):
        dd.analyse("nope", None, none)


# ---- the callbacks in real fits ---------------------------------------------------------------------
def _fit(module, program, epochs=3):
    import keras

    from deeplocalize.bench.tools import Context

    ctx = Context(keras, "buggy", 0, program=program)
    cb = module.make_callbacks(ctx)[0]
    program["model"].fit(program["x"], program["y"], epochs=epochs, batch_size=32, verbose=0, callbacks=[cb])
    return cb


def _blobs(scale=1.0, lr=1e-2, sgd=False, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=256)
    x = (rng.normal(size=(256, 4)) * 0.3 + y[:, None] * 0.6 - 0.3).astype("float32") * scale
    inputs = keras.Input((4,))
    h = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    logits = keras.layers.Dense(2, name="logits")(h)
    out = keras.layers.Softmax(name="softmax")(logits)
    model = keras.Model(inputs, out)
    opt = keras.optimizers.SGD(learning_rate=lr) if sgd else keras.optimizers.Adam(learning_rate=lr)
    model.compile(opt, keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"batch_size": 32}}


def test_peer_callbacks_flag_a_broken_fit_and_pass_a_healthy_one():
    healthy = _blobs(scale=0.5)
    assert _fit(um, healthy).verdict is None
    assert _fit(dd, _blobs(scale=0.5)).verdict is None
    assert _fit(at, _blobs(scale=0.5)).verdict is None

    big = _fit(um, _blobs(scale=100.0))
    assert big.verdict["error"] == "input_not_normalized" and big.verdict["root_cause"] == "data_preprocessing"
    broken = _blobs(scale=100.0, lr=1e4, sgd=True)
    v = _fit(dd, broken).verdict
    assert v is not None and v["epoch"] == 0, v
    v = _fit(at, _blobs(scale=100.0, lr=1e4, sgd=True)).verdict
    assert v is not None and v["issue"] in ("explode", "data", "not_converge"), v

"""Honest status, watching from outside, and output layers found from the graph."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from synthetic import make_trace

from deeplocalize import DeepLocalizeCallback
from deeplocalize.checks import preflight, trends
from deeplocalize.config import load_config
from deeplocalize.diagnosis import analyze, diagnose
from deeplocalize.findings import Diagnosis, Finding
from deeplocalize.model_facts import model_facts
from deeplocalize.probes.choose import outside_reason, own_train_step
from deeplocalize.probes.outputs import output_activations, output_layers
from deeplocalize.report.console import format_summary
from deeplocalize.trace import Trace

CFG = load_config()
OUTSIDE = {"observer": "outside", "watched": "weights", "why": "a tf.distribute strategy",
           "not_watched": ["forward values (activations)"]}


# ---- honest status ---------------------------------------------------------------------
def test_a_run_with_no_watched_step_is_unchecked_not_healthy():
    d = analyze(Trace(meta={"model_name": "m"}))
    assert d.status == "unchecked"
    assert "no training step was watched" in d.unchecked_reason
    assert "UNCHECKED" in d.summary() and "healthy" not in d.summary().lower().replace("of health", "")
    assert "UNCHECKED" in format_summary(d)
    assert Diagnosis.from_dict(d.to_dict()).status == "unchecked"


def test_watching_that_stopped_is_unchecked_with_what_was_checked():
    failure = Finding(kind="internal_error", severity="info", message="deeplocalize stopped after an internal error: X")
    d = diagnose(make_trace(n_steps=40), [failure])
    assert d.status == "unchecked"
    assert d.coverage["checked"].startswith("40 recorded steps")
    assert "internal error" in format_summary(d)


def test_a_fit_that_stopped_with_an_exception_is_unchecked_not_healthy():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(320, 8)).astype("float32")

    y = (x[:, :1] > 0).astype("float32")

    class Fails(keras.callbacks.Callback):  # the user's own code fails in the second epoch
        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch == 3:
                raise OSError("lost the connection to the experiment tracker")

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    cb = DeepLocalizeCallback(verbose=0, verify="never")
    with pytest.raises(OSError):
        model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[cb, Fails()])
    d = cb.diagnosis
    assert d.status == "unchecked" and "has not ended" in d.coverage["stopped"]
    assert cb.trace.n_steps > 0  # what was watched is still there
    cb2 = DeepLocalizeCallback(verbose=0, verify="never")  # the same model, trained to its end: healthy
    model.fit(x, y, epochs=2, verbose=0, callbacks=[cb2])
    assert cb2.diagnosis.status in ("healthy", "buggy") and cb2.diagnosis.coverage["stopped"] is None


def test_a_problem_found_before_watching_stopped_still_makes_it_buggy():
    failure = Finding(kind="internal_error", severity="info", message="stopped")
    nan = Finding(kind="nan", layer="out", severity="error", step=3, detail="activation")
    assert diagnose(make_trace(n_steps=40), [failure, nan]).status == "buggy"


def test_a_callback_that_could_not_watch_says_unchecked(monkeypatch, capsys):
    import deeplocalize.probes.choose as choose

    def broken(*args, **kwargs):
        raise RuntimeError("cannot watch this model")

    monkeypatch.setattr(choose, "watcher_for", broken)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    cb = DeepLocalizeCallback()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        model.fit(np.zeros((8, 4), "float32"), np.zeros(8, "int32"), epochs=1, verbose=0, callbacks=[cb])
    assert cb.diagnosis.status == "unchecked"
    assert "cannot watch this model" in cb.diagnosis.unchecked_reason
    printed = capsys.readouterr().out
    assert "UNCHECKED" in printed and "HEALTHY" not in printed


# ---- from outside ----------------------------------------------------------------------
def test_a_nan_seen_from_outside_names_its_step_and_says_the_layer_is_unknown():
    loss = np.r_[np.linspace(2.3, 2.0, 10), np.full(5, np.nan)]
    trace = make_trace(n_steps=15, loss=loss, meta={"coverage": OUTSIDE},
                       act_min=np.nan, act_max=np.nan, grad_norm=np.nan, gw_norm=np.nan)
    d = analyze(trace)
    nan = next(f for f in d.findings if f.kind == "nan")
    assert (nan.step, nan.layer, nan.detail) == (10, None, "loss")
    assert "not watched" in nan.message and nan.root_cause != "loss_function"
    assert d.status == "buggy" and d.coverage["not_watched"] == OUTSIDE["not_watched"]


def test_gradient_accumulation_does_not_look_like_weights_unchanged():
    ratio = np.zeros((120, 2))  # recorded steps that fall between two updates move nothing
    ratio[::4] = 1e-3
    ratio[60:] = 0.0
    plain = trends.check_weights_unchanged(make_trace(n_steps=120, update_ratio=ratio), CFG)
    meta = {"optimizer_config": {"gradient_accumulation_steps": 4}}
    accumulating = trends.check_weights_unchanged(make_trace(n_steps=120, update_ratio=ratio, meta=meta), CFG)
    assert [f.kind for f in plain] == ["weights_unchanged"] and accumulating == []


# ---- which observer -------------------------------------------------------------------------
def _mlp(**compile_kwargs):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", **compile_kwargs)
    return model


def test_the_in_step_probes_are_used_only_where_they_are_the_users_step():
    class OwnStep(keras.Model):
        def train_step(self, data):
            return {}

    assert not own_train_step(_mlp()) and own_train_step(OwnStep())
    assert outside_reason(_mlp()) is None
    assert "run_eagerly" in outside_reason(_mlp(run_eagerly=True))


# ---- output layers from the graph --------------------------------------------------------------
def test_output_found_through_wrappers_and_nested_models():
    L = keras.layers
    td = keras.Sequential([keras.Input((5, 4)), L.Dense(8, activation="relu"),
                           L.TimeDistributed(L.Dense(3, activation="softmax"), name="per_step")])
    assert [l.name for l in output_layers(td)] == ["per_step"] and output_activations(td) == ["softmax"]
    inp = keras.Input((4,))
    head = keras.Sequential([L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")], name="head")
    nested = keras.Model(inp, head(L.Dense(8, activation="relu")(inp)))
    assert [l.name for l in output_layers(nested)] == ["head"] and output_activations(nested) == ["softmax"]
    dropped = keras.Sequential([keras.Input((4,)), L.Dense(3, activation="sigmoid"), L.Dropout(0.1)])
    assert output_activations(dropped) == ["sigmoid"]


def test_a_subclassed_model_has_no_guessed_output_and_no_false_preflight_error():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.out = keras.layers.Dense(3, activation="softmax")  # created first, called last
            self.hidden = keras.layers.Dense(8, activation="relu")
            self.scale = keras.Variable(1.0, trainable=False)

        def call(self, x):
            return self.out(self.hidden(x) * self.scale)

    model = Sub()
    model.compile("adam", "sparse_categorical_crossentropy")
    assert output_layers(model) is None
    facts = model_facts(model)
    assert facts["output_layers"] == [] and facts["n_trainable_params"] is None
    assert preflight.check_model(facts, [], CFG) == []


@pytest.mark.parametrize("act, expected", [("relu", ["loss_activation_mismatch"]), ("softmax", [])])
def test_preflight_still_reads_a_functional_output(act, expected):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation=act, name="out")])
    model.compile("adam", "sparse_categorical_crossentropy")
    assert [f.kind for f in preflight.check_model(model_facts(model), [], CFG)] == expected

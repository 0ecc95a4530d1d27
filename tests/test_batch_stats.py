"""The first batch's input and label statistics where the run is watched from
outside its step: computed on the host, equal to the in-step probes' columns,
and enough for the pre-flight checks of data (here on TensorFlow with
``run_eagerly=True``; on JAX and PyTorch in a fresh process of each)."""

import json
import os
import subprocess
import sys
import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest

from deeplocalize import DeepLocalizeCallback
from deeplocalize.probes.batch_stats import BatchTap, batch_columns

ROOT = Path(__file__).resolve().parents[1]
DATA_COLUMNS = ("batch_size", "x0_min", "x0_max", "x0_mean", "x0_std", "x1_min", "x1_max", "x1_mean", "x1_std",
                "y0_min", "y0_max", "y0_mean", "y0_sq", "y0_int_frac", "y0_rowsum", "y0_width", "y0_neg_sq")


def test_columns_of_one_batch():
    x = np.array([[0.0, 255.0], [10.0, 20.0]], "float32")
    one_hot = np.eye(3, dtype="float32")[[0, 2]]
    got = batch_columns([x, np.array(["a", "b"])], [one_hot])
    assert got["batch_size"] == 2.0 and got["x0_max"] == 255.0 and got["x0_min"] == 0.0
    assert "x1_min" not in got  # text inputs have no range
    assert got["y0_rowsum"] == 1.0 and got["y0_width"] == 3.0 and got["y0_int_frac"] == 1.0
    soft = batch_columns([x], [np.array([0.5, 1.0], "float32")])
    assert soft["y0_int_frac"] == 0.5 and soft["y0_width"] == 1.0 and np.isnan(soft["y0_rowsum"])
    assert soft["y0_sq"] == pytest.approx(0.625)  # the labels' mean square: with y0_mean, their variance
    assert batch_columns([x], [np.array([True, False])])["y0_mean"] == 0.5
    assert batch_columns([x], [np.array([-1.0, 2.0])])["y0_neg_sq"] == 0.5  # what a relu output cannot reach


def test_batch_tap_splits_inputs_from_targets_and_takes_later_labels_only_when_asked():
    tap = BatchTap()
    tap.add([np.ones((4, 3)), np.full((4, 3), 7.0), np.array([0, 1, 1, 0])], structure=((0, 0), 0))
    assert tap.full  # until asked again
    first = tap.take()
    assert first["batch_size"] == 4.0 and first["x1_max"] == 7.0 and first["y0_max"] == 1.0
    assert tap.take() == {}  # handed over once
    tap.want = True
    assert not tap.full
    tap.add([np.full((2, 3), 9.0), np.zeros((2, 3)), np.array([2, 2])], structure=((0, 0), 0))
    later = tap.take()
    assert later["y0_mean"] == 2.0 and "x0_max" not in later  # the inputs are the first batch's only
    assert "batch_size" not in later  # (a row with a batch size has its batch inspected: see checks.numerical)
    inputs_only = BatchTap()
    inputs_only.add([np.zeros((2, 2))], structure=(0,))
    assert "y0_min" not in inputs_only.columns and inputs_only.columns["x0_max"] == 0.0


def test_after_the_first_batch_the_capture_copies_the_labels_only():
    from types import SimpleNamespace

    from deeplocalize.verify.outside_capture import OutsideCapture

    capture = OutsideCapture(BatchTap(), SimpleNamespace())
    capture._on = True
    capture._keep((np.full((4, 3), 500.0), np.array([0, 1, 1, 0])))
    assert capture.sample.take()["x0_max"] == 500.0
    capture.sample.want = True
    uncopyable = np.array([object()] * 4)  # an input that cannot be copied: the capture would say so
    capture._keep((uncopyable, np.array([2.0, 2.0, 4.0, 4.0])))
    assert capture.unavailable is None and capture.sample.take()["y0_mean"] == 3.0


def _two_input_model(eager: bool):
    keras.utils.set_random_seed(0)
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([a, b]))
    model = keras.Model([a, b], keras.layers.Dense(3, activation="softmax")(h))
    model.compile("adam", "categorical_crossentropy", run_eagerly=eager)
    return model


def _data():
    rng = np.random.default_rng(0)
    xa = (rng.normal(size=(64, 4)) * 300 + 40).astype("float32")
    xb = rng.uniform(0, 1, size=(64, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 64)]
    return [xa, xb], y


def _first_row(eager: bool) -> dict:
    x, y = _data()
    cb = DeepLocalizeCallback(verbose=0, verify="never")
    _two_input_model(eager).fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[cb])
    assert cb.trace.meta["coverage"]["observer"] == ("outside" if eager else "in_graph")
    return {k: float(cb.trace.steps[k][0]) for k in DATA_COLUMNS}, [f.kind for f in cb.findings]


def test_watched_from_outside_the_data_columns_equal_the_in_step_ones():
    inside, inside_kinds = _first_row(eager=False)
    outside, outside_kinds = _first_row(eager=True)
    for key in DATA_COLUMNS:
        assert outside[key] == pytest.approx(inside[key], rel=1e-5, abs=1e-6, nan_ok=True), key
    assert outside["x0_max"] > 300  # the first batch of the unscaled input, not a later one
    assert "unnormalized_input" in inside_kinds and "unnormalized_input" in outside_kinds


def test_watched_from_outside_bad_labels_are_named_at_step_zero():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).normal(size=(64, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("float32") * 2  # labels {0, 2} under binary cross-entropy
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", run_eagerly=True)
    cb = DeepLocalizeCallback(verbose=0, verify="never")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[cb])
    d = cb.diagnosis
    assert d.status == "buggy" and d.root_cause == "labels" and d.faulty_layer == "labels"
    assert d.first_detection_step == 0


SCRIPT = r"""
import json, numpy as np, keras
from deeplocalize import DeepLocalizeCallback
keras.utils.set_random_seed(0)
x = np.random.default_rng(1).normal(size=(64, 5)).astype("float32")
classes = np.eye(3, dtype="float32")[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0)]
out = {}
# labels: one-hot rows times 2 (PyTorch refuses binary labels outside [0, 1] itself; every backend takes these)
for case, xs, y in (("labels", x, classes * 2), ("inputs", x * 1e4, classes)):
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    cb = DeepLocalizeCallback(verbose=0, verify="never")
    model.fit(xs, y, batch_size=16, epochs=2, verbose=0, callbacks=[cb])
    out[case] = {"kinds": [f.kind for f in cb.findings], "cause": cb.diagnosis.root_cause,
                 "x0_max": float(cb.trace.steps["x0_max"][0]) if "x0_max" in cb.trace.steps else None,
                 "rows": int(cb.trace.n_steps), "labelled": int(np.isfinite(cb.trace.steps["y0_mean"]).sum()),
                 "inputs": int(np.isfinite(cb.trace.steps["x0_max"]).sum()),
                 "moments": sorted({(round(float(m), 5), round(float(q), 5), float(w)) for m, q, w in zip(
                     *(cb.trace.steps[f"y0_{c}"] for c in ("mean", "sq", "width"))) if np.isfinite(m)})}
print("RESULT " + json.dumps(out))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_data_checks_on_other_backends(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"the {backend} backend is not installed here (pip install -e '.[{backend}]')")
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stderr[-3000:]
    got = json.loads(lines[-1][len("RESULT "):])
    assert "invalid_labels" in got["labels"]["kinds"] and got["labels"]["cause"] == "labels"
    assert "unnormalized_input" in got["inputs"]["kinds"] and got["inputs"]["x0_max"] > 1e3
    # the labels of every recorded step (the end-of-run checks compare the loss with them), the inputs of the first
    assert got["inputs"]["labelled"] == got["inputs"]["rows"] == 8 and got["inputs"]["inputs"] == 1
    assert got["inputs"]["moments"] == [[0.33333, 0.33333, 3.0]]  # one-hot rows of three classes, every batch

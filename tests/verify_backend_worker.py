"""Verification off TensorFlow's compiled step, run in a subprocess with KERAS_BACKEND set
(see tests/test_verify_backends.py). Prints one ``VERIFY {json}`` line per case.

Cases: ``buggy`` (relu output with sparse_categorical_crossentropy on digits:
a verified fix naming ``activation`` at ``out``), ``healthy`` (softmax output,
verify="always": no verified fix), ``same`` (the weights, history and the
following fit are identical with verification and with verify="never"),
``quick_same`` (``same`` in one epoch with the shortest trials), ``eager``
and ``own_step`` (TensorFlow: run_eagerly=True, and a model's own
``train_step``, both watched from outside), ``own_step_same`` and
``own_step_spe4_same`` (that step, also with steps_per_execution=4: weights
and history unchanged by the capture). With ``DL_BLOCK_TF=1`` TensorFlow
cannot be imported, as where it is not installed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

if os.environ.get("DL_BLOCK_TF") == "1":
    sys.modules["tensorflow"] = None  # import tensorflow raises ImportError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

FAST = {"verify_steps": 150, "verify_budget": 120, "verify_sample_examples": 1024}


def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.data / 16.0).astype("float32"), d.target.astype("int32")


def mlp(out_activation, own_step=False):
    import keras

    class OwnStep(keras.Sequential):
        def train_step(self, data):  # the user's step: Keras's, plus a step counter
            self.steps_run.assign_add(1)
            return super().train_step(data)

    if own_step:
        model = OwnStep([keras.Input((64,)), keras.layers.Dense(32, activation="relu", name="hidden"),
                         keras.layers.Dense(10, activation=out_activation, name="out")], name="net")
        model.steps_run = keras.Variable(0, dtype="int64", trainable=False, name="steps_run")
        return model
    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu", name="hidden"),
                             keras.layers.Dense(10, activation=out_activation, name="out")], name="net")


def fit(out_activation, verify, epochs=3, seed=0, eager=False, config=None, own_step=False, per_call=1):
    import keras

    from deeplocalize import DeepLocalizeCallback

    keras.utils.set_random_seed(seed)
    x, y = digits()
    model = mlp(out_activation, own_step)
    model.compile("adam", "sparse_categorical_crossentropy", run_eagerly=eager, steps_per_execution=per_call)
    cb = DeepLocalizeCallback(verify=verify, verbose=0, halt="never", config={**FAST, **(config or {})})
    history = model.fit(x, y, epochs=epochs, batch_size=32, callbacks=[cb], verbose=0)
    return model, cb, history.history


def summary(cb) -> dict:
    d = cb.diagnosis
    v = d.verification
    capture = cb._capture
    return {"status": d.status, "root_cause": d.root_cause, "layer": d.faulty_layer, "verified": bool(d.verified),
            "ran": v is not None, "note": getattr(v, "note", None),
            "sample": None if capture is None else capture.sample.n,
            "unavailable": None if capture is None else capture.unavailable,
            "wrapped": "train_function" in vars(cb.model) and capture is not None
            and vars(cb.model)["train_function"] is capture._wrapper and capture._wrapper is not None,
            "trials": [(t.fix, t.verdict) for t in v.trials] if v is not None else []}


def same(own_step=False, epochs=2, config=None, per_call=1) -> dict:
    """Weights and history with verification (always) and without (never); then one more plain fit each."""
    runs = []
    for verify in ("always", "never"):
        model, cb, history = fit("relu", verify, epochs=epochs, seed=3, config=config or {"verify_budget": 3},
                                 own_step=own_step, per_call=per_call)
        x, y = digits()
        after = [np.asarray(w).copy() for w in model.get_weights()]
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
        runs.append((after, history, model.get_weights(), summary(cb)))
    (w1, h1, n1, s1), (w2, h2, n2, s2) = runs
    equal = all(np.array_equal(a, b) for a, b in zip(w1 + n1, w2 + n2)) and h1 == h2
    return {"equal": bool(equal), "kept": s1["sample"], "kept_never": s2["sample"], "ran": s1["ran"],
            "history": [h1.get("loss"), h2.get("loss")]}


def main(cases):
    import keras

    for case in cases:
        if case == "buggy":
            out = summary(fit("relu", "auto")[1])
        elif case == "healthy":
            out = summary(fit("softmax", "always", epochs=2)[1])
        elif case == "eager":
            out = summary(fit("relu", "auto", eager=True)[1])
        elif case == "own_step":
            model, cb, _ = fit("relu", "auto", own_step=True)
            out = {**summary(cb), "steps_run": int(keras.ops.convert_to_numpy(model.steps_run))}
        elif case == "same":
            out = same()
        elif case == "quick_same":  # one epoch, the shortest trials: the capture and the trials' plumbing
            out = same(epochs=1, config={"verify_budget": 1, "verify_steps": 20, "verify_seeds": 1})
        elif case == "own_step_same":
            out = same(own_step=True)
        elif case == "own_step_spe4_same":  # four batches per call of the train function
            out = same(own_step=True, per_call=4)
        else:
            raise SystemExit(f"unknown case {case!r}")
        out.update(case=case, backend=keras.backend.backend())
        print("VERIFY " + json.dumps(out, default=str), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main(sys.argv[1:])

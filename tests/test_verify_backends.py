"""Verification where the run is watched from outside its step: JAX, PyTorch, eager TensorFlow.

Each backend runs in its own subprocess (`tests/verify_backend_worker.py`,
Keras picks its backend at import). On JAX and PyTorch a digits MLP with a
ReLU output under sparse_categorical_crossentropy gets a verified fix naming
``activation`` at ``out`` from the batches kept off the train function; a
healthy twin under verify="always" gets none; the weights, history and the
next plain fit are identical with verification and without. A backend that
is not installed is skipped, with the reason. One JAX run is in the default
suite (one epoch, the shortest trials, TensorFlow blocked: the sample is kept,
the trials run, nothing of the user's run changes); the rest are ``slow``
(each verification trains about ten copies).
"""

from __future__ import annotations

import pytest

from tests.backend_subprocess import run_on_backend


def run_cases(backend: str, cases: list[str], timeout: int = 900, block_tf: bool = False) -> dict:
    """``{case: result}`` from one subprocess on ``backend`` (``block_tf``: as if TensorFlow were not installed)."""
    results = run_on_backend(backend, "verify_backend_worker.py", cases, "VERIFY ", "case",
                             {"DL_BLOCK_TF": "1" if block_tf else "0"}, timeout)
    for out in results.values():
        assert out["backend"] == backend
    return results


def check_buggy(out: dict) -> None:
    assert out["sample"] and out["sample"] > 0 and out["unavailable"] is None, out
    assert out["ran"] and out["verified"], out
    assert (out["root_cause"], out["layer"]) == ("activation", "out"), out
    assert ["output_activation", "proven"] in out["trials"], out
    assert not out["wrapped"], "the capture's wrapper was left on the model"


def check_healthy(out: dict) -> None:
    assert out["ran"] and out["sample"] > 0, out
    assert not out["verified"] and out["status"] == "healthy", out


def check_same(out: dict) -> None:
    assert out["kept"] > 0 and out["ran"], out  # verification did run on the kept batches
    assert out["kept_never"] is None, "a batch was kept with verify='never'"
    assert out["equal"], f"weights or history differ with verification: {out['history']}"


def test_jax_without_tensorflow_keeps_batches_and_changes_nothing():
    check_same(run_cases("jax", ["quick_same"], block_tf=True)["quick_same"])


@pytest.mark.slow
def test_jax_verified_fix_from_outside_the_step_without_tensorflow():
    check_buggy(run_cases("jax", ["buggy"], block_tf=True)["buggy"])


@pytest.mark.slow
def test_jax_healthy_and_identical_runs():
    out = run_cases("jax", ["healthy", "same"])
    check_healthy(out["healthy"])
    check_same(out["same"])


@pytest.mark.slow
def test_torch_verified_fix_healthy_and_identical_runs():
    out = run_cases("torch", ["buggy", "healthy", "same"])
    check_buggy(out["buggy"])
    check_healthy(out["healthy"])
    check_same(out["same"])


@pytest.mark.slow
def test_tensorflow_eager_and_own_step_verified_fix_and_own_step_unchanged():
    out = run_cases("tensorflow", ["eager", "own_step", "own_step_same", "own_step_spe4_same"])
    check_buggy(out["eager"])
    check_buggy(out["own_step"])
    assert out["own_step"]["steps_run"] == 3 * 57, "the user's own train_step did not run on every batch"
    check_same(out["own_step_same"])
    check_same(out["own_step_spe4_same"])


def test_a_batch_that_cannot_be_copied_is_a_plain_reason_and_training_goes_on(monkeypatch):
    """In this process (TensorFlow, run_eagerly=True: watched from outside): the copy fails,
    the run trains to the end unchanged and the verification says why nothing was verified."""
    import keras
    import numpy as np

    from deeplocalize import DeepLocalizeCallback
    from deeplocalize.verify import outside_capture

    def broken(value):
        raise TypeError("no host copy")

    x = np.random.RandomState(0).rand(96, 4).astype("float32")
    y = (x.sum(1) > 2).astype("int32")
    runs = []
    for verify, patch in (("always", True), ("never", False)):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(2, activation="softmax", name="out")])
        model.compile("adam", "sparse_categorical_crossentropy", run_eagerly=True)
        if patch:
            monkeypatch.setattr(outside_capture, "_to_numpy", broken)
        cb = DeepLocalizeCallback(verify=verify, verbose=0, halt="never")
        history = model.fit(x, y, epochs=2, batch_size=32, callbacks=[cb], verbose=0)
        monkeypatch.undo()
        runs.append((model.get_weights(), history.history["loss"], cb))
    (w1, h1, cb), (w2, h2, _) = runs
    assert "could not be copied" in cb._capture.unavailable and "no host copy" in cb._capture.unavailable
    assert cb._capture.sample.n == 0 and cb._capture._wrapper is None  # the wrapper came off the model
    assert getattr(cb.model.train_function, "__wrapped__", None) is None
    note = cb.diagnosis.verification.note
    assert note.startswith("Nothing verified") and "could not be copied" in note, note
    assert h1 == h2 and all(np.array_equal(a, b) for a, b in zip(w1, w2))

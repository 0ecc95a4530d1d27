"""Watching from outside the step, recorded and unrecorded steps (run by tests/test_outside_steps.py).

Cases: ``late_nan`` (a NaN born in a known layer's output on a step the
callback does not record), ``late_grad_nan`` (the same, in its gradient), ``second_fit`` (the model was fitted without the callback first,
so Keras's own train function is already traced), ``healthy`` (how many host
callbacks a run makes on JAX). Prints one ``OUTSIDE {json}`` line per case.
"""

from __future__ import annotations

import json
import sys
import warnings

import keras
import numpy as np

from deeplocalize import DeepLocalizeCallback
from deeplocalize.probes import forward, outside
from tests.backend_gradients import GradPoison
from tests.backend_matrix import Poison, _compile, _data

STEPS = 600
CALLS = {"n": 0, "fast": 0, "host_reads": 0, "returned_reads": 0}
_receive_all = forward.ForwardCapture._receive_all
_calls_host = forward.ForwardCapture._calls_host


def _counted_steps(self, calls):
    CALLS["fast"] += not calls
    return _calls_host(self, calls)


def _counted(self, indices, stats):
    CALLS["n"] += 1
    return _receive_all(self, indices, stats)


_read, _stats_row = outside.OutsideObserver._read, outside.OutsideObserver._stats_row


def _counted_read(self, model):
    CALLS["host_reads"] += 1
    return _read(self, model)


def _counted_stats(self, stats, model):
    CALLS["returned_reads"] += 1
    return _stats_row(self, stats, model)


forward.ForwardCapture._receive_all = _counted
outside.OutsideObserver._read = _counted_read
outside.OutsideObserver._stats_row = _counted_stats
forward.ForwardCapture._calls_host = _counted_steps


class ColumnGradPoison(GradPoison):
    """As `GradPoison`, but only unit 7's gradient turns NaN: one column of
    the layer before it, and nothing else (that layer has no bias)."""

    def call(self, x, training=False):
        if not training:
            return x
        column = keras.ops.equal(keras.ops.arange(x.shape[-1]), 7)
        u = keras.ops.where(keras.ops.logical_and(self._due(), column), x - x, 1.0 + x - x)
        return x + 0.0 * keras.ops.sqrt(u)


def _wide_model(poison_at):
    """A 8 x 4096 kernel (above the weight sample's size, so sampled with a
    stride) feeding the poison: the step's NaN check must still see its column."""
    return _compile(keras.Sequential([keras.Input((8,)), keras.layers.Dense(4096, use_bias=False, name="hidden"),
                                      ColumnGradPoison(at=poison_at, name="poison"),
                                      keras.layers.Dense(3, activation="softmax", name="output")]))


def _model(poison_at=None, layer=Poison):
    extra = [layer(at=poison_at, name="poison")] if poison_at is not None else []
    return _compile(keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="hidden"),
                                      # a seed generator's uint32 state among the variables a replay starts from
                                      keras.layers.Dropout(0.1, name="drop"), *extra, keras.layers.Dense(3, activation="softmax", name="output")]))


def _no_outputs(self, *args):
    raise RuntimeError("the step cannot return the statistics")


def run(case: str) -> dict:
    if case == "late_nan_fallback":  # the recorded step does not trace with its extra outputs
        forward.ForwardCapture._note_out = _no_outputs
    keras.utils.set_random_seed(0)
    x, y = _data()
    reps = -(-STEPS * 16 // len(x))
    x, y = np.tile(x, (reps, 1))[: STEPS * 16], np.tile(y, reps)[: STEPS * 16]
    model = _wide_model(433) if case == "late_column_nan" else _model(
        poison_at=433 if case.startswith("late") else None, layer=GradPoison if case == "late_grad_nan" else Poison)
    if case == "second_fit":
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    # late_nan_goes_on: not halted, so the steps after the replayed one run too
    cb = DeepLocalizeCallback(verbose=0, verify="never", halt="never" if case == "late_nan_goes_on" else "error")
    CALLS.update(n=0, fast=0, host_reads=0, returned_reads=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=2 if case == "late_nan_goes_on" else 1, batch_size=16, verbose=0,
                            callbacks=[cb])
    d = cb.diagnosis
    rows = cb.trace.to_frame()
    nan = next((f for f in d.findings if f.kind == "nan"), None)
    return {"case": case, "host_calls": CALLS["n"], "fast_steps": CALLS["fast"], "steps": STEPS, "warnings": [str(w.message) for w in caught if "deeplocalize" in str(w.message)], "detail": None if nan is None else nan.detail, "steps_recorded": int(rows["step"].nunique()),
            "forward_seen": bool(np.isfinite(rows["act_mean"]).any()), "records_433": bool((rows["step"] == 433).any()),
            "nan": None if nan is None else {"layer": nan.layer, "step": nan.step},
            "weight_reads": {"host": CALLS["host_reads"], "returned": CALLS["returned_reads"]},
            "epochs_run": len(history.history.get("loss", [])), "internal_errors": [
                f.message for f in d.findings if f.kind == "internal_error"],
            "update_ratio_seen": float(np.isfinite(rows.loc[(rows["step"] > 0) & (rows["layer"] != "drop"),
                                                              "update_ratio"]).mean())}  # Dropout holds no weight


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print("OUTSIDE " + json.dumps(run(name)), flush=True)

"""JAX: how many XLA compilations fall in each epoch of a short fit, with and without the callback.

Run by `tests/test_backends.py` in a process of its own (``KERAS_BACKEND=jax``);
prints one ``COMPILES {json}`` line per setting.
"""

from __future__ import annotations

import json
import sys
import threading

import jax
import keras
import numpy as np

from deeplocalize import DeepLocalizeCallback

EVENTS: list[str] = []  # event names
STEPS: list[str] = []  # the names of the functions compiled
jax.monitoring.register_event_duration_secs_listener(
    lambda name, _secs, **kw: (EVENTS.append(name), name.endswith("backend_compile_duration")
                               and STEPS.append(str(kw.get("fun_name")))))


class EpochMarks(keras.callbacks.Callback):
    """Notes where each epoch ends in the event list (put after the callback watched)."""

    def on_train_begin(self, logs=None):
        EVENTS.clear()
        self.ends = []

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(len(EVENTS))


def compiles_per_epoch(callbacks) -> tuple[list[int], list[str]]:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 4)).astype("float32")  # 4 full batches of 32 and one of 22 per epoch
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    marks = EpochMarks()
    model.fit(x, y, batch_size=32, epochs=20, verbose=0, callbacks=list(callbacks) + [marks])
    bounds = [0] + marks.ends
    compiled = [name.endswith("backend_compile_duration") for name in EVENTS]
    threads = [t.name for t in threading.enumerate() if t.name.startswith("deeplocalize")]
    return [sum(compiled[a:b]) for a, b in zip(bounds, bounds[1:])], threads


def long_epochs(callbacks) -> dict:
    """Epochs of 13 batches, the last one smaller: past the first (dense) steps, a recorded
    step falling on the smaller batch is deferred to the next, so the recorded step is
    compiled for the full batch only. The compilations of the whole fit, and the steps recorded."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 8)).astype("float32")  # 12 batches of 32 and one of 16
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    STEPS.clear()
    model.fit(x, y, batch_size=32, epochs=8, verbose=0, callbacks=list(callbacks))
    cb = next((c for c in callbacks if isinstance(c, DeepLocalizeCallback)), None)
    steps = [] if cb is None else [int(s) for s in cb.trace.column("step")]
    return {"compiled": [name for name in STEPS if "step" in name], "recorded": steps}


if __name__ == "__main__":
    settings = {"plain": lambda: [], "deeplocalize": lambda: [DeepLocalizeCallback(verbose=0)]}
    for name in sys.argv[1:]:
        per_epoch, threads = compiles_per_epoch(settings[name]())
        print("COMPILES " + json.dumps({"setting": name, "per_epoch": per_epoch, "threads_left": threads,
                                        "long_epochs": long_epochs(settings[name]())}))

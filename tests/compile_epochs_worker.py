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

EVENTS: list[str] = []
jax.monitoring.register_event_duration_secs_listener(lambda name, _secs, **_: EVENTS.append(name))


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


if __name__ == "__main__":
    settings = {"plain": lambda: [], "deeplocalize": lambda: [DeepLocalizeCallback(verbose=0)]}
    for name in sys.argv[1:]:
        per_epoch, threads = compiles_per_epoch(settings[name]())
        print("COMPILES " + json.dumps({"setting": name, "per_epoch": per_epoch, "threads_left": threads}))

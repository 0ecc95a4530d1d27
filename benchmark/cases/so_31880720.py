"""SO 31880720: single-unit softmax output on a binary task.

Buggy: Dense(50, relu)-relu-Dropout-Dense(50)-relu-Dropout-Dense(1)-softmax with
binary crossentropy and RMSprop, batch 1, 3 epochs, on all-ones vs all-zeros
128-d vectors. Softmax over one unit is always 1.0, so the output never changes,
its gradient is zero and accuracy stays at 0.5.
Fixed (the benchmark's patch): Dense(1, sigmoid); the redundant second relu after
the first Dense(50, relu) is removed.
"""

import numpy as np
import keras
from keras import layers

CASE = {"id": "31880720", "source": "stackoverflow:31880720", "title": "Softmax on a 1-unit binary output never learns"}

N_PER_CLASS = 300  # original: 10**4 per class with batch 1 (60,000 steps); see substitutions


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    x = np.array([[1.0] * 128] * N_PER_CLASS + [[0.0] * 128] * N_PER_CLASS, dtype=np.float32)
    y = np.array([1.0] * N_PER_CLASS + [0.0] * N_PER_CLASS, dtype=np.float32)
    if variant == "buggy":
        stack = [
            layers.Dense(50, activation="relu", name="dense_1"),
            layers.Activation("relu", name="act_1"),
            layers.Dropout(0.2, name="dropout_1"),
            layers.Dense(50, name="dense_2"),
            layers.Activation("relu", name="act_2"),
            layers.Dropout(0.2, name="dropout_2"),
            layers.Dense(1, name="dense_out"),
            layers.Activation("softmax", name="act_out"),
        ]
    else:
        stack = [
            layers.Dense(50, activation="relu", name="dense_1"),
            layers.Dropout(0.2, name="dropout_1"),
            layers.Dense(50, name="dense_2"),
            layers.Activation("relu", name="act_2"),
            layers.Dropout(0.2, name="dropout_2"),
            layers.Dense(1, name="dense_out"),
            layers.Activation("sigmoid", name="act_out"),
        ]
    model = keras.Sequential([keras.Input(shape=(128,), name="input")] + stack, name=f"so_31880720_{variant}")
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.RMSprop(), metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 3, "batch_size": 1}}

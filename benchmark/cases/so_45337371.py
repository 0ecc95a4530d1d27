"""SO 45337371: single-unit softmax output -- the gradient w.r.t. the input is zero.

Buggy (the benchmark's instrumented updatepy.py): Dense(60)-relu-Dense(50)-relu-
Dense(1)-softmax on inputs of shape (5, 1), binary crossentropy, adam, batch 1,
5 epochs. Softmax over one unit is constantly 1.0: the prediction never moves
and its gradient w.r.t. the input is zero (the question was about that gradient).
Fixed (the benchmark's patch): output activation sigmoid.
"""

import numpy as np
import keras
from keras import layers

CASE = {"id": "45337371", "source": "stackoverflow:45337371", "title": "Softmax on a 1-unit output gives zero gradients"}

NUM_FEATURES = 5
N_SAMPLES = 400  # original 1000 with batch 1; see substitutions


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(N_SAMPLES, NUM_FEATURES, 1)).astype(np.float32)
    # The original targets are uniform noise unrelated to x (nothing to learn). Here the
    # target is a binary function of the same input value, so that the fixed model has
    # something to learn and its training can be checked; see substitutions.
    y = (x > 0.5).astype(np.float32)
    model = keras.Sequential(
        [
            keras.Input(shape=(NUM_FEATURES, 1), name="input"),
            layers.Dense(60, name="dense_1"),
            layers.Activation("relu", name="act_1"),
            layers.Dense(50, name="dense_2"),
            layers.Activation("relu", name="act_2"),
            layers.Dense(1, name="dense_out"),
            layers.Activation("softmax" if variant == "buggy" else "sigmoid", name="act_out"),
        ],
        name=f"so_45337371_{variant}",
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 5, "batch_size": 1}}

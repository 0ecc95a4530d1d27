"""SO 31556268: XOR with a 2-4-1 sigmoid net trained on mean absolute error.

Buggy: MAE loss with SGD(lr=0.05, momentum=0.11, nesterov) -- training stalls
at 50 % accuracy. Fixed (the benchmark's patch): loss 'mse', optimizer 'adam',
10x more training.

Speed: the original trains full-batch (batch 4 = the 4 XOR points) for 1000 /
10000 epochs. Keras 3 spends ~50 ms per epoch on its own bookkeeping, so the 4
points are repeated REPEAT times in order (shuffle off): every batch of 4 is
still exactly the 4 XOR points, i.e. one full-batch step, and one epoch here is
REPEAT epochs of the original. Same updates, fewer epoch boundaries.
"""

import numpy as np
import keras
from keras import layers

CASE = {"id": "31556268", "source": "stackoverflow:31556268", "title": "XOR net stuck at 50% with MAE loss and SGD"}

REPEAT = 100  # original epochs per epoch here


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    x = np.array([[1, 1], [1, 0], [0, 0], [0, 1]], dtype=np.float32)
    y = np.array([[0], [1], [0], [1]], dtype=np.float32)
    x, y = np.tile(x, (REPEAT, 1)), np.tile(y, (REPEAT, 1))
    model = keras.Sequential(
        [
            keras.Input(shape=(2,), name="input"),
            layers.Dense(4, kernel_initializer="glorot_uniform", name="dense_1"),
            layers.Activation("sigmoid", name="act_1"),
            layers.Dense(1, kernel_initializer="glorot_uniform", name="dense_out"),
            layers.Activation("sigmoid", name="act_out"),
        ],
        name=f"so_31556268_{variant}",
    )
    if variant == "buggy":
        # original: SGD(lr=0.05, decay=1e-6, momentum=0.11, nesterov=True); decay dropped (no decay in Keras 3)
        opt = keras.optimizers.SGD(learning_rate=0.05, momentum=0.11, nesterov=True)
        model.compile(loss="mean_absolute_error", optimizer=opt, metrics=["accuracy"])
        epochs = 1000 // REPEAT
    else:
        model.compile(loss="mse", optimizer="adam", metrics=["accuracy"])
        epochs = 10000 // REPEAT
    return {"model": model, "x": x, "y": y, "fit": {"epochs": epochs, "batch_size": 4, "shuffle": False}}

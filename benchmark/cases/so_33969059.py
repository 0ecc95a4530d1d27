"""SO 33969059: regression of a linear function with a single-unit softmax output.

Buggy: Dense(3)-tanh-Dropout-Dense(2)-tanh-Dropout-Dense(1)-softmax, MSE,
SGD(lr=0.1, momentum=0.9, nesterov), 20 epochs, batch 32, on y = X.[2, 1, 0.5] + 2.2
with X uniform in [0, 10000). Softmax over one unit is constantly 1.0, so the
MSE stays at E[(y-1)^2] ~ 3.5e8 and never falls.
Fixed (the benchmark's patch): last activation 'linear'. The original correct
program also divides the weights and the intercept by their largest absolute
value (targets halved); that is kept.
"""

import numpy as np
import keras
from keras import layers

CASE = {"id": "33969059", "source": "stackoverflow:33969059", "title": "Softmax on a 1-unit regression output"}

N_TRAIN = 10000  # original 100,000; see substitutions


def _data(rng, count, ws, xno, bounds):
    x = bounds * rng.random((count, len(ws)))
    y = x @ np.asarray(ws, dtype=np.float64) + xno
    return x.astype(np.float32), y.astype(np.float32)


def _uniform():
    # Keras 2 init='uniform' = RandomUniform(-0.05, 0.05)
    return keras.initializers.RandomUniform(minval=-0.05, maxval=0.05)


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    ws, xno = [2.0, 1.0, 0.5], 2.2
    if variant == "fixed":
        mx = max(abs(v) for v in ws + [xno])
        ws, xno = [v / mx for v in ws], xno / mx
    x, y = _data(np.random.default_rng(seed), N_TRAIN, ws, xno, 10000.0)
    model = keras.Sequential(
        [
            keras.Input(shape=(3,), name="input"),
            layers.Dense(3, kernel_initializer=_uniform(), name="dense_1"),
            layers.Activation("tanh", name="act_1"),
            layers.Dropout(0.5, name="dropout_1"),
            layers.Dense(2, kernel_initializer=_uniform(), name="dense_2"),
            layers.Activation("tanh", name="act_2"),
            layers.Dropout(0.5, name="dropout_2"),
            layers.Dense(1, kernel_initializer=_uniform(), name="dense_out"),
            layers.Activation("softmax" if variant == "buggy" else "linear", name="act_out"),
        ],
        name=f"so_33969059_{variant}",
    )
    # original: SGD(lr=0.1, decay=1e-6, momentum=0.9, nesterov=True); decay dropped (no decay in Keras 3)
    opt = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    model.compile(loss="mean_squared_error", optimizer=opt)
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 20, "batch_size": 32, "shuffle": "batch"}}

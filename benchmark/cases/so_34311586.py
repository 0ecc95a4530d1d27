"""SO 34311586: XOR-like task, single-unit softmax output, tiny learning rate.

Buggy: Dense(2)-sigmoid-Dense(3)-sigmoid-Dense(1)-softmax, MSE,
SGD(lr=0.001, momentum=0.9, nesterov), 20 epochs, default batch (32 = the whole
6-sample set). Softmax over one unit is constantly 1.0: the loss sits at 4/6.
Fixed (the benchmark's patch): output sigmoid, lr 0.001 -> 0.1, 10000 epochs
with batch 4.
"""

import numpy as np
import keras
from keras import layers

CASE = {"id": "34311586", "source": "stackoverflow:34311586", "title": "Softmax 1-unit output with tiny SGD learning rate on XOR"}

FIXED_REPEAT = 500  # the 6 samples repeated: one epoch here = 500 epochs of the original
FIXED_EPOCHS = 20   # = the original fix's 10000 epochs (Keras 3 pays ~50 ms per epoch)


def _uniform():
    # Keras 2 init='uniform' = RandomUniform(-0.05, 0.05)
    return keras.initializers.RandomUniform(minval=-0.05, maxval=0.05)


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    x = np.array([[1, 1], [0, 0], [1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.float32)
    y = np.array([[0], [0], [1], [1], [0], [0]], dtype=np.float32)
    model = keras.Sequential(
        [
            keras.Input(shape=(2,), name="input"),
            layers.Dense(2, kernel_initializer=_uniform(), name="dense_1"),
            layers.Activation("sigmoid", name="act_1"),
            layers.Dense(3, kernel_initializer=_uniform(), name="dense_2"),
            layers.Activation("sigmoid", name="act_2"),
            layers.Dense(1, kernel_initializer=_uniform(), name="dense_out"),
            layers.Activation("softmax" if variant == "buggy" else "sigmoid", name="act_out"),
        ],
        name=f"so_34311586_{variant}",
    )
    # original: SGD(lr=..., decay=1e-6, momentum=0.9, nesterov=True); decay dropped (no decay in Keras 3)
    lr = 0.001 if variant == "buggy" else 0.1
    model.compile(loss="mean_squared_error", optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=0.9, nesterov=True))
    if variant == "buggy":
        fit = {"epochs": 20, "batch_size": 32}
    else:
        x, y = np.tile(x, (FIXED_REPEAT, 1)), np.tile(y, (FIXED_REPEAT, 1))
        fit = {"epochs": FIXED_EPOCHS, "batch_size": 4, "shuffle": True}
    return {"model": model, "x": x, "y": y, "fit": fit}

"""SO 44164749: wide MNIST MLP trained with batch 2000 -- too few updates.

Buggy (as in the benchmark): Dense(5000)-relu-Dropout(0.1)-Dense(600)-relu-
Dropout(0.1)-Dense(10)-softmax, categorical crossentropy,
SGD(lr=0.01, momentum=0.9, nesterov), 5 epochs, batch 2000. The model itself is
a standard softmax classifier; with batch 2000 it gets very few weight updates
per epoch and is still far from converged when training stops.

Fixed: batch_size 2000 -> 128 (more updates per epoch); nothing else changes.
The benchmark's patch (softmax -> sigmoid, categorical -> binary crossentropy)
is not used: it mainly changes what Keras 2's 'accuracy' measured (per-output
binary accuracy, 0.9 for an all-zero prediction), so its reported gain is a
metric artefact. See ground truth notes.
"""

import numpy as np
import keras
from keras import layers

from ._data import load_mnist, one_hot

CASE = {"id": "44164749", "source": "stackoverflow:44164749", "title": "Wide MNIST MLP with batch 2000: too few updates"}

N_SAMPLES = 4000  # original: 60,000 training digits (150 updates); see substitutions


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    images, labels = load_mnist(N_SAMPLES, seed=seed)
    x = (images.reshape(-1, 784) / 255.0).astype(np.float32)
    y = one_hot(labels, 10)
    model = keras.Sequential(
        [
            keras.Input(shape=(784,), name="input"),
            layers.Dense(5000, name="dense_1"),
            layers.Activation("relu", name="act_1"),
            layers.Dropout(0.1, name="dropout_1"),
            layers.Dense(600, name="dense_2"),
            layers.Activation("relu", name="act_2"),
            layers.Dropout(0.1, name="dropout_2"),
            layers.Dense(10, name="dense_out"),
            layers.Activation("softmax", name="act_out"),
        ],
        name=f"so_44164749_{variant}",
    )
    # original: SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True); decay dropped (no decay in Keras 3)
    opt = keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
    model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    batch_size = 2000 if variant == "buggy" else 128
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 5, "batch_size": batch_size}}

"""SO 39217567: 8-bit vector mapping with sigmoid layers, MSE and plain SGD.

Buggy: Dense(8)-sigmoid-Dense(8)-sigmoid-Dense(8)-sigmoid ('normal' init), MSE,
plain 'SGD' (lr 0.01), batch 50, 1000 epochs, on all 256 8-bit vectors, with the
targets a random shuffle of the inputs (random.shuffle(y)): there is nothing to
learn and the sigmoid/MSE/SGD stack barely moves (loss ~0.25, outputs ~0.5).
Fixed (the benchmark's patch): hidden activations relu, binary crossentropy,
batch 1, and the target shuffle removed (y = X, the identity mapping).

Runtime: the fixed model starts on a long plateau (tiny 'normal' init, plain SGD,
loss 0.693 for ~35,000 batch-1 updates) and only then learns; FIXED_EPOCHS = 170
(43,520 updates) is the least that shows it training, so this pair takes about a
minute even on an idle CPU.
"""

import itertools
import random

import numpy as np
import keras
from keras import layers

CASE = {"id": "39217567", "source": "stackoverflow:39217567", "title": "Sigmoid/MSE/SGD net on a shuffled-target bit mapping"}

DIM = 8
BUGGY_REPEAT = 10   # the 256 rows repeated: one epoch here = 10 epochs of the original
BUGGY_EPOCHS = 100  # = the original 1000 epochs
FIXED_EPOCHS = 170  # original 1000 epochs of batch 1 (256,000 steps); see substitutions


def _normal():
    # Keras 2 init='normal' = RandomNormal(stddev=0.05)
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.05)


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    x = [[float(b) for b in bits] for bits in itertools.product([0, 1], repeat=DIM)]
    y = x[:]
    if variant == "buggy":
        random.Random(seed).shuffle(y)
    x, y = np.array(x, dtype=np.float32), np.array(y, dtype=np.float32)
    hidden = "sigmoid" if variant == "buggy" else "relu"
    model = keras.Sequential(
        [
            keras.Input(shape=(DIM,), name="input"),
            layers.Dense(DIM, kernel_initializer=_normal(), name="dense_1"),
            layers.Activation(hidden, name="act_1"),
            layers.Dense(DIM, kernel_initializer=_normal(), name="dense_2"),
            layers.Activation(hidden, name="act_2"),
            layers.Dense(DIM, kernel_initializer=_normal(), name="dense_out"),
            layers.Activation("sigmoid", name="act_out"),
        ],
        name=f"so_39217567_{variant}",
    )
    loss = "mse" if variant == "buggy" else "binary_crossentropy"
    # 'accuracy' as in the original resolves to categorical accuracy (argmax) for 8 outputs;
    # per-bit binary accuracy added for both variants (metrics do not change training).
    model.compile(
        loss=loss,
        optimizer=keras.optimizers.SGD(learning_rate=0.01),
        metrics=["accuracy", keras.metrics.BinaryAccuracy(name="binary_accuracy")],
    )
    if variant == "buggy":
        x, y = np.tile(x, (BUGGY_REPEAT, 1)), np.tile(y, (BUGGY_REPEAT, 1))
        fit = {"epochs": BUGGY_EPOCHS, "batch_size": 50, "shuffle": True}
    else:
        fit = {"epochs": FIXED_EPOCHS, "batch_size": 1, "shuffle": True}
    return {"model": model, "x": x, "y": y, "fit": fit}

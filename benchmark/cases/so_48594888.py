"""SO 48594888: CIFAR-10-style CNN fed raw 0-255 pixels.

Buggy: Conv2D(64,3x3,he_normal)-relu-MaxPool-Conv2D(256,3x3,he_normal)-relu-
MaxPool-Flatten-Dense(512)-relu-Dropout(0.3)-Dense(10)-softmax, categorical
crossentropy, adam, batch 32, 5 epochs, on uint8-range pixels (no /255).
Fixed (the benchmark's patch): pixels cast to float32 and divided by 255; second
conv kernel 3x3 -> 2x2; Dense 512 -> 1024; Dropout 0.3 -> 0.4. (The patch's
batch 32 -> 500 is not carried over: see substitutions.)

Data: CIFAR-10 is not available offline. Real MNIST digits are padded to 32x32
and repeated over 3 channels, keeping the raw 0-255 scale and 10 one-hot classes.
"""

import numpy as np
import keras
from keras import layers

from ._data import load_mnist, one_hot

CASE = {"id": "48594888", "source": "stackoverflow:48594888", "title": "CNN on raw 0-255 pixels (no /255)"}

N_SAMPLES = 1000  # original: 50,000 CIFAR-10 images; see substitutions
EPOCHS = 2


def _images(seed):
    images, labels = load_mnist(N_SAMPLES, seed=seed)
    x = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # 28x28 -> 32x32, still uint8 0-255
    x = np.repeat(x[..., None], 3, axis=-1)
    return x, one_hot(labels, 10)


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    x, y = _images(seed)
    if variant == "buggy":
        x = x.astype(np.float32)  # raw 0-255 (Keras converts the uint8 array the same way)
        k2, units, rate = (3, 3), 512, 0.3
    else:
        x = x.astype(np.float32) / 255.0
        k2, units, rate = (2, 2), 1024, 0.4
    model = keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3), name="input"),
            layers.Conv2D(64, (3, 3), kernel_initializer="he_normal", name="conv_1"),
            layers.Activation("relu", name="act_1"),
            layers.MaxPooling2D((2, 2), name="pool_1"),
            layers.Conv2D(256, k2, kernel_initializer="he_normal", name="conv_2"),
            layers.Activation("relu", name="act_2"),
            layers.MaxPooling2D((2, 2), name="pool_2"),
            layers.Flatten(name="flatten"),
            layers.Dense(units, name="dense_1"),
            layers.Activation("relu", name="act_3"),
            layers.Dropout(rate, name="dropout_1"),
            layers.Dense(10, name="dense_out"),
            layers.Activation("softmax", name="act_out"),
        ],
        name=f"so_48594888_{variant}",
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": EPOCHS, "batch_size": 32}}

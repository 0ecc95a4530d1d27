"""SO 58609115: 69 mutually exclusive classes from one raw numeric feature (export78.csv)."""

import keras
import numpy as np
from keras import layers
from sklearn.model_selection import train_test_split

from . import _data

CASE = {"id": "58609115", "source": "stackoverflow:58609115",
        "title": "69-class one-hot target: sigmoid x3 + binary CE on a raw feature up to 1e9"}


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    x, y = _data.load_export78()
    X_train, _, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=seed)
    init = "random_normal"
    if variant == "buggy":
        acts, loss, epochs = ("sigmoid", "sigmoid", "sigmoid"), "binary_crossentropy", 1
    elif variant == "fixed":
        acts, loss, epochs = ("relu", "relu", "softmax"), "categorical_crossentropy", 10
        # the feature spans 1..1e9 and the class is its order of magnitude and leading
        # digit: log10 (then standardized) brings it to a usable range (see ground truth notes)
        X_train = np.log10(X_train)
        X_train = (X_train - X_train.mean()) / X_train.std()
    else:
        raise ValueError(variant)
    model = keras.Sequential([
        keras.Input(shape=(1,)),
        layers.Dense(69, kernel_initializer=init, name="dense_1"),
        layers.Activation(acts[0], name="act_1"),
        layers.Dense(69, kernel_initializer=init, name="dense_2"),
        layers.Activation(acts[1], name="act_2"),
        layers.Dense(69, kernel_initializer=init, name="dense_out"),
        layers.Activation(acts[2], name="act_out"),
    ], name="so_58609115_" + variant)
    # Keras 3 resolves "accuracy" for a (n, 69) one-hot target to categorical accuracy
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return {"model": model, "x": X_train.astype("float32"), "y": y_train,
            "fit": {"epochs": epochs, "batch_size": 50}}

"""SO 38648195: multi-label targets trained with softmax + MSE.

Buggy: Dense(20)-relu-Dropout-Dense(20)-relu-Dropout-Dense(3)-softmax, MSE,
plain 'sgd', 20 epochs, batch 20, on sklearn make_multilabel_classification
(20 features, 3 labels that are not mutually exclusive): softmax forces the
three outputs to sum to one, so samples with two or three labels cannot be fit.
Fixed (the benchmark's patch): last activation sigmoid, binary crossentropy.
"""

import numpy as np
import keras
from keras import layers
from sklearn.datasets import make_multilabel_classification
from sklearn.model_selection import train_test_split

CASE = {"id": "38648195", "source": "stackoverflow:38648195", "title": "Multi-label targets with softmax + MSE"}

N_SAMPLES = 6000  # original 60,000; see substitutions


def build(variant: str = "buggy", seed: int = 0) -> dict:
    if variant not in ("buggy", "fixed"):
        raise ValueError(f"variant must be 'buggy' or 'fixed', not {variant!r}")
    keras.utils.set_random_seed(seed)
    x, y = make_multilabel_classification(n_samples=N_SAMPLES, n_features=20, n_classes=3, random_state=seed)
    x_train, _x_test, y_train, _y_test = train_test_split(
        x.astype(np.float32), y.astype(np.float32), test_size=0.20, random_state=seed
    )
    model = keras.Sequential(
        [
            keras.Input(shape=(20,), name="input"),
            layers.Dense(20, name="dense_1"),
            layers.Activation("relu", name="act_1"),
            layers.Dropout(0.5, name="dropout_1"),
            layers.Dense(20, name="dense_2"),
            layers.Activation("relu", name="act_2"),
            layers.Dropout(0.5, name="dropout_2"),
            layers.Dense(3, name="dense_out"),
            layers.Activation("softmax" if variant == "buggy" else "sigmoid", name="act_out"),
        ],
        name=f"so_38648195_{variant}",
    )
    loss = "mean_squared_error" if variant == "buggy" else "binary_crossentropy"
    # 'accuracy' as in the original (Keras 3 resolves it to categorical accuracy here, as
    # Keras 2 did for the buggy MSE model); binary accuracy added as a comparable
    # multi-label measure for both variants (metrics do not change training).
    model.compile(
        loss=loss, optimizer="sgd", metrics=["accuracy", keras.metrics.BinaryAccuracy(name="binary_accuracy")]
    )
    return {"model": model, "x": x_train, "y": y_train, "fit": {"epochs": 20, "batch_size": 20}}

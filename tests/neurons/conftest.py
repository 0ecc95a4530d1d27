import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest


@pytest.fixture(scope="session")
def keras():
    import keras as k

    return k


@pytest.fixture(scope="session")
def dense_model(keras):
    keras.utils.set_random_seed(1)
    return keras.Sequential([
        keras.Input((12,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(6),
        keras.layers.ReLU(),
        keras.layers.Dense(3, activation="softmax"),
    ])


@pytest.fixture(scope="session")
def conv_model(keras):
    keras.utils.set_random_seed(2)
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(3, 2, activation="relu", padding="same"),
        keras.layers.AveragePooling2D(3),
        keras.layers.Flatten(),
        keras.layers.Dense(5, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])


@pytest.fixture(scope="session")
def xy_dense():
    rng = np.random.default_rng(0)
    return rng.random((60, 12), dtype=np.float32), rng.integers(0, 3, 60)


@pytest.fixture(scope="session")
def xy_conv():
    rng = np.random.default_rng(1)
    return rng.random((40, 8, 8, 1), dtype=np.float32), rng.integers(0, 3, 40)

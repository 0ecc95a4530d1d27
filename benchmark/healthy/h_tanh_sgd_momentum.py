"""A tanh MLP trained with SGD and momentum on digits features."""
import keras
from keras import layers
from sklearn.datasets import load_digits

CASE = {"id": "healthy_tanh_sgd_momentum", "source": "keras-style:mlp_sgd", "title": "tanh MLP, SGD with momentum"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    d = load_digits()
    x, y = (d.data / 16.0).astype("float32"), d.target.astype("int64")
    model = keras.Sequential([keras.Input((64,)), layers.Dense(64, activation="tanh", name="hidden_1"),
                              layers.Dense(32, activation="tanh", name="hidden_2"),
                              layers.Dense(10, activation="softmax", name="out")])
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 8, "batch_size": 32, "validation_split": 0.2}}

"""A small MLP on iris with one-hot labels and categorical cross-entropy."""
import keras
from keras import layers
from sklearn.datasets import load_iris

CASE = {"id": "healthy_iris_mlp", "source": "keras-style:iris_mlp", "title": "MLP on standardized iris, one-hot"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    d = load_iris()
    x = ((d.data - d.data.mean(0)) / d.data.std(0)).astype("float32")
    y = keras.utils.to_categorical(d.target, 3)
    model = keras.Sequential([keras.Input((4,)), layers.Dense(16, activation="relu", name="hidden"),
                              layers.Dense(3, activation="softmax", name="out")])
    model.compile(keras.optimizers.Adam(1e-2), "categorical_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 10, "batch_size": 16, "shuffle": True}}

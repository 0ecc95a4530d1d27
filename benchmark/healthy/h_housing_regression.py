"""Regression with a Normalization layer (after Keras's/TensorFlow's "Basic regression")."""
import keras
from keras import layers
from sklearn.datasets import load_diabetes

CASE = {"id": "healthy_housing_regression", "source": "keras-examples:basic_regression",
        "title": "Normalization + MLP regression on the diabetes data"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    d = load_diabetes()
    x, y = d.data.astype("float32"), (d.target / 100.0).astype("float32")
    norm = layers.Normalization(name="normalize")
    norm.adapt(x)
    model = keras.Sequential([keras.Input((10,)), norm, layers.Dense(32, activation="relu", name="hidden_1"),
                              layers.Dense(32, activation="relu", name="hidden_2"), layers.Dense(1, name="out")])
    model.compile(keras.optimizers.Adam(1e-3), "mse", metrics=["mae"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 10, "batch_size": 32, "validation_split": 0.2}}

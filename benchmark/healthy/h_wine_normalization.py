"""Wine classification with a Normalization layer and sparse labels."""
import keras
from keras import layers
from sklearn.datasets import load_wine

CASE = {"id": "healthy_wine_normalization", "source": "keras-style:wine_normalization",
        "title": "Normalization + MLP on wine"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    d = load_wine()
    x, y = d.data.astype("float32"), d.target.astype("int64")
    norm = layers.Normalization(name="normalize")
    norm.adapt(x)
    model = keras.Sequential([keras.Input((13,)), norm, layers.Dense(32, activation="relu", name="hidden"),
                              layers.Dense(3, activation="softmax", name="out")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 10, "batch_size": 16, "validation_split": 0.2}}

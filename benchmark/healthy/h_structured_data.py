"""Structured data with a Normalization layer (after Keras's "Structured data classification")."""
import keras
from keras import layers
from sklearn.datasets import load_breast_cancer

CASE = {"id": "healthy_breast_cancer_structured", "source": "keras-examples:structured_data_classification",
        "title": "Normalization + MLP on breast-cancer features"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    d = load_breast_cancer()
    x, y = d.data.astype("float32"), d.target.astype("int64")
    norm = layers.Normalization(name="normalize")
    norm.adapt(x)
    model = keras.Sequential([keras.Input((30,)), norm, layers.Dense(32, activation="relu", name="hidden"),
                              layers.Dropout(0.3, name="dropout"), layers.Dense(1, activation="sigmoid", name="out")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 8, "batch_size": 32, "validation_split": 0.2}}

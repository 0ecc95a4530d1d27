"""Binary classification on logits (``from_logits=True``), the Keras-recommended form."""
import keras
from keras import layers
from sklearn.datasets import load_breast_cancer

CASE = {"id": "healthy_binary_logits", "source": "keras-style:from_logits",
        "title": "linear output with BinaryCrossentropy(from_logits=True)"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    d = load_breast_cancer()
    x = ((d.data - d.data.mean(0)) / d.data.std(0)).astype("float32")
    model = keras.Sequential([keras.Input((30,)), layers.Dense(16, activation="relu", name="hidden"),
                              layers.Dense(1, name="logit")])
    model.compile("adam", keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")])
    return {"model": model, "x": x, "y": d.target.astype("float32"),
            "fit": {"epochs": 8, "batch_size": 32, "validation_split": 0.2}}

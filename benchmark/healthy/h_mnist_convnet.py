"""Simple convnet on digits (after Keras's "Simple MNIST convnet")."""
import keras
from keras import layers

from . import _data

CASE = {"id": "healthy_mnist_convnet", "source": "keras-examples:mnist_convnet", "title": "convnet on 8x8 digits"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    x, y = _data.digits_images()
    model = keras.Sequential([
        keras.Input((8, 8, 1)), layers.Conv2D(16, 3, activation="relu", padding="same", name="conv_1"),
        layers.MaxPooling2D(name="pool_1"), layers.Conv2D(32, 3, activation="relu", padding="same", name="conv_2"),
        layers.Flatten(name="flatten"), layers.Dropout(0.5, name="dropout"),
        layers.Dense(10, activation="softmax", name="out")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 6, "batch_size": 64, "validation_split": 0.1}}

"""Depthwise-separable convolutions with global pooling (after Keras's Xception-style blocks)."""
import keras
from keras import layers

from . import _data

CASE = {"id": "healthy_separable_convnet", "source": "keras-examples:image_classification_from_scratch",
        "title": "SeparableConv2D + BatchNorm on 8x8 digits"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    x, y = _data.digits_images()
    model = keras.Sequential([
        keras.Input((8, 8, 1)), layers.Conv2D(16, 3, padding="same", name="stem"),
        layers.BatchNormalization(momentum=0.8, name="bn"), layers.Activation("relu", name="relu"),
        layers.SeparableConv2D(32, 3, padding="same", activation="relu", name="sep_conv"),
        layers.GlobalAveragePooling2D(name="gap"), layers.Dropout(0.25, name="dropout"),
        layers.Dense(10, activation="softmax", name="out")])
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 10, "batch_size": 64, "validation_split": 0.1}}

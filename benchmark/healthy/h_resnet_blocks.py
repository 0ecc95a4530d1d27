"""Residual blocks with BatchNormalization (after Keras's ResNet-style examples)."""
import keras
from keras import layers

from . import _data

CASE = {"id": "healthy_resnet_blocks", "source": "keras-examples:resnet_blocks",
        "title": "two residual blocks on 8x8 digits"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    x, y = _data.digits_images()
    inputs = keras.Input((8, 8, 1))
    h = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)
    for i in (1, 2):
        r = layers.Conv2D(8, 3, padding="same", name=f"res{i}_conv_a")(h)
        r = layers.BatchNormalization(momentum=0.8, name=f"res{i}_bn_a")(r)
        r = layers.Activation("relu", name=f"res{i}_relu_a")(r)
        r = layers.Conv2D(8, 3, padding="same", name=f"res{i}_conv_b")(r)
        r = layers.BatchNormalization(momentum=0.8, name=f"res{i}_bn_b")(r)
        h = layers.Activation("relu", name=f"res{i}_out")(layers.Add(name=f"res{i}_add")([h, r]))
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    model = keras.Model(inputs, layers.Dense(10, activation="softmax", name="out")(h))
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 5, "batch_size": 64, "validation_split": 0.1}}

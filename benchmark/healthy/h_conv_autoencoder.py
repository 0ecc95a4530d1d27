"""Convolutional autoencoder for denoising-style reconstruction (after Keras's "Convolutional autoencoder")."""
import keras
from keras import layers

from . import _data

CASE = {"id": "healthy_conv_autoencoder", "source": "keras-examples:autoencoder",
        "title": "conv autoencoder reconstructing 8x8 digits"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    x, _ = _data.digits_images()
    model = keras.Sequential([
        keras.Input((8, 8, 1)), layers.Conv2D(16, 3, activation="relu", padding="same", name="enc_conv"),
        layers.MaxPooling2D(padding="same", name="enc_pool"),
        layers.Conv2DTranspose(16, 3, strides=2, activation="relu", padding="same", name="dec_conv"),
        layers.Conv2D(1, 3, activation="sigmoid", padding="same", name="out")])
    model.compile("adam", "binary_crossentropy")
    return {"model": model, "x": x, "y": x, "fit": {"epochs": 6, "batch_size": 64, "validation_split": 0.1}}

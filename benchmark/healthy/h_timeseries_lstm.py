"""Timeseries forecasting with an LSTM (after Keras's "Timeseries forecasting for weather prediction")."""
import keras
from keras import layers

from . import _data

CASE = {"id": "healthy_timeseries_lstm", "source": "keras-examples:timeseries_weather_forecasting",
        "title": "LSTM forecasting the next value of a noisy sum of sines"}


def build(variant="healthy", seed=0):
    keras.utils.set_random_seed(seed)
    x, y = _data.sine_windows(seed)
    model = keras.Sequential([keras.Input((24, 1)), layers.LSTM(16, name="lstm"), layers.Dense(1, name="out")])
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    return {"model": model, "x": x, "y": y, "fit": {"epochs": 6, "batch_size": 32, "validation_split": 0.2}}

"""Names of losses and metrics as Keras spells them.

Example:
    >>> LOSS_ALIASES["mse"]
    'mean_squared_error'
"""

from __future__ import annotations

LOSS_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "bce": "binary_crossentropy",
    "cce": "categorical_crossentropy",
    "scce": "sparse_categorical_crossentropy",
}

ACCURACY_KEYS = ("accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy")


def loss_name(name: str) -> str:
    """A loss name in Keras's long form, lowercase.

    Example:
        >>> loss_name("MSE")
        'mean_squared_error'
    """
    name = name.lower()
    return LOSS_ALIASES.get(name, name)


def accuracy_key(step_keys, epochs=()) -> str | None:
    """The accuracy metric logged per step (or, given ``epochs``, per epoch),
    the first of `ACCURACY_KEYS` that is there, or None.

    Example:
        >>> accuracy_key(["loss", "binary_accuracy"])
        'binary_accuracy'
    """
    for key in ACCURACY_KEYS:
        if key in step_keys or any(key in e for e in epochs):
            return key
    return None

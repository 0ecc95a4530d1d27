"""The values Keras holds apart from the model's variables while a JAX fit runs.

Mid-epoch on JAX, Keras keeps the trainable and optimizer values in its own
state and writes them back to the variables only when asked; reading them
from that state leaves the run as it was.

Example:
    >>> held = held_values(model)      # {id(variable): array}, or None off JAX / when synced
    >>> learning_rate(model)
    0.001
"""

from __future__ import annotations

import math

import numpy as np


def held_values(model) -> dict | None:
    """On JAX, mid-epoch, the values Keras holds apart from the model's
    variables (``id(variable) -> array``), read without attaching them; None
    elsewhere (the variables hold their values).

    Example:
        >>> held_values(model) is None    # outside a JAX fit
        True
    """
    state = _unsynced(model)
    if state is None:
        return None
    held = {}
    for variables, key in ((model.trainable_variables, "trainable_variables"),
                           (model.optimizer.variables, "optimizer_variables")):
        values = state.get(key)
        if values is not None and len(values) == len(variables):
            held.update({id(v): value for v, value in zip(variables, values)})
    return held


def learning_rate(model) -> float:
    """The optimizer's learning rate as the step about to run sees it; NaN for
    a schedule or no optimizer.

    Example:
        >>> learning_rate(model)
        0.001
    """
    import keras

    try:
        rate, state = getattr(model.optimizer, "_learning_rate", None), _unsynced(model)
        if rate is not None and state is not None:
            variables, values = model.optimizer.variables, state.get("optimizer_variables")
            if values is not None and len(values) == len(variables):
                # the rate is among the optimizer's first variables: no map of every weight is built
                at = next((k for k, v in enumerate(variables) if v is rate), None)
                if at is not None:
                    return float(np.asarray(values[at]))
        rate = model.optimizer.learning_rate
        return float(keras.ops.convert_to_numpy(getattr(rate, "value", rate)))  # a Variable's value: no __array__
    except Exception:  # a schedule, or no optimizer
        return math.nan


def _unsynced(model) -> dict | None:
    """Keras's JAX state while it holds values the variables do not have yet, else None."""
    state = getattr(model, "_jax_state", None)
    return state if state and not getattr(model, "_jax_state_synced", True) else None

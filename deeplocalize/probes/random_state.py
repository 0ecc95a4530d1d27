"""Putting back every random stream a trial on a model copy could move (used by deeplocalize.verify).

Example:
    >>> with preserved_random_state():
    ...     keras.utils.set_random_seed(0)   # trials seed freely inside
    >>> # Python's, NumPy's, TensorFlow's and Keras's random state are as before
"""

from __future__ import annotations

import contextlib
import copy
import logging
import random

import numpy as np


@contextlib.contextmanager
def preserved_random_state():
    """Put back Python's, NumPy's, TensorFlow's, PyTorch's and Keras's random state on exit
    (TensorFlow's where it is installed, PyTorch's where it is imported)."""
    import sys

    import keras
    from keras.src.backend.common import global_state

    py, npy = random.getstate(), np.random.get_state()
    keras_seed = global_state.get_global_attribute("global_random_seed")
    keras_gen = global_state.get_global_attribute("global_seed_generator")
    gen_state = np.asarray(keras.ops.convert_to_numpy(keras_gen.state.value)) if keras_gen is not None else None
    torch = sys.modules.get("torch")  # keras.utils.set_random_seed seeds torch when it is imported
    torch_state = torch.get_rng_state() if torch is not None else None
    tf_restore = _tensorflow_state()  # keras.utils.set_random_seed seeds it wherever it can be imported
    try:
        yield
    finally:
        if tf_restore is not None:
            tf_restore()
        if torch_state is not None:
            torch.set_rng_state(torch_state)
        random.setstate(py)
        np.random.set_state(npy)
        global_state.set_global_attribute("global_random_seed", keras_seed)
        global_state.set_global_attribute("global_seed_generator", keras_gen)
        if keras_gen is not None:
            keras_gen.state.assign(gen_state)


def _tensorflow_state():
    """Quiet TensorFlow's logger and note its global seed; returns the function that puts both back
    (None where TensorFlow cannot be imported)."""
    try:
        import tensorflow as tf
        from tensorflow.python.eager import context
    except ImportError:  # installed but unusable here: Keras cannot seed it either
        return None
    ctx = context.context()
    tf_seed, tf_rng = ctx._seed, copy.deepcopy(getattr(ctx, "_rng", None))
    tf_logger = tf.get_logger()
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)  # retracing notes about the copies are not the user's business

    def restore():
        tf_logger.setLevel(level)
        ctx._seed, ctx._rng = tf_seed, tf_rng

    return restore

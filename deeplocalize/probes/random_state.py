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
    """Put back Python's, NumPy's, TensorFlow's and Keras's random state on exit."""
    import tensorflow as tf
    from keras.src.backend.common import global_state
    from tensorflow.python.eager import context

    py, npy = random.getstate(), np.random.get_state()
    ctx = context.context()
    tf_seed, tf_rng = ctx._seed, copy.deepcopy(getattr(ctx, "_rng", None))
    keras_seed = global_state.get_global_attribute("global_random_seed")
    keras_gen = global_state.get_global_attribute("global_seed_generator")
    gen_state = keras_gen.state.numpy() if keras_gen is not None else None
    tf_logger = tf.get_logger()
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)  # retracing notes about the copies are not the user's business
    try:
        yield
    finally:
        tf_logger.setLevel(level)
        random.setstate(py)
        np.random.set_state(npy)
        ctx._seed, ctx._rng = tf_seed, tf_rng
        global_state.set_global_attribute("global_random_seed", keras_seed)
        global_state.set_global_attribute("global_seed_generator", keras_gen)
        if keras_gen is not None:
            keras_gen.state.assign(gen_state)

"""What the peer tools read from a model: a slice of the training data, each
layer's output and the weight gradients on it, the layers' activations.

All reads run the model in inference mode (``training=False``, as Keras 2's
``K.function`` did by default), so they change no weight, no BatchNorm
statistic and no dropout random state of the user's run.

Example:
    >>> x, y = first_batch(program, 32)
    >>> outs = layer_outputs(model, x)        # [(layer, array), ...] or None
    >>> grads = weight_gradients(model, x, y)  # [(variable, array), ...] or None
"""

from __future__ import annotations

import numpy as np


def _is_array(v) -> bool:
    return isinstance(v, np.ndarray) or (hasattr(v, "shape") and hasattr(v, "dtype") and hasattr(v, "__len__"))


def first_batch(program: dict, n: int):
    """The first ``n`` samples of the program's ``x`` and ``y`` (numpy arrays,
    or lists/dicts of them), or ``(None, None)`` when the data is a dataset or
    a generator that cannot be sliced without consuming it."""
    x, y = program.get("x"), program.get("y")

    def cut(v):
        if v is None:
            return None
        if isinstance(v, dict):
            return {k: np.asarray(a[:n]) for k, a in v.items()} if all(_is_array(a) for a in v.values()) else None
        if isinstance(v, (list, tuple)):
            return [np.asarray(a[:n]) for a in v] if all(_is_array(a) for a in v) else None
        return np.asarray(v[:n]) if _is_array(v) else None

    return cut(x), cut(y)


def input_arrays(x) -> list:
    """The input arrays of ``x`` (one array, a list or a dict of them)."""
    if x is None:
        return []
    if isinstance(x, dict):
        return [np.asarray(a) for a in x.values()]
    if isinstance(x, (list, tuple)):
        return [np.asarray(a) for a in x]
    return [np.asarray(x)]


def model_layers(model) -> list:
    """The model's layers without its InputLayers."""
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def activation_name(layer) -> str | None:
    """The activation a layer applies at its output: the function of an
    ``Activation`` layer, ``softmax`` / ``relu`` / ... for those layer types,
    a layer's own ``activation`` argument, else None."""
    kind = type(layer).__name__
    if kind in ("Softmax", "ReLU", "ELU", "LeakyReLU", "PReLU"):
        return {"Softmax": "softmax", "ReLU": "relu", "ELU": "elu"}.get(kind, kind.lower())
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    name = getattr(act, "__name__", None) or str(act)
    return str(name).split(".")[-1].lower()


def layer_outputs(model, x, cache: dict | None = None):
    """``[(layer, output array), ...]`` for every layer on ``x`` (inference mode),
    or None when the model has no symbolic graph (a subclassed model) or a
    layer has several outputs."""
    if x is None:
        return None
    import keras

    layers = model_layers(model)
    key = "layer_model"
    probe = cache.get(key) if cache is not None else None
    if probe is None:
        try:
            outs = [layer.output for layer in layers]
            if any(isinstance(o, (list, tuple, dict)) for o in outs):
                return None
            inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
            probe = keras.Model(inputs=inputs, outputs=outs)
        except Exception:
            return None
        if cache is not None:
            cache[key] = probe
    values = probe(x, training=False)
    if not isinstance(values, (list, tuple)):
        values = [values]
    return [(layer, keras.ops.convert_to_numpy(v)) for layer, v in zip(layers, values)]


def loss_function(model):
    """The compiled loss as a callable ``(y_true, y_pred) -> loss``, or None
    when it is not one loss (several outputs, a dict of losses)."""
    import keras

    loss = getattr(model, "loss", None)
    if loss is None or isinstance(loss, (dict, list, tuple)):
        return None
    try:
        return keras.losses.get(loss) if isinstance(loss, str) else loss
    except Exception:
        return None


def loss_name(model) -> str:
    """The compiled loss's name in snake case (``categorical_crossentropy``, ``mse``, ...)."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, str):
        return loss.lower()
    name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", "_", str(name)).lower()


def from_logits(model) -> bool:
    loss = getattr(model, "loss", None)
    if hasattr(loss, "get_config"):
        try:
            return bool(loss.get_config().get("from_logits", False))
        except Exception:
            return False
    return bool(getattr(loss, "from_logits", False))


def weight_gradients(model, x, y):
    """``[(variable, gradient array), ...]`` of the compiled loss on ``(x, y)``
    for every trainable weight (inference mode, nothing applied), or None when
    it cannot be computed here (no single loss, no data)."""
    fn = loss_function(model)
    if fn is None or x is None or y is None:
        return None
    import keras
    import tensorflow as tf

    variables = list(model.trainable_weights)
    with tf.GradientTape() as tape:
        pred = model(x, training=False)
        target = y
        if not isinstance(y, (list, dict)) and np.ndim(y) == len(pred.shape) - 1 and pred.shape[-1] == 1:
            target = np.expand_dims(y, -1)  # as Keras's compiled loss does
        loss = keras.ops.mean(fn(target, pred))
    grads = tape.gradient(loss, [v.value if hasattr(v, "value") else v for v in variables])
    return [(v, np.zeros(tuple(v.shape), dtype="float32") if g is None else keras.ops.convert_to_numpy(g))
            for v, g in zip(variables, grads)]


def is_kernel(variable) -> bool:
    """A weight matrix or filter bank (not a bias, scale or offset)."""
    return len(tuple(variable.shape)) >= 2


def learning_rate(model) -> float | None:
    opt = getattr(model, "optimizer", None)
    if opt is None:
        return None
    try:
        import keras

        return float(keras.ops.convert_to_numpy(opt.learning_rate))
    except Exception:
        return None

"""Walk a chain-shaped Keras model layer by layer (the one place that touches TensorFlow).

A *site* is a hidden Dense/Conv2D layer whose units (or channels) are the neurons
we analyse; the output layer (the last weighted layer) is never a site.

>>> sites = analysed_sites(model)            # doctest: +SKIP
>>> [(s.name, s.units) for s in sites]       # doctest: +SKIP
[('dense', 64), ('dense_1', 32)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deeplocalize.vocab import keras_activation_name

WEIGHTED = ("Dense", "Conv2D")
ELEMENTWISE = ("Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax")
PASSTHROUGH = ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
               "ActivityRegularization", "InputLayer")
RESHAPE = ("Flatten", "Reshape")
POOLING = ("MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D")

#: the value above which a neuron counts as "active", per activation function
THRESHOLDS = {"sigmoid": 0.5, "hard_sigmoid": 0.5, "tanh": 0.0, "softsign": 0.0}


@dataclass(frozen=True)
class Site:
    """One analysed layer: ``index`` of the Dense/Conv2D in ``layers``, ``value_index`` of the
    layer whose output is the neuron value (a following activation layer, if any).

    >>> Site(0, 1, "dense", "Dense", 30, "relu").units
    30
    """

    index: int
    value_index: int
    name: str
    kind: str
    units: int
    activation: str

    @property
    def threshold(self) -> float:
        """Default activity threshold for this site's activation (0 unless sigmoid-like)."""
        return THRESHOLDS.get(self.activation, 0.0)


def layers_of(model) -> list:
    """The model's layers in forward order, without the InputLayer.

    >>> [l.name for l in layers_of(model)]   # doctest: +SKIP
    """
    return [l for l in model.layers if type(l).__name__ != "InputLayer"]


def _activation_name(layer) -> str:
    return keras_activation_name(layer) or "linear"


def analysed_sites(model) -> list[Site]:
    """Hidden Dense/Conv2D layers (all weighted layers except the last), as :class:`Site`.

    >>> analysed_sites(model)[0].kind   # doctest: +SKIP
    'Dense'
    """
    layers = layers_of(model)
    weighted = [i for i, l in enumerate(layers) if type(l).__name__ in WEIGHTED]
    if len(weighted) < 2:
        raise ValueError("The model needs at least one hidden Dense or Conv2D layer before the output "
                         "layer; neuron-level localization analyses hidden layers only.")
    sites = []
    for i in weighted[:-1]:
        layer = layers[i]
        act, v = _activation_name(layer), i
        j = i + 1
        while j < len(layers) and type(layers[j]).__name__ in ELEMENTWISE + PASSTHROUGH:
            if type(layers[j]).__name__ in ELEMENTWISE:
                act, v = _activation_name(layers[j]), j
            j += 1
        units = layer.units if type(layer).__name__ == "Dense" else layer.filters
        if type(layer).__name__ == "Conv2D" and layer.data_format != "channels_last":
            raise ValueError(f"Layer '{layer.name}' uses {layer.data_format}; only channels_last "
                             "Conv2D is supported. Rebuild the model with data_format='channels_last'.")
        sites.append(Site(i, v, layer.name, type(layer).__name__, int(units), act))
    return sites


def linear(layer, a, kernel=None, bias=True):
    """The affine part of a Dense/Conv2D layer on input ``a`` (optionally another kernel).

    >>> z = linear(model.layers[0], x)   # doctest: +SKIP
    """
    import keras

    w = layer.kernel if kernel is None else kernel
    if type(layer).__name__ == "Dense":
        z = keras.ops.matmul(a, w)
    else:
        z = layer.convolution_op(a, w)
    if bias and getattr(layer, "use_bias", False):
        z = z + layer.bias
    return z


def forward(model, x, *, with_pre: bool = False, training: bool = False):
    """Run the chain on ``x``; returns (list of each layer's input, final output[, pre]).

    ``pre`` maps site index -> the site's pre-activation (linear output).

    >>> inputs, out = forward(model, x[:8])   # doctest: +SKIP
    """
    layers = layers_of(model)
    a, inputs, pre = x, [], {}
    weighted = {i for i, l in enumerate(layers) if type(l).__name__ in WEIGHTED}
    for i, layer in enumerate(layers):
        inputs.append(a)
        if with_pre and i in weighted:
            z = linear(layer, a)
            pre[i] = z
            a = layer.activation(z)
        else:
            a = layer(a, training=training)
    return (inputs, a, pre) if with_pre else (inputs, a)


def check_chain(model, x) -> None:
    """Raise a clear error if walking ``model.layers`` in order does not reproduce ``model(x)``.

    >>> check_chain(model, x[:4])   # doctest: +SKIP
    """
    _, out = forward(model, x)
    ref = model(x, training=False)
    if not np.allclose(np.asarray(out), np.asarray(ref), atol=1e-4):
        raise ValueError("The model is not a simple chain of layers (e.g. it has skip connections or "
                         "several inputs); deeplocalize.neurons supports Sequential-like models only.")


def site_values(model, x, sites=None, *, pre: bool = False):
    """Per-site neuron values of a batch as tensors (M, units): Conv2D channels are spatial means.

    ``pre=True`` gives pre-activation values (used as differentiable objectives).

    >>> vals = site_values(model, x[:8])   # doctest: +SKIP
    """
    import keras

    sites = analysed_sites(model) if sites is None else sites
    inputs, out, pres = forward(model, x, with_pre=True)
    n = len(layers_of(model))
    vals = []
    for s in sites:
        if pre:
            v = pres[s.index]
        else:
            v = inputs[s.value_index + 1] if s.value_index + 1 < n else out
        if s.kind == "Conv2D":
            v = keras.ops.mean(v, axis=(1, 2))
        vals.append(v)
    return vals, out


def batched_values(model, x, sites=None, batch_size: int = 256):
    """Per-site neuron values over a data set as numpy arrays, plus the model's predictions.

    >>> vals, probs = batched_values(model, x)   # doctest: +SKIP
    """
    sites = analysed_sites(model) if sites is None else sites
    parts, outs = [[] for _ in sites], []
    for start in range(0, len(x), batch_size):
        vals, out = site_values(model, np.asarray(x[start:start + batch_size], np.float32), sites)
        for p, v in zip(parts, vals):
            p.append(np.asarray(v))
        outs.append(np.asarray(out))
    return [np.concatenate(p) for p in parts], np.concatenate(outs)


def input_gradient(model, x, objective):
    """Gradient of ``sum(objective(pre_values, output))`` w.r.t. the input batch ``x``.

    ``objective`` receives the list of per-site pre-activation tensors and the output and
    returns one value per sample.

    >>> g = input_gradient(model, x, lambda pre, out: pre[0][:, 3])   # doctest: +SKIP
    """
    import tensorflow as tf

    xt = tf.convert_to_tensor(np.asarray(x, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        pre, out = site_values(model, xt, pre=True)
        value = tf.reduce_sum(objective(pre, out))
    return tape.gradient(value, xt).numpy()


def labels_of(y, n_classes: int | None = None) -> np.ndarray:
    """Integer labels from integer or one-hot ``y``.

    >>> labels_of(np.eye(3)[[2, 0]]).tolist()
    [2, 0]
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(1).astype(int)
    return y.reshape(-1).astype(int)

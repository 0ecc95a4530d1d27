"""Layer-wise relevance propagation (LRP-epsilon and LRP-z+) for chain models, batched.

Rules (z = the affine output of a Dense/Conv2D, a = its input):

* ``epsilon``: R_in = a * W^T (R / (z + eps * sign(z))); the bias absorbs some relevance.
* ``zplus``: R_in = a * W+^T (R / (a W+ + eps)) with W+ = max(W, 0) and no bias.

Pooling layers use the same epsilon ratio through their own gradient (max pooling sends
relevance to the winner). Flatten/Reshape reshape; Dropout, activation layers and the
activation inside a layer pass relevance through. Anything else raises
:class:`UnsupportedLayerError`. Relevance starts at the output layer's pre-activation
(logits), from ``start``: "softmax" (all classes, as NP-SBFL), "predicted" or "label"
(the logit of that class only).

>>> rel = lrp(model, x[:16], rule="zplus")    # doctest: +SKIP
>>> rel.neurons[0].shape, rel.input.shape     # doctest: +SKIP
((16, 64), (16, 784))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._chain import (ELEMENTWISE, PASSTHROUGH, POOLING, RESHAPE, WEIGHTED, analysed_sites,
                     labels_of, layers_of, linear)

RULES = ("epsilon", "zplus")
STARTS = ("softmax", "predicted", "label")


class UnsupportedLayerError(ValueError):
    """A layer with no LRP rule (e.g. BatchNormalization, Add, LSTM).

    >>> raise UnsupportedLayerError("bn (BatchNormalization)")   # doctest: +SKIP
    """


@dataclass
class Relevance:
    """LRP result: ``input`` (M, *input shape), ``neurons`` (list per site of (M, units),
    Conv2D channels summed over space) and ``output_total`` (M,), the starting relevance.

    >>> float(Relevance(np.ones((1, 2)), [np.ones((1, 1))], np.array([2.0])).input.sum())
    2.0
    """

    input: np.ndarray
    neurons: list
    output_total: np.ndarray


def check_supported(model) -> None:
    """Raise :class:`UnsupportedLayerError` naming the first layer that LRP cannot handle.

    >>> check_supported(model)   # doctest: +SKIP
    """
    ok = WEIGHTED + ELEMENTWISE + PASSTHROUGH + RESHAPE + POOLING
    for layer in layers_of(model):
        cls = type(layer).__name__
        if cls not in ok:
            raise UnsupportedLayerError(
                f"LRP has no rule for layer '{layer.name}' ({cls}). Supported layers: "
                f"{', '.join(sorted(set(ok) - {'InputLayer'}))}. Fold BatchNormalization into the "
                "previous layer or remove the layer, or use --method deepfault/deepsensor, "
                "which need no LRP.")


def _ratio(r, z, eps):
    import tensorflow as tf

    sign = tf.where(z >= 0, tf.ones_like(z), -tf.ones_like(z))
    return r / (z + eps * sign)


def _through(fn, a, s):
    """a * d/da sum(fn(a) * s), with s held constant (the LRP 'gradient trick')."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(a)
        out = tf.reduce_sum(fn(a) * tf.stop_gradient(s))
    return a * tape.gradient(out, a)


def lrp(model, x, *, rule: str = "epsilon", eps: float = 1e-6, start: str = "softmax",
        labels=None, batch_size: int = 256) -> Relevance:
    """Relevance of every hidden neuron and input feature for a batch (see module doc).

    >>> rel = lrp(model, x[:4], rule="epsilon", start="predicted")   # doctest: +SKIP
    >>> np.allclose(rel.input.reshape(4, -1).sum(1), rel.output_total, rtol=1e-2)   # doctest: +SKIP
    True
    """
    if rule not in RULES:
        raise ValueError(f"Unknown LRP rule '{rule}'; choose one of {', '.join(RULES)}.")
    if start not in STARTS:
        raise ValueError(f"Unknown start '{start}'; choose one of {', '.join(STARTS)}.")
    if start == "label" and labels is None:
        raise ValueError("start='label' needs labels=...; or use start='predicted'.")
    check_supported(model)
    x = np.asarray(x, np.float32)
    lab = None if labels is None else labels_of(labels)
    parts = []
    for b in range(0, len(x), batch_size):
        parts.append(_lrp_batch(model, x[b:b + batch_size], rule, eps, start,
                                None if lab is None else lab[b:b + batch_size]))
    return Relevance(np.concatenate([p[0] for p in parts]),
                     [np.concatenate([p[1][i] for p in parts]) for i in range(len(parts[0][1]))],
                     np.concatenate([p[2] for p in parts]))


def _lrp_batch(model, x, rule, eps, start, labels):
    import tensorflow as tf

    layers = layers_of(model)
    sites = analysed_sites(model)
    site_at = {s.index: i for i, s in enumerate(sites)}
    last = max(i for i, l in enumerate(layers) if type(l).__name__ in WEIGHTED)
    for l in layers[last + 1:]:
        if type(l).__name__ not in ELEMENTWISE + PASSTHROUGH:
            raise UnsupportedLayerError(
                f"Layer '{l.name}' ({type(l).__name__}) follows the output layer; LRP expects only "
                "activation or dropout layers after the last Dense/Conv2D.")
    a = tf.convert_to_tensor(x)
    inputs = []
    for layer in layers[: last + 1]:
        inputs.append(a)
        a = layer(a, training=False)
    logits = linear(layers[last], inputs[last])
    if start == "softmax":
        r = tf.nn.softmax(logits, axis=-1)
    else:
        cls = np.asarray(logits).argmax(1) if start == "predicted" else labels
        r = logits * tf.one_hot(cls, logits.shape[-1], dtype=logits.dtype)
    total = tf.reduce_sum(r, axis=-1).numpy()
    neurons = [None] * len(sites)
    for i in range(last, -1, -1):
        layer, a, cls = layers[i], inputs[i], type(layers[i]).__name__
        if i in site_at:
            rs = r.numpy()
            neurons[site_at[i]] = rs.sum(axis=(1, 2)) if rs.ndim == 4 else rs
        if cls in WEIGHTED:
            if rule == "zplus":
                wp = tf.maximum(layer.kernel, 0.0)
                z = linear(layer, a, kernel=wp, bias=False) + eps
                s = r / z
                r = _through(lambda t: linear(layer, t, kernel=wp, bias=False), a, s)
            else:
                s = _ratio(r, linear(layer, a), eps)
                r = _through(lambda t: linear(layer, t, bias=False), a, s)
        elif cls in POOLING:
            s = _ratio(r, layer(a), eps)
            r = _through(layer, a, s)
        elif cls in RESHAPE:
            r = tf.reshape(r, tf.shape(a))
        # elementwise activations and pass-through layers: relevance unchanged
    return r.numpy().reshape(len(x), *x.shape[1:]), neurons, total

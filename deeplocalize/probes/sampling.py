"""Strided samples of weights, weight gradients and output gradients: what the
step reads of a tensor too large to hold whole until the end of the step.

Example:
    >>> stride = _sample_stride([512, 300])   # a 153,600-value kernel
    >>> stride, 512 * 300 // stride < 2 * RATIO_SAMPLE
    (37, True)
"""

from __future__ import annotations

import math

RATIO_SAMPLE = 4096  # weights and their gradients are sampled at a stride of size // this: under twice this many elements each
FORWARD_SAMPLE = 16384  # forward statistics of larger outputs use the batch's first examples, about this many values
UNIT_SAMPLE = 256  # ...and enough examples that every unit (channel) is judged dead or alive on at least this many values
GRADIENT_SAMPLE = 128  # values kept per example of a large layer's output gradient (see _gradient_sample)
GRADIENT_FULL_MAX = 16384  # ...large: more values per example than this; smaller gradients are kept whole


def _dense_values(tf, grad):
    """A gradient's values as float32 (an Embedding's sparse gradient: its rows)."""
    if isinstance(grad, tf.IndexedSlices):
        grad = grad.values
    return tf.cast(grad, tf.float32)


def _sample_stride(shape) -> int:
    """Stride of the weight sample: under twice `RATIO_SAMPLE` elements, and
    coprime with the last dimension so the sample spans every unit's column."""
    dims = [int(d) for d in shape]
    size = max(1, math.prod(dims))
    return _coprime_stride(max(1, size // RATIO_SAMPLE), dims[-1] if dims else 1)


def _coprime_stride(stride: int, last: int) -> int:
    """The smallest stride >= ``stride`` that is coprime with ``last`` (the
    last dimension), so a strided sample of the flattened tensor meets every
    index of that dimension; 1 stays 1."""
    while stride > 1 and math.gcd(stride, last) != 1:
        stride += 1
    return stride


def _gradient_sample(tf, grad):
    """``(values, stride)``: a layer's output gradient as float32, whole
    (stride 1) unless one example of it has more than `GRADIENT_FULL_MAX`
    values; then every ``stride``-th value, with the stride chosen so that
    the sample meets every example (about `GRADIENT_SAMPLE` values each)
    and, over the examples, every unit.

    Why a sample: the recording branch takes every value it uses as an input,
    which keeps it in memory until the end of the step, recorded or not.
    The full output gradients of a 64x64 conv net kept that long cost about
    4% of every step; a strided copy does not (small gradients are cheaper
    kept than copied). A NaN or Inf born in the backward pass fills the
    whole example it belongs to in the gradients below its layer, so the
    sample finds it; counts are the sample's, times the stride.
    """
    if isinstance(grad, tf.IndexedSlices):
        grad = grad.values
    per_example = grad.shape[1:]
    if not (grad.shape.rank and grad.shape.rank >= 2 and per_example.is_fully_defined()
            and math.prod(per_example) > GRADIENT_FULL_MAX):
        return tf.cast(grad, tf.float32), 1
    stride = _coprime_stride(math.prod(per_example) // GRADIENT_SAMPLE, int(per_example[-1]))
    return tf.cast(_samples(tf, [grad], [stride])[0], tf.float32), stride


def _samples(tf, tensors, strides):
    """A strided sample of each tensor, flattened (see `_sample_stride`); a
    stride of 1 is the tensor itself, with no slice."""
    from deeplocalize.probes.graph import const

    flat = [tf.reshape(t, const(tf, [-1], tf.int32)) for t in tensors]
    return [f if k == 1 else tf.strided_slice(f, const(tf, [0], tf.int32), const(tf, [2 ** 31 - 1], tf.int32),
                                              const(tf, [k], tf.int32)) for f, k in zip(flat, strides)]

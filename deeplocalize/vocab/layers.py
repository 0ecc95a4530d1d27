"""Layer families: what each activation and layer class means to the checks.

Adding a layer type is one row here (plus, for a new kind of symptom, its
check).

Example:
    >>> ACTIVATION_ROWS["relu"].zero_output, ACTIVATION_ROWS["tanh"].squashing
    (True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Activation:
    """One activation function, by its lowercase Keras name.

    ``zero_output``: dead units output exactly 0 (dying-ReLU check).
    ``squashing``: bounded with flat tails (saturation check).
    ``relu_like``: a constant kernel before it is an error, not a warning
    (no gradient reaches the units at all). ``output_range``: the values it
    can produce, or None when unbounded both ways.

    Example:
        >>> Activation("sigmoid", squashing=True, output_range=(0.0, 1.0)).relu_like
        False
    """

    name: str
    zero_output: bool = False
    squashing: bool = False
    relu_like: bool = False
    output_range: tuple[float, float] | None = None


_ACTIVATIONS = (
    Activation("relu", zero_output=True, relu_like=True, output_range=(0.0, math.inf)),
    Activation("relu6", zero_output=True, relu_like=True),
    Activation("elu", relu_like=True, output_range=(-1.0, math.inf)),
    Activation("selu", relu_like=True),
    Activation("leaky_relu", relu_like=True),
    Activation("gelu", relu_like=True),
    Activation("silu", relu_like=True),
    Activation("swish", relu_like=True),
    Activation("linear", relu_like=True),
    Activation("sigmoid", squashing=True, output_range=(0.0, 1.0)),
    Activation("hard_sigmoid", squashing=True, output_range=(0.0, 1.0)),
    Activation("tanh", squashing=True, output_range=(-1.0, 1.0)),
    Activation("softsign", squashing=True),
    Activation("hard_tanh", squashing=True),
    Activation("softmax", output_range=(0.0, 1.0)),
    Activation("softplus", output_range=(0.0, math.inf)),
)
ACTIVATION_ROWS: dict[str, Activation] = {row.name: row for row in _ACTIVATIONS}
ZERO_OUTPUT = frozenset(a.name for a in _ACTIVATIONS if a.zero_output)
SQUASHING = frozenset(a.name for a in _ACTIVATIONS if a.squashing)
# A layer with no activation at all counts as linear here.
RELU_LIKE = frozenset([a.name for a in _ACTIVATIONS if a.relu_like] + [None])
OUTPUT_RANGE = {a.name: a.output_range for a in _ACTIVATIONS if a.output_range is not None}


@dataclass(frozen=True)
class LayerClass:
    """One Keras layer class, by its class name.

    ``activation``: the activation the layer is by itself (a ReLU layer).
    ``probed``: whether the probes watch it. ``normalizing``: as a first
    layer it scales or encodes the raw input, so raw inputs may be large.
    ``passthrough``: it does not change what its input means (an output
    behind it keeps its producer's activation). ``linear``: a linear map of
    its inputs (with no weights of its own), so a network of such layers and
    activation-free Dense/Conv layers is one linear map.

    Example:
        >>> LAYER_CLASS_ROWS["PReLU"].activation
        'leaky_relu'
    """

    name: str
    activation: str | None = None
    probed: bool = True
    normalizing: bool = False
    passthrough: bool = False
    linear: bool = False


_LAYER_CLASSES = (
    LayerClass("InputLayer", probed=False),
    LayerClass("ReLU", activation="relu"),
    LayerClass("Softmax", activation="softmax"),
    LayerClass("LeakyReLU", activation="leaky_relu"),
    LayerClass("PReLU", activation="leaky_relu"),  # a leaky ReLU whose slope is learned
    LayerClass("ELU", activation="elu"),
    *(LayerClass(name, normalizing=True) for name in (
        "BatchNormalization", "LayerNormalization", "Normalization", "Rescaling", "UnitNormalization",
        "GroupNormalization", "Embedding", "TextVectorization", "StringLookup", "IntegerLookup",
        "CategoryEncoding", "Discretization", "Hashing")),
    *(LayerClass(name, passthrough=True, linear=True) for name in (
        "Dropout", "Flatten", "Reshape", "GaussianNoise", "ActivityRegularization")),
    *(LayerClass(name, linear=True) for name in (
        "GaussianDropout", "AlphaDropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
        "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "GlobalAveragePooling1D",
        "GlobalAveragePooling2D", "GlobalAveragePooling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
        "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D", "Add",
        "Subtract", "Average", "Concatenate", "Permute", "RepeatVector")),
)
LAYER_CLASS_ROWS: dict[str, LayerClass] = {row.name: row for row in _LAYER_CLASSES}
LAYER_ACTIVATION = {c.name: c.activation for c in _LAYER_CLASSES if c.activation is not None}
UNPROBED_CLASSES = frozenset(c.name for c in _LAYER_CLASSES if not c.probed)
NORMALIZERS = frozenset(c.name for c in _LAYER_CLASSES if c.normalizing)
PASSTHROUGH = frozenset(c.name for c in _LAYER_CLASSES if c.passthrough)
# Prefixes of the input dtypes that hold ids (tokens, categories), whose scale means nothing.
ID_DTYPES = ("int", "uint", "bool")
LINEAR = frozenset(c.name for c in _LAYER_CLASSES if c.linear)

LAYER_KINDS = ("dense", "conv", "rnn", "activation", "passive", "other")


def layer_kind(class_name: str | None) -> str:
    """A coarse kind of a layer class, one of `LAYER_KINDS` (by name parts,
    so that unlisted subclasses such as ``Conv1DTranspose`` still fit).

    Example:
        >>> layer_kind("Conv2D"), layer_kind("MaxPooling2D"), layer_kind("LeakyReLU")
        ('conv', 'passive', 'activation')
    """
    c = (class_name or "").lower()
    if "dense" in c:
        return "dense"
    if "conv" in c:
        return "conv"
    if any(k in c for k in ("rnn", "lstm", "gru")):
        return "rnn"
    if c in ("activation", "relu", "softmax", "leakyrelu", "prelu", "elu"):
        return "activation"
    if any(k in c for k in ("dropout", "pool", "flatten", "reshape", "normalization", "noise", "embedding")):
        return "passive"
    return "other"


def keras_activation_name(layer) -> str | None:
    """The activation a layer applies last, as a lowercase name, or None.

    Works on any object with Keras's layer shape (a class name and an
    optional ``activation`` function); imports nothing of Keras.

    Example:
        >>> activation_name(keras.layers.Dense(3, activation="sigmoid"))
        'sigmoid'
    """
    cls = type(layer).__name__
    if cls in LAYER_ACTIVATION:
        return LAYER_ACTIVATION[cls]
    fn = getattr(layer, "activation", None)
    if fn is None:
        return None
    name = getattr(fn, "__name__", None) or type(fn).__name__
    name = name.lower()
    return "linear" if name in ("linear", "identity") else name

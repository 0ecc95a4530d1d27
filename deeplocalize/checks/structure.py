"""Structure checks: what the model's layers alone say about what it can learn.

Pure functions of the compiled model's facts (the trace's ``meta`` and
layer list), run with the other pre-flight checks (`preflight.check_model`).
Each gives a note worth verifying: the structure is suspect, and only a
trial shows whether it matters for this task.

Example:
    >>> [f.kind for f in structure_checks(trace.meta, trace.layers)]
    ['linear_model']
"""

from __future__ import annotations

from deeplocalize.findings import Finding
from deeplocalize.trace import LayerInfo
from deeplocalize.vocab import LINEAR, layer_kind

CATEGORICAL_LOSSES = {"categorical_crossentropy", "categorical_focal_crossentropy", "sparse_categorical_crossentropy"}


def structure_checks(meta: dict, layers: list[LayerInfo]) -> list[Finding]:
    """Every structure check's findings.

    Example:
        >>> [f.kind for f in structure_checks(trace.meta, trace.layers)]
        ['narrow_layer']
    """
    return _linear_model(layers) + _narrow_layer(meta, layers) + _hidden_softmax(layers)


def model_outputs(meta: dict) -> list[tuple]:
    """``(layer name, activation, units, loss dict)`` of each output the model's graph names.

    Example:
        >>> model_outputs(trace.meta)
        [('out', 'softmax', 10, {'name': 'sparse_categorical_crossentropy', 'from_logits': False})]
    """
    names = meta.get("output_layers") or []
    acts = meta.get("output_activations") or [None] * len(names)
    shapes = meta.get("output_shapes") or [None] * len(names)
    losses = meta.get("loss") or [{}]
    losses = losses * len(names) if len(losses) == 1 else losses
    return [(name, acts[k] if k < len(acts) else None, (shapes[k] or [None])[-1] if k < len(shapes) else None,
             (losses[k] if k < len(losses) else None) or {}) for k, name in enumerate(names)]


def _weighted(layers: list[LayerInfo]) -> list[int]:
    """Indices of the Dense/Conv layers that hold weights."""
    return [i for i, l in enumerate(layers) if l.n_params > 0 and layer_kind(l.class_name) in ("dense", "conv")]


def _linear_model(layers: list[LayerInfo]) -> list[Finding]:
    """A note when nothing before the last Dense/Conv layer is non-linear: every
    earlier layer is an activation-free Dense/Conv layer or a linear one
    (pooling by average, dropout, reshaping, adding), so however many layers
    the model stacks, it computes one linear map of its input before its
    output activation. Worth verifying (hidden ReLUs), as it is harmless
    where the task is linear. Any other layer (max pooling, a normalization,
    a recurrent or unknown layer) counts as non-linear: no note."""
    weighted = _weighted(layers)
    if len(weighted) < 2:
        return []

    def linear(layer: LayerInfo) -> bool:
        if layer.activation not in (None, "linear"):
            return False
        return layer.class_name in LINEAR or layer.class_name == "Activation" or \
            (layer.n_params > 0 and layer_kind(layer.class_name) in ("dense", "conv"))

    if not all(linear(layer) for layer in layers[:weighted[-1]]):
        return []
    hidden = [layers[i].name for i in weighted[:-1]]
    names = ", ".join(f"'{n}'" for n in hidden)
    return [Finding(
        kind="linear_model", layer=hidden[0], root_cause="activation", severity="info", step=0, epoch=0,
        evidence={"linear_layers": hidden, "last_weighted_layer": layers[weighted[-1]].name},
        message=f"No layer before '{layers[weighted[-1]].name}' is non-linear: {names} apply no activation, so the "
        "stacked layers compute one linear map of the input, however deep the model is.",
        suggestion=f"Give {names} an activation, e.g. activation='relu'.")]


def narrow_limit(classes: int) -> int:
    """The most units a hidden Dense layer may have and still be a bottleneck
    for a classifier of ``classes`` classes: a quarter of them, at least 1.

    Example:
        >>> narrow_limit(10), narrow_limit(3)
        (2, 1)
    """
    return max(1, classes // 4)


def widened_units(classes: int) -> int:
    """The units to try for a bottleneck layer of a classifier of ``classes`` classes.

    Example:
        >>> widened_units(10), widened_units(40)
        (32, 80)
    """
    return max(32, 2 * classes)


def _narrow_layer(meta: dict, layers: list[LayerInfo]) -> list[Finding]:
    """A note when a hidden Dense layer of a single-output classifier (softmax,
    or a categorical loss) of 3 or more classes has at most `narrow_limit`
    units: everything the classes are told apart by passes through those few
    numbers. Worth verifying (the layer widened), as a deliberate bottleneck
    can still work."""
    outputs = model_outputs(meta)
    if len(outputs) != 1:
        return []
    name, act, classes, loss = outputs[0]
    if not classes or classes < 3 or not (act == "softmax" or loss.get("name") in CATEGORICAL_LOSSES):
        return []
    narrow = [layer for layer in layers if not layer.is_output and layer.name != name and layer.n_params > 0
              and layer_kind(layer.class_name) == "dense" and layer.output_shape
              and layer.output_shape[-1] is not None and layer.output_shape[-1] <= narrow_limit(classes)]
    if not narrow:
        return []
    layer = min(narrow, key=lambda info: info.output_shape[-1])
    units = layer.output_shape[-1]
    return [Finding(
        kind="narrow_layer", layer=layer.name, root_cause="architecture", severity="info", step=0, epoch=0,
        evidence={"units": units, "classes": classes},
        message=f"Layer '{layer.name}' has {units} unit{'s' if units > 1 else ''} for {classes} classes: everything "
        f"the classes are told apart by must pass through {'that one number' if units == 1 else 'those numbers'}.",
        suggestion=f"Widen '{layer.name}' (e.g. units={widened_units(classes)}).")]


def _hidden_softmax(layers: list[LayerInfo]) -> list[Finding]:
    """A note when a softmax sits on a hidden layer (a layer's activation, an
    ``Activation("softmax")`` or a ``Softmax`` layer, with a Dense/Conv layer
    after it): its outputs are squeezed to sum to 1, so most of them are near
    0 and pass almost no signal or gradient. Worth verifying (hidden ReLUs):
    a softmax used on purpose (gating, hand-made attention) keeps the note
    a note."""
    weighted = _weighted(layers)
    if not weighted:
        return []
    hidden = [layer for layer in layers[:weighted[-1]]
              if not layer.is_output and (layer.activation == "softmax" or layer.class_name == "Softmax")]
    if not hidden:
        return []
    names = ", ".join(f"'{layer.name}'" for layer in hidden)
    return [Finding(
        kind="hidden_softmax", layer=hidden[0].name, root_cause="activation", severity="info", step=0, epoch=0,
        evidence={"softmax_layers": [layer.name for layer in hidden]},
        message=f"{names} appl{'ies' if len(hidden) == 1 else 'y'} softmax inside the network: each example's "
        "outputs are squeezed to sum to 1, so most sit near 0 and pass little signal or gradient on.",
        suggestion=f"Use activation='relu' on {names} (softmax belongs on the output of a classifier).")]

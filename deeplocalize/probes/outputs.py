"""The model's output layers, found from its graph, never guessed from creation order.

Each of ``model.outputs`` names the layer that produced it. What that output
*is* (its activation) may sit deeper: inside a nested model used as the
output head, inside a wrapper (``TimeDistributed``, ``Bidirectional``), or
before a trailing layer that only reshapes or drops values. A subclassed
model has no graph: its outputs are unknown (None), and the checks that
need them are skipped.

Example:
    >>> [layer.name for layer in output_layers(model)], output_activations(model)
    (['head'], ['softmax'])
"""

from __future__ import annotations

from deeplocalize.vocab import PASSTHROUGH, keras_activation_name

_MAX_DEPTH = 32  # nested models, wrappers and pass-through layers followed at most


def _history(tensor):
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None, 0, 0
    return history.operation, history.node_index, history.tensor_index


def _graph_outputs(model) -> list | None:
    """``model.outputs``, or None for a model without a graph (subclassed)."""
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        return None
    return list(outputs) if outputs else None


def output_layers(model) -> list | None:
    """The layers of ``model`` (its own, not nested ones) that produce its
    outputs, one per output, or None when the model has no graph.

    Example:
        >>> [layer.name for layer in output_layers(model)]
        ['head']
    """
    outputs = _graph_outputs(model)
    if outputs is None:
        return None
    layers = [_history(t)[0] for t in outputs]
    return None if any(layer is None for layer in layers) else layers


def output_activations(model) -> list | None:
    """The activation each output of ``model`` ends with (see the module
    docstring), one per output, or None when the model has no graph.

    Example:
        >>> output_activations(keras.Sequential([keras.Input((4,)), keras.layers.TimeDistributed(
        ...     keras.layers.Dense(3, activation="softmax"))]))   # doctest: +SKIP
        ['softmax']
    """
    outputs = _graph_outputs(model)
    if outputs is None:
        return None
    return [_activation_of(t) for t in outputs]


def _activation_of(tensor) -> str | None:
    op, node_index, tensor_index = _history(tensor)
    for _ in range(_MAX_DEPTH):
        if op is None:
            return None
        inner = _graph_outputs(op) if hasattr(op, "layers") else None
        if inner is not None:  # a nested model: its own output tensor
            op, node_index, tensor_index = _history(inner[min(tensor_index, len(inner) - 1)])
            continue
        wrapped = getattr(op, "forward_layer", None) or getattr(op, "layer", None)
        if wrapped is not None and hasattr(wrapped, "call"):  # TimeDistributed, Bidirectional, ...
            return keras_activation_name(wrapped)
        if type(op).__name__ in PASSTHROUGH:
            nodes = getattr(op, "_inbound_nodes", None) or []
            node = nodes[node_index] if node_index < len(nodes) else None
            inputs = list(getattr(node, "input_tensors", None) or []) if node is not None else []
            if not inputs:
                return None
            op, node_index, tensor_index = _history(inputs[0])
            continue
        return keras_activation_name(op)
    return None

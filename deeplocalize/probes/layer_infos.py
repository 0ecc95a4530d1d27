"""Static facts about the probed layers (`LayerInfo`), shared by every observer.

Example:
    >>> [i.name for i in layer_infos(model, probed_layers(model), [None] * 3) if i.is_output]
    ['output']
"""

from __future__ import annotations

import math

from deeplocalize.trace import LayerInfo


def _initializer_name(layer) -> str | None:
    init = getattr(layer, "kernel_initializer", None)
    if init is None:
        return None
    return type(init).__name__


def layer_infos(model, layers, activations) -> list[LayerInfo]:
    """Static facts about each of ``layers`` (see `probed_layers`), in order.

    A layer is an output when it produces one of the model's outputs (see
    `deeplocalize.probes.outputs`); where the graph does not say (a
    subclassed model), the last layer stands in for the saturation checks'
    sake only: the pre-flight checks read `model_facts`, which never guesses.

    Example:
        >>> [i.name for i in layer_infos(model, probed_layers(model), [None] * 3) if i.is_output]
        ['output']
    """
    from deeplocalize.probes.outputs import output_layers

    producing = {id(layer) for layer in (output_layers(model) or [])}
    infos = []
    for i, layer in enumerate(layers):
        try:
            shape = list(layer.output.shape) if hasattr(layer, "output") else None
        except Exception:  # subclassed models have no symbolic outputs
            shape = None
        infos.append(
            LayerInfo(
                name=layer.name,
                class_name=type(layer).__name__,
                index=i,
                activation=activations[i],
                output_shape=[None if d is None else int(d) for d in shape] if shape else None,
                n_params=int(sum(math.prod(v.shape) for v in layer.weights)),
                trainable=bool(layer.trainable),
                kernel_initializer=_initializer_name(layer),
                is_output=id(layer) in producing,
            )
        )
    if infos and not any(info.is_output for info in infos):
        infos[-1].is_output = True
    return infos

"""Plain facts about a compiled Keras model, for the Trace's ``meta``.

Example:
    >>> facts = model_facts(model)
    >>> facts["loss"], facts["optimizer"], facts["learning_rate"]
    ([{'name': 'categorical_crossentropy', 'from_logits': False}], 'Adam', 0.001)
"""

from __future__ import annotations

import math

from deeplocalize.vocab import PASSTHROUGH, loss_name


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def describe_loss(loss) -> dict:
    """Name and ``from_logits`` of one loss (string, function or Loss object).

    Example:
        >>> describe_loss("mse")
        {'name': 'mean_squared_error', 'from_logits': False}
    """
    if loss is None:
        return {"name": None, "from_logits": False}
    if isinstance(loss, str):
        return {"name": loss_name(loss), "from_logits": False}
    from_logits = getattr(loss, "from_logits", None)
    fn_kwargs = getattr(loss, "_fn_kwargs", None) or {}
    if from_logits is None:
        from_logits = fn_kwargs.get("from_logits", False)
    if hasattr(loss, "fn") and callable(getattr(loss, "fn")) and type(loss).__name__ == "LossFunctionWrapper":
        name = getattr(loss.fn, "__name__", None) or getattr(loss, "name", "custom")
    elif isinstance(loss, type):
        name = _snake(loss.__name__)
    elif callable(loss) and hasattr(loss, "__name__") and not hasattr(loss, "get_config"):
        name = loss.__name__
    else:
        name = _snake(type(loss).__name__)
    name = loss_name(name)
    return {"name": name, "from_logits": bool(from_logits)}


def _losses(model) -> list[dict]:
    loss = getattr(model, "loss", None)
    if isinstance(loss, dict):
        return [describe_loss(v) for v in loss.values()]
    if isinstance(loss, (list, tuple)):
        return [describe_loss(v) for v in loss]
    return [describe_loss(loss)]


def model_facts(model) -> dict:
    """Loss, optimizer, learning rate, output activations and shapes of ``model``."""
    from deeplocalize.probes import activation_name, probed_layers

    opt = model.optimizer
    try:
        lr = float(opt.learning_rate.numpy()) if hasattr(opt.learning_rate, "numpy") else float(opt.learning_rate)
    except Exception:
        lr = math.nan
    facts = {
        "model_name": model.name,
        "model_class": type(model).__name__,
        "loss": _losses(model),
        "optimizer": type(opt).__name__,
        "learning_rate": lr,
        "optimizer_config": _optimizer_config(opt),
        "output_activations": [],
        "output_shapes": [],
        "output_layers": [],
        "input_shapes": [],
        "n_trainable_params": int(sum(math.prod(v.shape) for v in model.trainable_weights)),
        "n_params": int(sum(math.prod(v.shape) for v in model.weights)),
        "frozen_layers": [l.name for l in probed_layers(model) if l.weights and not l.trainable],
    }
    try:
        outputs = model.outputs or []
        for t in outputs:
            facts["output_shapes"].append([None if d is None else int(d) for d in t.shape])
        producing = _output_layers(model)
        facts["output_layers"] = [l.name for l in producing]
        facts["output_activations"] = [_effective_activation(model, l) for l in producing]
        facts["input_shapes"] = [[None if d is None else int(d) for d in t.shape] for t in (model.inputs or [])]
    except Exception:  # subclassed models have no symbolic graph
        layers = probed_layers(model)
        if layers:
            facts["output_layers"] = [layers[-1].name]
            facts["output_activations"] = [activation_name(layers[-1])]
    return facts


def _output_layers(model):
    layers = []
    for t in model.outputs or []:
        history = getattr(t, "_keras_history", None)
        if history is not None:
            layers.append(history[0] if not hasattr(history, "operation") else history.operation)
    return layers


def _effective_activation(model, layer) -> str | None:
    """The activation applied last on the way to an output.

    A trailing Dropout/Reshape/Flatten does not change what the output is, so
    the search goes back through such layers to the one that activates.
    """
    from deeplocalize.probes import activation_name

    for _ in range(10):
        if layer is None or type(layer).__name__ not in PASSTHROUGH:
            break
        nodes = getattr(layer, "_inbound_nodes", [])
        parents = nodes[0].parent_operations if nodes else []
        layer = parents[0] if parents else None
    return activation_name(layer) if layer is not None else None


def _optimizer_config(opt) -> dict:
    keep = ("momentum", "nesterov", "beta_1", "beta_2", "epsilon", "clipnorm", "clipvalue", "rho")
    try:
        cfg = opt.get_config()
    except Exception:
        return {}
    return {k: cfg[k] for k in keep if k in cfg and isinstance(cfg[k], (int, float, bool, type(None)))}

"""Plain facts about a compiled Keras model, for the Trace's ``meta``.

Example:
    >>> facts = model_facts(model)
    >>> facts["loss"], facts["optimizer"], facts["learning_rate"]
    ([{'name': 'categorical_crossentropy', 'from_logits': False}], 'Adam', 0.001)
"""

from __future__ import annotations

import math

import keras

from deeplocalize.vocab import loss_name


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


def input_dtypes(model) -> list[str]:
    """The dtypes ``model`` declares for its inputs ([] for a subclassed model).

    Example:
        >>> input_dtypes(keras.Sequential([keras.Input((40,), dtype="int64"), keras.layers.Embedding(400, 8)]))
        ['int64']
    """
    try:
        return [str(getattr(t.dtype, "name", t.dtype)) for t in (model.inputs or [])]
    except (AttributeError, ValueError):  # a subclassed model has no symbolic inputs
        return []


def model_facts(model) -> dict:
    """Loss, optimizer, learning rate, output activations and shapes of ``model``."""
    from deeplocalize.probes import probed_layers
    from deeplocalize.probes.outputs import output_activations, output_layers

    opt = model.optimizer
    try:
        rate = opt.learning_rate  # a Variable's value, converted on any backend (a torch value needs no grad)
        value = getattr(rate, "value", rate)
        # a tf.Variable's own numpy(): NumPy 2 warns when np.array() copies one
        lr = float(value.numpy() if type(value).__module__.startswith("tensorflow") else
                   keras.ops.convert_to_numpy(value))
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
        facts["input_shapes"] = [[None if d is None else int(d) for d in t.shape] for t in (model.inputs or [])]
        facts["input_dtypes"] = input_dtypes(model)
    except (AttributeError, ValueError):  # subclassed models have no symbolic graph
        pass
    # Found from the graph; a model without one (subclassed) has no known
    # output layer, and the checks that need one are skipped.
    producing, activations = output_layers(model), output_activations(model)
    if producing is not None and activations is not None:
        facts["output_layers"] = [layer.name for layer in producing]
        facts["output_activations"] = activations
        facts["output_shapes"] = [[None if d is None else int(d) for d in t.shape] for t in model.outputs]
    if not all(getattr(layer, "built", True) for layer in probed_layers(model)):
        facts["n_trainable_params"] = None  # unbuilt layers have no weights yet: not known
    return facts


def _optimizer_config(opt) -> dict:
    keep = ("momentum", "nesterov", "beta_1", "beta_2", "epsilon", "clipnorm", "clipvalue", "rho",
            "gradient_accumulation_steps", "use_ema", "weight_decay")
    try:
        cfg = opt.get_config()
    except Exception:
        return {}
    return {k: cfg[k] for k in keep if k in cfg and isinstance(cfg[k], (int, float, bool, type(None)))}

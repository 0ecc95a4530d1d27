"""Copies of a compiled model with one thing changed, and the facts the fixes need.

A copy never shares a variable with the user's model: layers are rebuilt
from their configs (fresh weights from their initializers), the optimizer
from its config (fresh state), and it is compiled without the user's metrics
and without XLA, so a trial traces as little as it can.

Example:
    >>> new = clone_compiled(model, edit_layer={"out": {"activation": "softmax"}})
    >>> facts = model_setting(model, y_sample)
    >>> facts.loss_name, facts.output_layer
    ('categorical_crossentropy', 'out')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from deeplocalize.vocab.layers import keras_activation_name
from deeplocalize.vocab.metrics import loss_name as long_loss_name

RELU_FAMILY = {"relu", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "relu6", "mish", "softplus"}
STANDARD_INITIALIZERS = {"GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform",
                         "Orthogonal", "VarianceScaling", "Identity", "IdentityInitializer"}


class NotApplicable(Exception):
    """A fix that cannot be made on this model; the message says why."""


def loss_name(loss) -> str | None:
    """The snake_case name of a loss given as a string, function or Loss object."""
    if loss is None or isinstance(loss, (list, tuple, dict)):
        return None
    if isinstance(loss, str):
        name = loss
    elif hasattr(loss, "get_config"):  # a Loss object: its name is the function's
        name = getattr(loss, "name", None) or type(loss).__name__
    else:
        name = getattr(loss, "__name__", None) or type(loss).__name__
    if not name.islower() and "_" not in name:  # a class name: CategoricalCrossentropy
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", name)
    return long_loss_name(name)


def from_logits(loss) -> bool:
    cfg = loss.get_config() if hasattr(loss, "get_config") else {}
    return bool(cfg.get("from_logits", False))


@dataclass
class Setting:
    """What the fixes need to know about a model and its labels."""

    output_layer: str | None = None
    output_activation: str | None = None
    output_units: int | None = None
    single_output: bool = True
    loss_name: str | None = None
    logits: bool = False
    labels: str = "unknown"  # sparse | onehot | binary | plusminus | multilabel | continuous
    n_classes: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    layers: list = field(default_factory=list)  # (name, class, activation, next_class)
    batch_size: int | None = None  # of the user's training batches, when known


def model_setting(model, y) -> Setting:
    """The facts about ``model`` (compiled) and a sample of its labels ``y``."""
    s = Setting()
    outputs = getattr(model, "outputs", None) or []
    s.single_output = len(outputs) <= 1 and not isinstance(y, (list, tuple, dict))
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    for i, layer in enumerate(layers):
        nxt = type(layers[i + 1]).__name__ if i + 1 < len(layers) else None
        s.layers.append((layer.name, type(layer).__name__, keras_activation_name(layer), nxt))
    out = _output_layer(model)
    if out is not None:
        s.output_layer, s.output_activation = out.name, keras_activation_name(out)
        try:
            s.output_units = int(out.output.shape[-1])
        except Exception:
            s.output_units = None
    loss = model._compile_config.config.get("loss") if hasattr(model, "_compile_config") else model.loss
    s.loss_name, s.logits = loss_name(loss), from_logits(loss)
    opt = model.optimizer
    s.optimizer = type(opt).__name__ if opt is not None else None
    lr = opt.get_config().get("learning_rate") if opt is not None else None
    s.lr = float(lr) if isinstance(lr, (int, float)) else None
    if s.single_output and y is not None:
        s.labels, s.n_classes = label_kind(np.asarray(y), s.output_units)
    return s


def label_kind(y: np.ndarray, units: int | None) -> tuple[str, int | None]:
    """How labels are encoded: sparse, onehot, binary, plusminus, multilabel or continuous."""
    if y.dtype.kind not in "biuf" or y.size == 0:
        return "unknown", None
    flat = y.reshape(len(y), -1)
    whole = bool(np.all(np.isfinite(flat))) and bool(np.all(flat == np.round(flat)))
    values = np.unique(flat) if whole and flat.size <= 10**7 else None
    if flat.shape[1] > 1:
        if values is not None and set(values.tolist()) <= {0, 1}:
            return ("onehot" if np.all(flat.sum(1) == 1) else "multilabel"), flat.shape[1]
        return "continuous", None
    if values is None:
        return "continuous", None
    if set(values.tolist()) <= {-1, 1} and -1 in values:
        return "plusminus", 2
    if set(values.tolist()) <= {0, 1}:
        return "binary", 2
    if values.min() >= 0 and (units or 0) > 1 and len(values) <= max(256, units):
        return "sparse", int(values.max()) + 1
    return "continuous", None


def _output_layer(model):
    try:
        out = model.outputs[0]
        return out._keras_history.operation
    except Exception:
        layers = getattr(model, "layers", [])
        return layers[-1] if layers else None


def fresh_optimizer(optimizer, **changes):
    """A new optimizer of the same kind and settings (no state), with ``changes`` applied."""
    cfg = dict(optimizer.get_config())
    cfg.update(changes)
    return type(optimizer).from_config(cfg)


def scaled_lr_optimizer(optimizer, factor: float):
    cfg = optimizer.get_config()
    lr = cfg.get("learning_rate")
    if isinstance(lr, (int, float)):
        return fresh_optimizer(optimizer, learning_rate=float(lr) * factor)
    if isinstance(lr, dict) and "initial_learning_rate" in lr.get("config", {}):
        lr = {**lr, "config": {**lr["config"], "initial_learning_rate": lr["config"]["initial_learning_rate"] * factor}}
        return fresh_optimizer(optimizer, learning_rate=lr)
    raise NotApplicable("the learning rate is a schedule this fix cannot scale")


def clone_compiled(model, edit_layer=None, optimizer=None, loss=None, seed: int | None = None,
                   steps_per_execution: int = 1):
    """A fresh, compiled copy of ``model``; ``edit_layer`` maps layer names to
    config changes (a dict) or to a function ``layer -> new layer``."""
    import keras

    edit_layer = edit_layer or {}
    if seed is not None:
        keras.utils.set_random_seed(seed)

    def clone_layer(layer):
        change = edit_layer.get(layer.name)
        if callable(change):
            return change(layer)
        config = {**layer.get_config(), **(change or {})}
        if type(layer).__name__ == "Lambda":  # the function object itself, not its (unsafe) serialized form
            return keras.layers.Lambda(layer.function, output_shape=getattr(layer, "_output_shape", None),
                                       mask=getattr(layer, "mask", None), arguments=layer.arguments,
                                       name=config["name"], dtype=config.get("dtype"))
        return type(layer).from_config(config)

    if not isinstance(model, keras.Sequential) and not _is_functional(model):
        raise NotApplicable(f"'{model.name}' is a subclassed model ({type(model).__name__}); it cannot be "
                            "copied layer by layer, so candidate fixes cannot be tried on it")
    try:
        new = keras.models.clone_model(model, clone_function=clone_layer)
    except NotApplicable:
        raise
    except Exception as exc:
        raise NotApplicable(f"the model cannot be copied ({type(exc).__name__}: {str(exc)[:200]})") from exc
    _keep_adapted_state(model, new)
    cfg = model._compile_config.config if hasattr(model, "_compile_config") else {}
    loss = cfg.get("loss", model.loss) if loss is None else loss
    optimizer = optimizer or fresh_optimizer(model.optimizer)
    # XLA compiling costs more than a short trial saves on TensorFlow; JAX without jit runs op by op
    jit = False if keras.backend.backend() == "tensorflow" else "auto"
    new.compile(optimizer=optimizer, loss=loss, loss_weights=cfg.get("loss_weights"), jit_compile=jit,
                steps_per_execution=steps_per_execution)
    return new


def _keep_adapted_state(source, copy) -> None:
    """What a preprocessing layer learned from the data with ``adapt()`` (a
    Normalization's mean and variance) is part of the program, not a weight
    to draw afresh: the copy keeps it."""
    def flat(model):
        return model._flatten_layers(include_self=False) if hasattr(model, "_flatten_layers") else model.layers

    adapted = {layer.name: layer for layer in flat(source)
               if hasattr(layer, "adapt") and layer.weights and not layer.trainable_weights}
    for layer in flat(copy):
        src = adapted.get(layer.name)
        if src is not None:
            try:
                layer.set_weights(src.get_weights())
                if hasattr(layer, "finalize_state"):  # derives what the layer computes with (mean, std)
                    layer.finalize_state()
            except Exception:  # an edited layer of another shape keeps its own state
                pass


def _is_functional(model) -> bool:
    return any(cls.__name__ == "Functional" for cls in type(model).__mro__)

"""The catalogue of candidate fixes, each tagged with the root cause it tests.

A `Fix` changes one thing (the learning rate, an activation, the loss, the
inputs' scale, ...) and can be applied to the whole program as well as to a
trial: ``fix.apply(model, x, y, fit_kwargs)`` returns a fresh compiled copy
of the model and the data and ``fit`` arguments to train it with; the user's
model is never modified.

Example:
    >>> fixes, skipped = candidates(model, x_sample, y_sample)
    >>> fix = next(f for f in fixes if f.root_cause == "activation")
    >>> new_model, x2, y2, kw = fix.apply(model, x, y, {"epochs": 5, "batch_size": 32})
    >>> new_model.fit(x2, y2, **kw)
"""

from __future__ import annotations

import numpy as np

from deeplocalize.config import load_config
from deeplocalize.model_facts import input_dtypes
from deeplocalize.vocab import ID_DTYPES
from deeplocalize.verify.clone import (RELU_FAMILY, STANDARD_INITIALIZERS, NotApplicable, Setting, fresh_optimizer,
                                       model_setting, scaled_lr_optimizer)
from deeplocalize.verify.fix import Fix

_CE = {"categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy"}
_SQUASHING = {"sigmoid", "tanh", "hard_sigmoid", "softmax", "exponential", "softsign"}
_WEIGHTED = {"Dense", "Conv1D", "Conv2D", "Conv3D", "EinsumDense"}
_ACTIVATION_AFTER = {"Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "BatchNormalization",
                     "LayerNormalization"}
# When rules say nothing, fixes are tried in this order of root causes.
DEFAULT_ORDER = ("activation", "loss_function", "labels", "learning_rate", "data_preprocessing", "initialization",
                 "optimizer", "architecture", "training_config")


def candidates(model, x, y, batch_size: int | None = None) -> tuple[list[Fix], list[tuple[str, str]]]:
    """Every fix that applies to ``model`` given a sample ``(x, y)`` (trained
    with batches of ``batch_size``), and ``(name, reason)`` for those that
    cannot be tried."""
    setting = model_setting(model, y)
    setting.batch_size = int(batch_size) if batch_size else None
    fixes, skipped = [], []
    for make in (_output_activation, _output_head, _loss_fits, _from_logits, _labels, _learning_rates, _adam,
                 _hidden_relu, _initializers, _standardize_inputs, _scale_targets, _dropout, _widen, _training_config,
                 _smaller_batch):  # smaller batches last: tried first, they flagged a working program (docs)
        try:
            made = make(model, setting, x, y)
        except NotApplicable as exc:
            skipped.append((make.__name__.strip("_"), str(exc)))
            continue
        except Exception as exc:  # an unusual model: this candidate is skipped, the others still run
            skipped.append((make.__name__.strip("_"), f"could not be prepared ({type(exc).__name__}: {exc})"))
            continue
        fixes.extend(made if isinstance(made, list) else [made] if made else [])
    return fixes, skipped


def order(fixes: list[Fix], causes: list[str], layer: str | None = None) -> list[Fix]:
    """Fixes ranked by ``causes`` (most likely first), then `DEFAULT_ORDER`;
    within a cause, the fix at ``layer`` first."""
    ranked = list(dict.fromkeys([c for c in causes if c] + list(DEFAULT_ORDER)))
    return sorted(fixes, key=lambda f: (ranked.index(f.root_cause) if f.root_cause in ranked else 99,
                                        f.layer != layer))


# ---- the catalogue ---------------------------------------------------------------
def _fitting_output(s: Setting) -> str | None:
    units, labels = s.output_units or 0, s.labels
    if units == 1 and s.output_activation == "softmax":  # a softmax over one unit is always 1
        return "sigmoid" if labels == "binary" and not s.logits else "linear"
    if s.loss_name in _CE and s.logits:
        return "linear"
    if s.loss_name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        return "softmax" if units > 1 else "sigmoid"
    if s.loss_name == "binary_crossentropy":
        return "sigmoid"
    if labels == "continuous":
        return "linear"
    return None


def _activation_layer(layer, activation):
    import keras

    if type(layer).__name__ in ("Softmax", "ReLU", "LeakyReLU", "PReLU", "ELU", "Activation"):
        return keras.layers.Activation(activation, name=layer.name)
    return type(layer).from_config({**layer.get_config(), "activation": activation})


def _output_activation(model, s, x, y):
    want = _fitting_output(s)
    have = s.output_activation or "linear"
    if not s.single_output or want is None or s.output_layer is None or want == have:
        return None
    return Fix("output_activation", "activation", s.output_layer, f"activation='{want}' on '{s.output_layer}'",
               f"Use activation='{want}' on the output layer '{s.output_layer}' (it fits the loss "
               f"{s.loss_name}).", edit_layer={s.output_layer: lambda layer: _activation_layer(layer, want)})


def _loss_fits(model, s, x, y):
    import keras

    act, units, labels = s.output_activation or "linear", s.output_units or 0, s.labels
    if not s.single_output:
        return None
    want, loss = None, None
    if act == "softmax" and units > 1 and labels in ("sparse", "onehot"):
        want = "sparse_categorical_crossentropy" if labels == "sparse" else "categorical_crossentropy"
    elif act == "sigmoid" and labels in ("binary", "multilabel"):
        want = "binary_crossentropy"
    elif act == "linear" and labels == "sparse" and units > 1:
        want, loss = "sparse_categorical_crossentropy", keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    elif act == "linear" and labels == "onehot" and units > 1:
        want, loss = "categorical_crossentropy", keras.losses.CategoricalCrossentropy(from_logits=True)
    elif labels == "continuous" and act not in ("softmax", "sigmoid"):
        want = "mean_squared_error"
    if want is None or want == s.loss_name:
        return None
    return Fix("loss_fits_output", "loss_function", "loss", f"loss='{want}'",
               f"Use loss='{want}', which fits the output ({act}) and the labels ({labels}).",
               loss=loss or want)


def _output_head(model, s, x, y):
    """Class labels trained with a regression loss (MSE, MAE, ...), or one-hot
    classes scored as independent sigmoids (binary cross-entropy): the output
    activation and the cross-entropy that fit the labels, changed together."""
    units = s.output_units or 0
    if not s.single_output or s.output_layer is None or s.loss_name is None:
        return None
    exclusive_as_independent = (s.loss_name == "binary_crossentropy" and s.labels == "onehot" and units > 2
                                and not s.logits)
    if s.loss_name in _CE and not exclusive_as_independent:
        return None
    if exclusive_as_independent:
        act, loss = "softmax", "categorical_crossentropy"
    elif s.labels in ("binary", "multilabel") and (units == 1 or s.labels == "multilabel"):
        act, loss = "sigmoid", "binary_crossentropy"
    elif s.labels in ("onehot", "sparse") and units > 1:
        act = "softmax"
        loss = "categorical_crossentropy" if s.labels == "onehot" else "sparse_categorical_crossentropy"
    else:
        return None
    if (s.output_activation or "linear") == act:  # only the loss differs: `_loss_fits` tries that
        return None
    return Fix("output_head", "activation", s.output_layer,
               f"activation='{act}' on '{s.output_layer}' with loss='{loss}'",
               f"The labels are {'mutually exclusive ' if exclusive_as_independent else ''}classes: use "
               f"activation='{act}' on the output layer '{s.output_layer}' and loss='{loss}' instead of "
               f"{s.loss_name}.",
               edit_layer={s.output_layer: lambda layer: _activation_layer(layer, act)}, loss=loss)


def _from_logits(model, s, x, y):
    import keras

    if not s.single_output or s.loss_name not in _CE:
        return None
    act = s.output_activation or "linear"
    if act == "linear" and not s.logits:
        logits = True
    elif act in ("softmax", "sigmoid") and s.logits:
        logits = False
    else:
        return None
    cls = {"categorical_crossentropy": keras.losses.CategoricalCrossentropy,
           "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
           "binary_crossentropy": keras.losses.BinaryCrossentropy}[s.loss_name]
    return Fix("from_logits", "loss_function", "loss", f"{cls.__name__}(from_logits={logits})",
               f"Use {cls.__name__}(from_logits={logits}): the output layer's activation is {act}.",
               loss=cls(from_logits=logits))


def _labels(model, s, x, y):
    units = s.output_units or 0
    if not s.single_output:
        return None
    if s.labels == "sparse" and s.loss_name == "categorical_crossentropy" and units > 1 and s.n_classes <= units:
        def one_hot(x, y, kw):
            y = np.asarray(y).reshape(-1).astype(int)
            return x, np.eye(units, dtype="float32")[y], kw
        return Fix("labels_one_hot", "labels", "labels", "labels one-hot encoded",
                   "One-hot encode the labels (keras.utils.to_categorical) for categorical_crossentropy.",
                   data=one_hot, changes_targets=True)
    if s.labels == "onehot" and s.loss_name == "sparse_categorical_crossentropy":
        return Fix("labels_integer", "labels", "labels", "labels as class indices",
                   "Pass class indices (y.argmax(-1)) to sparse_categorical_crossentropy.",
                   data=lambda x, y, kw: (x, np.asarray(y).argmax(-1), kw), changes_targets=True)
    if s.labels == "plusminus" and s.loss_name == "binary_crossentropy":
        return Fix("labels_zero_one", "labels", "labels", "labels -1/1 mapped to 0/1",
                   "Binary cross-entropy needs labels 0 and 1, not -1 and 1.",
                   data=lambda x, y, kw: (x, (np.asarray(y) > 0).astype("float32"), kw), changes_targets=True)
    if s.labels == "sparse" and s.loss_name == "sparse_categorical_crossentropy" and s.n_classes == units + 1:
        return Fix("labels_from_zero", "labels", "labels", "labels shifted to start at 0",
                   "Class indices must run from 0 to n_classes - 1; subtract 1 from the labels.",
                   data=lambda x, y, kw: (x, np.asarray(y) - 1, kw), changes_targets=True)
    return None


def _learning_rates(model, s, x, y):
    if s.lr is None:
        scaled_lr_optimizer(model.optimizer, 1.0)  # raises NotApplicable with the reason
    fixes = []
    for factor in (0.1, 0.01, 10.0):
        new = f"{s.lr * factor:.3g}" if s.lr else f"x{factor:g}"
        fixes.append(Fix(f"learning_rate_x{factor:g}", "learning_rate", "optimizer",
                         f"learning rate {s.lr:.3g} -> {new}" if s.lr else f"learning rate x{factor:g}",
                         f"Set the learning rate to {new} ({factor:g}x the current one).",
                         optimizer=lambda opt, f=factor: scaled_lr_optimizer(opt, f), lr_factor=factor))
    schedule = model.optimizer.get_config().get("learning_rate")
    start = schedule.get("config", {}).get("initial_learning_rate") if isinstance(schedule, dict) else None
    if isinstance(start, (int, float)):  # a schedule that may decay too fast (decay_steps in steps, not epochs)
        name = schedule.get("class_name", "the schedule")
        fixes.append(Fix("learning_rate_constant", "learning_rate", "optimizer",
                         f"learning rate {name} -> a constant {start:.3g}",
                         f"Keep the learning rate at {start:.3g} (or slow the {name}: its decay_steps count "
                         "optimizer steps, not epochs).",
                         optimizer=lambda opt, v=float(start): fresh_optimizer(opt, learning_rate=v)))
    default = type(model.optimizer)().get_config().get("learning_rate")
    if s.lr and isinstance(default, (int, float)) and not 0.01 <= s.lr / default <= 100:  # far off: x0.01 is not enough
        fixes.append(Fix("learning_rate_default", "learning_rate", "optimizer",
                         f"learning rate {s.lr:.3g} -> {default:.3g} ({s.optimizer}'s default)",
                         f"Set the learning rate to {default:.3g}, {s.optimizer}'s default.",
                         optimizer=lambda opt, d=default: fresh_optimizer(opt, learning_rate=d),
                         lr_factor=default / s.lr))
    return fixes


def _adam(model, s, x, y):
    import keras

    ignore = ("name", "learning_rate")
    default = {k: v for k, v in keras.optimizers.Adam().get_config().items() if k not in ignore}
    have = {k: v for k, v in model.optimizer.get_config().items() if k not in ignore}
    if s.optimizer == "Adam" and s.lr is not None and abs(s.lr - 1e-3) < 1e-9 and have == default:
        return None

    return Fix("adam_default", "optimizer", "optimizer", "optimizer Adam(learning_rate=0.001)",
               "Use keras.optimizers.Adam() with its default learning rate 1e-3.",
               optimizer=lambda opt: keras.optimizers.Adam(1e-3))


def _hidden_relu(model, s, x, y):
    changed = []
    for i, (name, cls, act, nxt) in enumerate(s.layers):
        if name == s.output_layer:
            continue
        if act in _SQUASHING and act is not None:
            changed.append(name)
        elif act == "linear" and cls in _WEIGHTED and nxt not in _ACTIVATION_AFTER and i < len(s.layers) - 1:
            changed.append(name)
    if not changed:
        return None
    names = ", ".join(f"'{n}'" for n in changed)
    return Fix("hidden_relu", "activation", changed[0], f"activation='relu' on {names}",
               f"Use ReLU as the activation of the hidden layer{'s' if len(changed) > 1 else ''} {names}.",
               edit_layer={n: (lambda layer: _activation_layer(layer, "relu")) for n in changed})


def _initializer_suspect(init) -> bool:
    cls = type(init).__name__
    if cls in STANDARD_INITIALIZERS:
        return False
    if cls in ("Zeros", "Ones", "Constant"):
        return True
    cfg = init.get_config() if hasattr(init, "get_config") else {}
    scale = cfg.get("stddev", cfg.get("maxval"))
    return scale is not None and (abs(scale) >= 0.5 or abs(scale) <= 1e-4)


def _initializers(model, s, x, y):
    suspects = []
    for layer in model.layers:
        kernel, bias = getattr(layer, "kernel_initializer", None), getattr(layer, "bias_initializer", None)
        bad_bias = bias is not None and type(bias).__name__ in ("Ones", "Constant") and \
            abs(bias.get_config().get("value", 1.0)) >= 0.1
        if (kernel is not None and _initializer_suspect(kernel)) or bad_bias:
            suspects.append(layer.name)
    if not suspects:
        return None
    acts = {name: act for name, _, act, _ in s.layers}

    def reinit(name):
        kernel = "he_uniform" if acts.get(name) in RELU_FAMILY else "glorot_uniform"
        return {"kernel_initializer": kernel, "bias_initializer": "zeros"}

    names = ", ".join(f"'{n}'" for n in suspects)
    return Fix("initializers", "initialization", suspects[0], f"Glorot/He kernels and zero biases on {names}",
               f"Initialize {names} with glorot_uniform (he_uniform before ReLU) and zero biases.",
               edit_layer={n: reinit(n) for n in suspects})


def _standardize_inputs(model, s, x, y):
    import keras

    if any(cls == "Embedding" for _, cls, _, _ in s.layers) or any(  # ids: their scale means nothing
            d.startswith(ID_DTYPES) for d in input_dtypes(model)):
        return None
    leaves = [np.asarray(a, dtype="float64") for a in keras.tree.flatten(x)]
    if not leaves or any(np.asarray(a).dtype.kind not in "fiub" for a in keras.tree.flatten(x)):
        return None
    stats = []
    for a in leaves:
        axis = 0 if a.ndim == 2 else None
        mean, std = np.nanmean(a, axis=axis), np.nanstd(a, axis=axis)
        stats.append((mean, np.where(std > 1e-8, std, 1.0)))
    biggest = max(float(np.nanmax(np.abs(a))) if a.size else 0.0 for a in leaves)
    # columns on very different scales (e.g. age next to income), judged by their largest values
    tops = np.concatenate([np.nanmax(np.abs(a), axis=0).ravel() if a.ndim == 2 else [np.nanmax(np.abs(a))]
                           for a in leaves if a.size])
    tops = tops[tops > 0]
    spread = float(tops.max() / np.median(tops)) if tops.size else 1.0
    tiny = 0.0 < biggest < load_config()["input_abs_min"]  # far below unit scale (see preflight._inputs)
    if biggest <= 5.0 and spread <= 100.0 and not tiny:
        return None

    def standardize(x, y, kw):
        flat = [((np.asarray(a, dtype="float64") - m) / sd).astype("float32")
                for a, (m, sd) in zip(keras.tree.flatten(x), stats)]
        return keras.tree.pack_sequence_as(x, flat), y, kw

    return Fix("standardize_inputs", "data_preprocessing", "data", "inputs standardized (mean 0, std 1)",
               "Standardize the inputs (e.g. sklearn StandardScaler, or a keras.layers.Normalization "
               "layer adapted to the training data; divide images by 255).", data=standardize)


def _scale_targets(model, s, x, y):
    if not s.single_output or s.labels != "continuous":
        return None
    y = np.asarray(y, dtype="float64")
    mean, std = y.mean(0), y.std(0)
    if np.max(np.abs(mean)) <= 5.0 and np.max(std) <= 5.0:
        return None
    std = np.where(std > 1e-8, std, 1.0)
    return Fix("scale_targets", "data_preprocessing", "data", "regression targets standardized",
               "Scale the regression targets (e.g. StandardScaler on y) and undo it on the predictions.",
               data=lambda x, y, kw: (x, ((np.asarray(y, dtype="float64") - mean) / std).astype("float32"), kw),
               changes_targets=True)


def _dropout(model, s, x, y):
    high = [layer.name for layer in model.layers if type(layer).__name__ in ("Dropout", "SpatialDropout1D",
            "SpatialDropout2D") and float(getattr(layer, "rate", 0.0)) > 0.5]
    if not high:
        return None
    names = ", ".join(f"'{n}'" for n in high)
    return Fix("dropout_lower", "architecture", high[0], f"dropout rate 0.2 on {names}",
               f"Lower the dropout rate of {names} to about 0.2 (above 0.5 it drops most of the signal).",
               edit_layer={n: {"rate": 0.2} for n in high})


def _widen(model, s, x, y):
    """The narrowest hidden Dense layer of a classifier, when it is a bottleneck
    (`deeplocalize.checks.preflight.narrow_limit`), widened."""
    from deeplocalize.checks.structure import narrow_limit, widened_units

    classes = s.n_classes or s.output_units
    if not classes or classes < 3 or s.labels not in ("sparse", "onehot"):
        return None
    narrow = [layer for layer in model.layers if type(layer).__name__ == "Dense" and layer.name != s.output_layer
              and int(getattr(layer, "units", 0) or 0) <= narrow_limit(classes)]
    if not narrow:
        return None
    layer = min(narrow, key=lambda d: d.units)
    new = widened_units(classes)
    return Fix("widen_layer", "architecture", layer.name, f"units {layer.units} -> {new} on '{layer.name}'",
               f"Widen '{layer.name}' from {layer.units} to about {new} units: it is too narrow for {classes} "
               "classes.", edit_layer={layer.name: {"units": new}})


def _training_config(model, s, x, y):
    def longer(x, y, kw):
        kw["epochs"] = int(kw.get("epochs", 1)) * 4
        return x, y, kw

    return Fix("train_longer", "training_config", "training_config", "4x as many training steps",
               "Train longer (about 4x the epochs), or use a smaller batch for more updates per epoch.",
               steps_factor=4.0, data=longer)


def _smaller_batch(model, s, x, y):
    """Batches of 64 or more: up to 8 times smaller (not below 32), the same
    epochs, so as many times more updates from the same examples."""
    divisor = min(8, (s.batch_size or 0) // 32)
    if divisor < 2:
        return None

    def smaller(x, y, kw):
        kw["batch_size"] = max(1, int(kw.get("batch_size") or s.batch_size) // divisor)
        return x, y, kw

    new = s.batch_size // divisor
    return Fix("smaller_batch", "training_config", "training_config", f"batch size {s.batch_size} -> {new}",
               f"Use batches of about {new} instead of {s.batch_size}: the same epochs then make {divisor}x as "
               "many weight updates.", steps_factor=float(divisor), data=smaller, batch_divisor=divisor)


__all__ = ["Fix", "candidates", "order", "NotApplicable", "fresh_optimizer"]

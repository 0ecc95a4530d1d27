"""Root causes: one row each, with the component that stands for a fault
outside the layers and the fixes the diagnosis suggests.

Example:
    >>> ROOT_CAUSE_ROWS["learning_rate"].component
    'optimizer'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RootCause:
    """One root cause of the DESIGN.md vocabulary.

    ``component`` names where a fault with this cause lives when it is not in
    a layer (``"data"``, ``"optimizer"``, ``"loss"``, ``"training_config"``),
    as in `Finding.layer` and the benchmark's ground truth. How the diagnosis
    uses it: ``fills_layer`` -- a finding whose check named no layer gets the
    component; ``names_verdict`` -- the verdict names the component even when
    the symptom showed in a layer (a loss mismatch keeps the output layer where
    it showed). ``hint`` is the cause in plain words, ``fix`` the suggestion,
    ``numerical_fix`` the one for a NaN/Inf with this cause.

    Example:
        >>> RootCause("labels", component="data").fills_layer
        False
    """

    name: str
    hint: str
    fix: str
    component: str | None = None
    fills_layer: bool = False
    names_verdict: bool = False
    numerical_fix: str = ""


_ROWS = (
    RootCause(
        "learning_rate", "the optimizer's step size is too large or too small",
        "Change the learning rate: lower it by 10x if values grow or oscillate, raise it if nothing moves.",
        component="optimizer", fills_layer=True, names_verdict=True,
        numerical_fix="Lower the learning rate (e.g. by 10x) or clip gradients (clipnorm=1.0)."),
    RootCause(
        "activation", "a layer's activation function does not suit its job",
        "Change the activation at the named layer (e.g. ReLU/LeakyReLU for hidden layers; "
        "sigmoid or softmax at the output to match the loss).",
        numerical_fix="Replace the operation that overflows (exp, log, division) at this layer with a "
        "bounded or numerically safe one."),
    RootCause(
        "loss_function", "the loss does not match the output, or is numerically unstable",
        "Use the loss that matches the output and labels (binary_crossentropy for sigmoid, "
        "categorical_crossentropy for softmax, mse for a linear regression output).",
        component="loss", fills_layer=True,
        numerical_fix="Use a numerically stable loss: pass logits with from_logits=True instead of "
        "computing log/softmax yourself."),
    RootCause(
        "initialization", "the initial weights are badly scaled",
        "Use a random kernel initializer (glorot_uniform, or he_normal for ReLU)."),
    RootCause(
        "data_preprocessing", "the inputs are not scaled or cleaned before training",
        "Normalize the inputs (StandardScaler, or divide pixels by 255) before training.",
        component="data", fills_layer=True, names_verdict=True,
        numerical_fix="Scale the inputs (e.g. StandardScaler, or divide images by 255) before training."),
    RootCause(
        "labels", "the targets are malformed, or encoded for a different loss",
        "Check the labels' encoding against the loss.", component="data"),
    RootCause(
        "optimizer", "the optimizer or its settings",
        "Try Adam with its default learning rate (1e-3), or add momentum to SGD.",
        component="optimizer", fills_layer=True, names_verdict=True,
        numerical_fix="Check the optimizer's settings (epsilon > 0, finite learning rate), or clip gradients."),
    RootCause(
        "architecture", "the model's structure (layers, sizes, outputs)",
        "Add regularization (Dropout, L2) or reduce the model size; stop training earlier."),
    RootCause(
        "training_config", "epochs, batch size or metrics",
        "Check epochs and batch size.", component="training_config"),
)

ROOT_CAUSE_ROWS: dict[str, RootCause] = {row.name: row for row in _ROWS}
ROOT_CAUSES = tuple(ROOT_CAUSE_ROWS)
COMPONENT_OF = {row.name: row.component for row in _ROWS if row.component is not None}
COMPONENTS = tuple(dict.fromkeys(COMPONENT_OF.values()))


def cause_row(name: str | None) -> RootCause | None:
    """The row of root cause ``name``, or None (no cause, or an unknown one).

    Example:
        >>> cause_row("optimizer").names_verdict
        True
    """
    return ROOT_CAUSE_ROWS.get(name or "")


def open_layer_component(cause: str | None) -> str | None:
    """The component given to a finding whose check named no layer, or None
    (then the most relevant layer is named).

    Example:
        >>> open_layer_component("loss_function"), open_layer_component("activation")
        ('loss', None)
    """
    row = cause_row(cause)
    return row.component if row is not None and row.fills_layer else None


def verdict_component(cause: str | None) -> str | None:
    """The component the verdict names for ``cause`` instead of the layer the
    symptom showed in, or None (keep the layer).

    Example:
        >>> verdict_component("learning_rate"), verdict_component("loss_function")
        ('optimizer', None)
    """
    row = cause_row(cause)
    return row.component if row is not None and row.names_verdict else None

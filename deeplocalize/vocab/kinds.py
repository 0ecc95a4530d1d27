"""Finding kinds: one row each, everything the package knows about a kind.

Adding a kind is one row here plus the check that emits it.

Example:
    >>> FINDING_KIND_ROWS["dying_relu"].title
    'Dying ReLU'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FindingKind:
    """One kind of finding.

    ``priority``: which finding explains a run best (lower first: direct
    faults before their consequences, layer symptoms before whole-run ones);
    ``None`` for kinds that never carry the verdict. ``trend``: found over a
    window of steps, so provisional mid-run (the final re-check decides).
    ``harmless_while_learning``: a waste of capacity, not a bug, while the
    loss keeps falling well. ``worth_verifying``: as a note (info) on a run
    with no symptom, it names a cause that ``verify="auto"`` still tests
    (rare on healthy runs, so their cost stays in the budget). ``activation_fix``: the fix when the root cause
    is the activation of the named layer (``{layer}`` is filled in). ``pre_flight``: read from the model or
    its first batch before training (what the program says, not a symptom), so the cause its check names
    is never overruled by the learned diagnoser's guess.

    Example:
        >>> FindingKind("nan", "NaN value", priority=0).trend
        False
    """

    name: str
    title: str
    priority: int | None = None
    trend: bool = False
    harmless_while_learning: bool = False
    worth_verifying: bool = False
    activation_fix: str = ""
    pre_flight: bool = False


_ROWS = (
    FindingKind("nan", "NaN value", priority=0),
    FindingKind("inf", "Infinite value", priority=1),
    FindingKind("exploding_gradient", "Exploding gradient", priority=6, trend=True),
    FindingKind("vanishing_gradient", "Vanishing gradient", priority=10, trend=True, harmless_while_learning=True),
    FindingKind("exploding_activation", "Exploding activation", priority=7, trend=True),
    FindingKind("dying_relu", "Dying ReLU", priority=8, trend=True, harmless_while_learning=True,
                activation_fix="Use LeakyReLU or ELU at layer '{layer}', a lower learning rate, or He initialization."),
    FindingKind("saturated_activation", "Saturated activation", priority=9, trend=True, harmless_while_learning=True,
                activation_fix="Replace the saturating activation at layer '{layer}' with ReLU, or normalize its inputs."),
    FindingKind("loss_not_decreasing", "Loss not decreasing", priority=14, trend=True),
    FindingKind("accuracy_not_increasing", "Accuracy not increasing", priority=15, trend=True),
    FindingKind("oscillating_loss", "Oscillating loss", priority=13, trend=True),
    FindingKind("weights_unchanged", "Weights unchanged", priority=11, trend=True, harmless_while_learning=True),
    FindingKind("loss_activation_mismatch", "Loss and output activation do not match", priority=3, pre_flight=True,
                worth_verifying=True),  # as a note (targets partly out of the output's range), the trials decide
    FindingKind("unnormalized_input", "Unnormalized input", priority=12, worth_verifying=True, pre_flight=True),
    FindingKind("initial_loss_high", "Initial loss far above a uniform guess", priority=12),
    FindingKind("invalid_labels", "Invalid labels", priority=2, pre_flight=True),
    FindingKind("overfitting", "Overfitting", priority=16, trend=True),
    FindingKind("learning_rate_out_of_range", "Learning rate out of range", priority=5, worth_verifying=True,
                pre_flight=True),
    FindingKind("untrainable_layer", "Untrainable layer", priority=4, pre_flight=True),
    FindingKind("still_learning", "Still learning at the end", priority=17),
    FindingKind("few_updates", "Few weight updates", priority=17, worth_verifying=True),
    FindingKind("no_better_than_mean", "No better than predicting the mean", priority=13),
    FindingKind("memorized", "Learned by heart, nothing that generalizes", priority=15),
    FindingKind("validation_unlike_training", "Validation data unlike the training data", priority=14),
    FindingKind("linear_model", "No non-linearity", priority=12, worth_verifying=True, pre_flight=True),
    FindingKind("narrow_layer", "Bottleneck layer", priority=12, worth_verifying=True, pre_flight=True),
    FindingKind("hidden_softmax", "Softmax on a hidden layer", priority=12, worth_verifying=True, pre_flight=True),
    FindingKind("optimizer_setting", "Unusual optimizer setting", priority=12, worth_verifying=True, pre_flight=True),
    FindingKind("internal_error", "Internal error"),
    FindingKind("fix_verified", "A candidate fix trains far better", priority=17),
)

FINDING_KIND_ROWS: dict[str, FindingKind] = {row.name: row for row in _ROWS}
FINDING_KINDS = tuple(FINDING_KIND_ROWS)
NUMERICAL_KINDS = ("nan", "inf")
# validation against training: trials that measure how well a copy trains cannot show their fix
GENERALIZATION_KINDS = ("overfitting", "memorized", "validation_unlike_training")
TREND_KINDS = tuple(k.name for k in _ROWS if k.trend)
VERIFIABLE_NOTES = tuple(k.name for k in _ROWS if k.worth_verifying)
PRE_FLIGHT_KINDS = tuple(k.name for k in _ROWS if k.pre_flight)
HARMLESS_WHEN_LEARNING = tuple(k.name for k in _ROWS if k.harmless_while_learning)
PRIORITY = tuple(k.name for k in sorted((k for k in _ROWS if k.priority is not None), key=lambda k: k.priority))


def kind_rank(kind: str) -> int:
    """Position of ``kind`` in the priority order (unranked kinds last).

    Example:
        >>> kind_rank("nan") < kind_rank("overfitting") < kind_rank("internal_error")
        True
    """
    row = FINDING_KIND_ROWS.get(kind)
    return 99 if row is None or row.priority is None else row.priority


def kind_title(kind: str) -> str:
    """A kind as a short title.

    Example:
        >>> kind_title("exploding_gradient")
        'Exploding gradient'
    """
    row = FINDING_KIND_ROWS.get(kind)
    return row.title if row is not None else kind.replace("_", " ").capitalize()

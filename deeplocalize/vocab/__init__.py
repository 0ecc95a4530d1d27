"""The package's vocabularies, each defined once: finding kinds, root causes,
layer families, loss and metric names. Everything else imports them from here.

Example:
    >>> from deeplocalize.vocab import FINDING_KINDS, ROOT_CAUSES, SQUASHING
    >>> "dying_relu" in FINDING_KINDS, "tanh" in SQUASHING
    (True, True)
"""

from deeplocalize.vocab.causes import (COMPONENT_OF, COMPONENTS, ROOT_CAUSE_ROWS, ROOT_CAUSES, RootCause,
                                       cause_row, open_layer_component, verdict_component)
from deeplocalize.vocab.kinds import (FINDING_KIND_ROWS, FINDING_KINDS, GENERALIZATION_KINDS, HARMLESS_WHEN_LEARNING,
                                      NUMERICAL_KINDS,
                                      PRE_FLIGHT_KINDS, PRIORITY, TREND_KINDS, VERIFIABLE_NOTES, FindingKind, kind_rank,
                                      kind_title)
from deeplocalize.vocab.layers import (ACTIVATION_ROWS, ID_DTYPES, LAYER_ACTIVATION, LAYER_CLASS_ROWS, LAYER_KINDS, LINEAR,
                                       NORMALIZERS, OUTPUT_RANGE, PASSTHROUGH, RELU_LIKE, SQUASHING, UNPROBED_CLASSES, ZERO_OUTPUT,
                                       Activation, LayerClass, keras_activation_name, layer_kind)
from deeplocalize.vocab.metrics import ACCURACY_KEYS, LOSS_ALIASES, accuracy_key, loss_name

__all__ = [
    "ACCURACY_KEYS", "ACTIVATION_ROWS", "COMPONENTS", "COMPONENT_OF", "FINDING_KINDS", "FINDING_KIND_ROWS",
    "GENERALIZATION_KINDS", "HARMLESS_WHEN_LEARNING", "ID_DTYPES", "LAYER_ACTIVATION", "LAYER_CLASS_ROWS", "LAYER_KINDS", "LINEAR", "LOSS_ALIASES", "NORMALIZERS",
    "NUMERICAL_KINDS", "OUTPUT_RANGE", "PASSTHROUGH", "PRE_FLIGHT_KINDS", "PRIORITY", "RELU_LIKE", "ROOT_CAUSES", "ROOT_CAUSE_ROWS",
    "SQUASHING", "TREND_KINDS", "UNPROBED_CLASSES", "VERIFIABLE_NOTES", "ZERO_OUTPUT", "Activation", "FindingKind", "LayerClass",
    "RootCause", "accuracy_key", "cause_row", "keras_activation_name", "kind_rank", "kind_title", "layer_kind",
    "loss_name", "open_layer_component", "verdict_component",
]

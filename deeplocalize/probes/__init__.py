"""In-graph probes: per-layer statistics computed inside the compiled train step.

The one part of deeplocalize that knows the backend. `step` installs the
instrumented train step (the only code touching Keras internals, and where
a second backend would plug in); `stats` holds the in-graph reductions;
`sampling` the strided samples of large tensors; `ring` the buffer the step
writes into and its read-back; `graph` the unlowered conditionals and the
per-graph constants.

Example:
    >>> from deeplocalize.probes import Probes, RING_ROWS
    >>> probes = Probes.for_model(model); probes.install()
"""

from deeplocalize.probes.graph import _branch, _switch
from deeplocalize.probes.ring import MAX_COLUMNS, RING_ROWS, RingBuffer
from deeplocalize.probes.sampling import (FORWARD_SAMPLE, GRADIENT_FULL_MAX, GRADIENT_SAMPLE, RATIO_SAMPLE,
                                          UNIT_SAMPLE, _coprime_stride, _gradient_sample, _sample_stride)
from deeplocalize.probes.stats import Statistics
from deeplocalize.probes.step import _CACHE, Probes, activation_name, probed_layers

__all__ = [
    "FORWARD_SAMPLE", "GRADIENT_FULL_MAX", "GRADIENT_SAMPLE", "MAX_COLUMNS", "RATIO_SAMPLE", "RING_ROWS",
    "UNIT_SAMPLE", "Probes", "RingBuffer", "Statistics", "activation_name", "probed_layers",
    "_CACHE", "_branch", "_coprime_stride", "_gradient_sample", "_sample_stride", "_switch",
]

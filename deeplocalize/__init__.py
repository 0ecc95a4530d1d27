"""deeplocalize: find bugs in Keras training runs while they happen.

Example:
    >>> from deeplocalize import DeepLocalizeCallback
    >>> cb = DeepLocalizeCallback()
    >>> model.fit(x, y, epochs=5, callbacks=[cb])
    >>> print(cb.diagnosis.summary())
"""

from deeplocalize.config import __version__
from deeplocalize.findings import Diagnosis, Finding
from deeplocalize.trace import Trace

__all__ = ["DeepLocalizeCallback", "Diagnosis", "Finding", "Trace", "__version__"]


def __getattr__(name):
    # The callback imports Keras; keep `import deeplocalize` light for offline
    # analysis of saved traces without TensorFlow.
    if name == "DeepLocalizeCallback":
        from deeplocalize.callback import DeepLocalizeCallback

        return DeepLocalizeCallback
    raise AttributeError(f"module 'deeplocalize' has no attribute {name!r}")

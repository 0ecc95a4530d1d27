"""The learned diagnoser's entry point: `predict(trace)`.

The classifiers (``diagnoser.joblib`` beside this module, written by
``python -m deeplocalize.learn train``) are loaded on the first call only, so
importing this module costs nothing. scikit-learn is needed at that point.

Example:
    >>> from deeplocalize.learn.predict import predict
    >>> predict(Trace.load("run.npz"))
    {'root_cause': 'learning_rate', 'layer': 'optimizer', 'confidence': 0.62, 'probabilities': {...}}
"""

from __future__ import annotations

import threading

from deeplocalize.learn.features import LAYER_FEATURE_NAMES, RUN_FEATURE_NAMES

_LOCK = threading.Lock()
_BUNDLE: dict | None = None


def is_loaded() -> bool:
    """Whether the model file has been read in this process.

    Example:
        >>> is_loaded()
        False
    """
    return _BUNDLE is not None


def load(path=None) -> dict:
    """The model bundle (cached after the first call).

    Example:
        >>> load()["info"]["n_runs"]
    """
    global _BUNDLE
    if _BUNDLE is not None and path is None:
        return _BUNDLE
    with _LOCK:
        if _BUNDLE is not None and path is None:
            return _BUNDLE
        import joblib

        from deeplocalize.learn.model import MODEL_PATH

        from pathlib import Path

        target = Path(path) if path is not None else MODEL_PATH
        if not target.exists():
            raise FileNotFoundError(
                f"No learned diagnoser at {target}; train one with "
                "'python -m deeplocalize.learn train --corpus DIR'.")
        bundle = joblib.load(target)
        if list(bundle["run_feature_names"]) != RUN_FEATURE_NAMES or \
                list(bundle["layer_feature_names"]) != LAYER_FEATURE_NAMES:
            raise RuntimeError(
                f"The learned diagnoser at {target} was trained on other features than this version "
                "computes; retrain it with 'python -m deeplocalize.learn train --corpus DIR'.")
        if path is None:
            _BUNDLE = bundle
        return bundle


def predict(trace) -> dict:
    """Root cause, faulty layer (or component) and confidence for one ``trace``.

    ``root_cause`` is a word of the root-cause vocabulary; ``layer`` a layer
    name of the trace, or ``"optimizer"``, ``"loss"``, ``"data"``,
    ``"training_config"`` for faults outside the layers; ``confidence`` is the
    forest's probability of that cause. An empty trace gives ``None``s.

    Example:
        >>> predict(cb.trace)["root_cause"] in ROOT_CAUSES
        True
    """
    if trace is None or trace.n_steps == 0:
        return {"root_cause": None, "layer": None, "confidence": 0.0}
    from deeplocalize.learn.model import predict_with

    return predict_with(load()["models"], trace)

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
from pathlib import Path

import numpy as np

from deeplocalize.learn.features import LAYER_FEATURE_NAMES, RUN_FEATURE_NAMES, layer_features, run_features
from deeplocalize.vocab import COMPONENT_OF

MODEL_PATH = Path(__file__).with_name("diagnoser.joblib")
LAYER_CAUSES = ("activation", "initialization", "architecture")  # causes the layer model localizes
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
    return predict_with(load()["models"], trace)


def predict_with(models: dict, trace) -> dict:
    """The diagnoser's answer for one trace with already loaded ``models``.

    Returns ``{"root_cause", "layer", "confidence", "probabilities"}``; the
    layer is a layer name for layer causes, else the component.

    Example:
        >>> predict_with(fit_models(data), trace)["root_cause"]
        'learning_rate'
    """
    _, x = run_features(trace)
    clf = models["cause"]
    proba = clf.predict_proba(x.reshape(1, -1))[0]
    order = np.argsort(-proba, kind="stable")
    cause = str(clf.classes_[order[0]])
    layer = COMPONENT_OF.get(cause)
    if cause in LAYER_CAUSES:
        layer = pick_layer(models.get("layer"), trace, cause)
    return {"root_cause": cause, "layer": layer, "confidence": float(proba[order[0]]),
            "probabilities": {str(c): round(float(p), 4) for c, p in zip(clf.classes_, proba)}}


def pick_layer(layer_model, trace, cause: str) -> str | None:
    """The candidate layer the layer model scores highest (the output layer without a model).

    Example:
        >>> pick_layer(models["layer"], trace, "activation")
        'output'
    """
    if not trace.layers:
        return None
    _, X, cand = layer_features(trace, cause)
    if layer_model is None or len(cand) == 0:
        return trace.layers[cand[-1] if cand else -1].name
    scores = layer_model.predict_proba(X)[:, list(layer_model.classes_).index(1)]
    return trace.layers[cand[int(np.argmax(scores))]].name

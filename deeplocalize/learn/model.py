"""Train the two classifiers of the learned diagnoser on a corpus.

- the **cause model**: a random forest over `features.run_features`, trained on
  the effective mutants (real faults), predicting one of the nine root causes;
- the **layer model**: a random forest over `features.layer_features` rows (one
  per candidate layer), trained on runs whose fault sits in a layer
  (activation, initialization, architecture), scoring "this layer is the one".

The file written by `train_and_save` (``diagnoser.joblib`` beside this module)
is what `deeplocalize.learn.predict` loads.

Example:
    >>> data = load_dataset("learn-corpus")
    >>> models = fit_models(data)
    >>> train_and_save("learn-corpus")["n_runs"]
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deeplocalize.learn.features import LAYER_FEATURE_NAMES, RUN_FEATURE_NAMES, layer_features, run_features
from deeplocalize.learn.predict import LAYER_CAUSES, MODEL_PATH, pick_layer, predict_with  # noqa: F401  (re-exported)
from deeplocalize.vocab import COMPONENT_OF

SEED = 0


@dataclass
class Dataset:
    """Features and labels of a corpus's successful runs.

    ``labels`` is the label frame (`corpus.load_labels`), ``X`` the run
    features (one row per label row), ``traces`` the loaded traces (same order).

    Example:
        >>> data = load_dataset("learn-corpus"); data.X.shape[0] == len(data.labels)
        True
    """

    labels: object
    X: np.ndarray
    traces: list

    @property
    def groups(self) -> np.ndarray:
        """Base program of each row: the unit of every split.

        Example:
            >>> sorted(set(data.groups))[:2]
            ['blobs_mlp', 'cancer_mlp']
        """
        return self.labels["program"].to_numpy()

    def subset(self, mask) -> "Dataset":
        """Rows where ``mask`` is true.

        Example:
            >>> buggy = data.subset(data.labels.effective.to_numpy())
        """
        mask = np.asarray(mask, dtype=bool)
        return Dataset(self.labels[mask].reset_index(drop=True), self.X[mask],
                       [t for t, m in zip(self.traces, mask) if m])


def load_dataset(corpus_dir) -> Dataset:
    """Every successful run of ``corpus_dir`` with its features.

    Example:
        >>> load_dataset("learn-corpus").labels.target.value_counts()
    """
    from deeplocalize.learn.corpus import load_labels
    from deeplocalize.trace import Trace

    labels = load_labels(corpus_dir)
    labels = labels[labels["status"] == "ok"].reset_index(drop=True)
    traces, rows = [], []
    for run_id in labels["run_id"]:
        trace = Trace.load(Path(corpus_dir) / "traces" / f"{run_id}.npz")
        traces.append(trace)
        rows.append(run_features(trace)[1])
    X = np.array(rows).reshape(len(rows), len(RUN_FEATURE_NAMES))
    return Dataset(labels, X, traces)


def true_layer(row) -> str | None:
    """The layer (or component) a label row names as at fault.

    Example:
        >>> true_layer({"layer": None, "root_cause": "learning_rate"})
        'optimizer'
    """
    layer = row["layer"]
    if isinstance(layer, str) and layer:
        return layer
    return COMPONENT_OF.get(row["root_cause"])


LEARNERS = ("rf", "et", "hgb")


def _forest(n_estimators=300, learner="rf"):
    """The classifier: random forest (default), extra trees or gradient boosting."""
    from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier

    if learner == "hgb":
        return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                              class_weight="balanced", random_state=SEED)
    cls = {"rf": RandomForestClassifier, "et": ExtraTreesClassifier}[learner]
    return cls(n_estimators=n_estimators, class_weight="balanced", min_samples_leaf=1,
               max_features="sqrt", random_state=SEED, n_jobs=1)


def layer_rows(data: Dataset, causes=None):
    """Per-layer training rows of the runs whose fault is in a layer.

    Returns ``(X, y, run_index)``; ``causes`` (one per run) replaces the true
    cause in the features (used with predicted causes at test time).

    Example:
        >>> X, y, run = layer_rows(data)
    """
    Xs, ys, runs = [], [], []
    for k, (trace, (_, row)) in enumerate(zip(data.traces, data.labels.iterrows())):
        cause = row["root_cause"] if causes is None else causes[k]
        if row["root_cause"] not in LAYER_CAUSES:
            continue
        _, X, cand = layer_features(trace, cause)
        names = [trace.layers[i].name for i in cand]
        if row["layer"] not in names:
            continue
        Xs.append(X)
        ys.append(np.array([n == row["layer"] for n in names], dtype=int))
        runs.append(np.full(len(names), k))
    if not Xs:
        return np.zeros((0, len(LAYER_FEATURE_NAMES))), np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    return np.vstack(Xs), np.concatenate(ys), np.concatenate(runs)


def fit_models(data: Dataset, learner: str = "rf") -> dict:
    """Fit the cause and layer models on the effective mutants of ``data``.

    Example:
        >>> models = fit_models(load_dataset("learn-corpus"))
        >>> sorted(models)
        ['cause', 'layer']
    """
    buggy = data.subset(data.labels["effective"].to_numpy())
    cause = _forest(learner=learner).fit(buggy.X, buggy.labels["root_cause"].to_numpy())
    Xl, yl, _ = layer_rows(buggy)
    layer = _forest(n_estimators=200, learner=learner).fit(Xl, yl) if len(set(yl)) == 2 else None
    return {"cause": cause, "layer": layer}


def train_and_save(corpus_dir, out_path=None) -> dict:
    """Train on the whole corpus and write the model file (joblib, compressed).

    Example:
        >>> train_and_save("learn-corpus")["path"]
        '.../deeplocalize/learn/diagnoser.joblib'
    """
    import joblib
    import sklearn

    t0 = time.time()
    data = load_dataset(corpus_dir)
    models = fit_models(data)
    eff = data.labels["effective"]
    info = {
        "n_runs": int(len(data.labels)),
        "n_effective": int(eff.sum()),
        "n_programs": int(data.labels["program"].nunique()),
        "classes": [str(c) for c in models["cause"].classes_],
        "class_counts": {str(k): int(v) for k, v in data.labels[eff]["root_cause"].value_counts().items()},
        "sklearn": sklearn.__version__,
        "run_features": len(RUN_FEATURE_NAMES),
        "layer_features": len(LAYER_FEATURE_NAMES),
        "trained": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    path = Path(out_path) if out_path else MODEL_PATH
    joblib.dump({"models": models, "run_feature_names": RUN_FEATURE_NAMES,
                 "layer_feature_names": LAYER_FEATURE_NAMES, "info": info}, path, compress=3)
    info["path"] = str(path)
    info["size_kb"] = round(path.stat().st_size / 1024, 1)
    info["seconds"] = round(time.time() - t0, 1)
    import json

    path.with_suffix(".json").write_text(json.dumps(info, indent=1))
    return info

"""One call per method: localize suspicious neurons/paths, then synthesize inputs from seeds.

Methods: ``deepfault`` (global top-k by a measure, one-step gradient ascent),
``npsbfl-ga`` / ``npsbfl-mga`` (LRP pathway, top-k per layer; 3-step GA or multi-stage
Adam), ``deepsensor`` (top-k Shapley-excitable neurons, excitation search).

>>> res = run(model, x, y, method="deepfault", measure="ochiai", k=10, n_seeds=20)  # doctest: +SKIP
>>> res.fault_detection_rate, res.neurons.head()                                  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import deepsensor as ds
from ._chain import batched_values, check_chain, labels_of
from .measures import MEASURES, rank, top_k
from .paths import pathway
from .spectra import hit_spectra, neuron_table
from .synthesis import gradient_ascent, mga, random_selection

METHODS = ("deepfault", "npsbfl-ga", "npsbfl-mga", "deepsensor")
DEFAULT_MEASURE = {"deepfault": "ochiai", "npsbfl-ga": "ochiai", "npsbfl-mga": "tarantula",
                   "deepsensor": "shapley"}
DEFAULT_K = {"deepfault": 10, "npsbfl-ga": 5, "npsbfl-mga": 5, "deepsensor": 10}


@dataclass
class Result:
    """What :func:`run` returns: the selected ``neurons`` (layer, site, neuron, score, ...),
    the ``seeds`` (correctly classified inputs), their ``labels``, the ``synthesized`` inputs
    and the model's ``predicted`` class for each synthesized input.

    >>> Result("deepfault", "ochiai", pd.DataFrame(), np.zeros((2, 1)), np.array([0, 1]),
    ...        np.zeros((2, 1)), np.array([0, 0])).fault_detection_rate
    0.5
    """

    method: str
    measure: str
    neurons: pd.DataFrame
    seeds: np.ndarray
    labels: np.ndarray
    synthesized: np.ndarray
    predicted: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def fault_detection_rate(self) -> float:
        """Share of synthesized inputs that the model misclassifies."""
        return float(np.mean(self.predicted != self.labels)) if len(self.labels) else float("nan")

    @property
    def distances(self) -> pd.DataFrame:
        """Per input L-infinity and L2 distance between synthesized input and seed."""
        d = (self.synthesized - self.seeds).reshape(len(self.seeds), -1)
        return pd.DataFrame({"linf": np.abs(d).max(1) if d.size else [], "l2": np.sqrt((d ** 2).sum(1))})


def _check(method, measure):
    if method not in METHODS:
        raise ValueError(f"Unknown method '{method}'; choose one of {', '.join(METHODS)}.")
    measure = (measure or DEFAULT_MEASURE[method]).lower()
    if method == "deepsensor" and measure != "shapley":
        raise ValueError("deepsensor ranks neurons by Shapley value; use --measure shapley (or omit it).")
    if method != "deepsensor" and measure not in MEASURES:
        raise ValueError(f"Unknown measure '{measure}'; choose one of {', '.join(MEASURES)}.")
    return measure


def localize(model, x, y, *, method: str = "deepfault", measure: str | None = None,
             k: int | None = None, star: float = 3, per_layer: bool = False, alpha: float = 0.9,
             beta: float = 0.6, n_permutations: int = 8, delta: float = 0.1,
             max_shapley_inputs: int = 64, seed: int = 0) -> pd.DataFrame:
    """Suspicious neurons (DeepFault, DeepSensor) or the faulty pathway (NP-SBFL).

    >>> localize(model, x, y, method="npsbfl-mga", k=3)   # doctest: +SKIP
    """
    measure = _check(method, measure)
    k = DEFAULT_K[method] if k is None else k
    if method == "deepfault":
        return top_k(rank(hit_spectra(model, x, y), measure, star), k, per_layer=per_layer)
    if method.startswith("npsbfl"):
        return pathway(model, x, y, measure=measure, k=k, star=star, alpha=alpha, beta=beta)
    idx = np.random.default_rng(seed).permutation(len(x))[:max_shapley_inputs]
    table = ds.shapley_values(model, np.asarray(x)[idx], labels_of(y)[idx], delta=delta,
                              n_permutations=n_permutations, seed=seed)
    return ds.excitable_neurons(table, k)


def correct_seeds(model, x, y, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` randomly chosen correctly classified inputs (without replacement).

    >>> idx = correct_seeds(model, x, y, 20)   # doctest: +SKIP
    """
    _, probs = batched_values(model, x)
    ok = np.flatnonzero(probs.argmax(1) == labels_of(y))
    if len(ok) == 0:
        raise ValueError("No input is classified correctly, so there are no seeds to synthesize from.")
    return np.random.default_rng(seed).choice(ok, size=min(n, len(ok)), replace=False)


def synthesize(model, seeds, selection: pd.DataFrame, method: str, *, distance: float | None = 0.1,
               step_size: float = 1.0, lr: float = 0.01, iterations: int | None = None,
               bounds=(0.0, 1.0), ball: bool = True):
    """Synthesize inputs from ``seeds`` for a selection with the method's search.

    ``ball=False`` with the gradient-ascent methods is the references' rule: each step is
    clipped to +-d but the sum of steps is not projected back (NP-SBFL-GA reaches 3 * d).

    >>> x_new = synthesize(model, seeds, top, "deepfault", distance=0.1)   # doctest: +SKIP
    """
    if method == "deepfault":
        return gradient_ascent(model, seeds, selection, step_size=step_size, distance=distance,
                               iterations=iterations or 1, bounds=bounds, ball=ball)
    if method == "npsbfl-ga":
        return gradient_ascent(model, seeds, selection, step_size=step_size, distance=distance,
                               iterations=iterations or 3, bounds=bounds, ball=ball)
    if method == "npsbfl-mga":
        return mga(model, seeds, selection, lr=lr, iterations=iterations or 10, distance=distance,
                   bounds=bounds)
    if "scale" not in selection:
        raise ValueError("deepsensor synthesis needs the 'scale' column from shapley_values.")
    return ds.generate(model, seeds, selection, distance=distance if distance is not None else 1.0,
                       steps=iterations or 10, bounds=bounds)[0]


def run(model, x, y, *, method: str = "deepfault", measure: str | None = None, k: int | None = None,
        n_seeds: int = 20, distance: float | None = 0.1, step_size: float = 1.0, lr: float = 0.01,
        iterations: int | None = None, bounds=(0.0, 1.0), random_control: bool = False,
        seed: int = 0, **localize_kwargs) -> Result:
    """Localize, pick correctly classified seeds, synthesize, and predict on the results.

    ``random_control=True`` replaces the selection with random neurons (same count per layer).

    >>> res = run(model, x, y, method="npsbfl-mga", n_seeds=10)   # doctest: +SKIP
    """
    x = np.asarray(x, np.float32)
    check_chain(model, x[:4])
    measure = _check(method, measure)
    neurons = localize(model, x, y, method=method, measure=measure, k=k, seed=seed, **localize_kwargs)
    if random_control:
        random = random_selection(neuron_table(model), neurons, seed)
        if method == "deepsensor":
            random = random.assign(scale=ds.pre_scale(model, x[:256])[random.index.to_numpy()])
        neurons = random.assign(score=np.nan, measure="random")
    idx = correct_seeds(model, x, y, n_seeds, seed)
    seeds, labels = x[idx], labels_of(y)[idx]
    new = synthesize(model, seeds, neurons, method, distance=distance, step_size=step_size, lr=lr,
                     iterations=iterations, bounds=bounds)
    _, probs = batched_values(model, new)
    return Result(method, "random" if random_control else measure, neurons.reset_index(drop=True),
                  seeds, labels, new, probs.argmax(1), {"seed_index": idx})

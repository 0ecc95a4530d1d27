"""NP-SBFL: critical neurons from LRP, the faulty pathway, and path spectra.

1. Critical neurons of an input (its critical decision path, CDP): per layer, the
   fewest positive-relevance neurons whose relevance adds up to ``alpha`` of the layer's
   positive relevance (at least the top one).
2. Faulty-path candidates: neurons on the CDP of at least ``beta`` of the failing inputs
   (the most frequent one per layer if none reaches beta).
3. Path spectra: hit spectra of the candidates, scored by any measure; the pathway is
   the top-k candidates of every layer.

>>> path = pathway(model, x, y, measure="tarantula", k=5)   # doctest: +SKIP
>>> path[["layer", "neuron", "score"]].head()              # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._chain import labels_of
from .lrp import lrp
from .measures import rank, top_k
from .spectra import activity, count, neuron_table


def critical_mask(relevance: np.ndarray, alpha: float = 0.9) -> np.ndarray:
    """Boolean (M, n) mask of each row's critical neurons (see module doc).

    >>> critical_mask(np.array([[0.5, 0.3, 0.1, -1.0]]), 0.7).tolist()
    [[True, True, False, False]]
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}.")
    pos = np.maximum(np.asarray(relevance, float), 0.0)
    order = np.argsort(-pos, axis=1, kind="stable")
    srt = np.take_along_axis(pos, order, axis=1)
    before = np.cumsum(srt, axis=1) - srt
    keep = (before < alpha * srt.sum(1, keepdims=True) - 1e-12) & (srt > 0)
    mask = np.zeros_like(keep)
    np.put_along_axis(mask, order, keep, axis=1)
    return mask


def candidates(cdp: np.ndarray, failed: np.ndarray, sites: np.ndarray, beta: float = 0.6):
    """Candidate mask over all neurons and each neuron's CDP frequency among failures.

    >>> cand, freq = candidates(np.array([[1, 0, 1], [1, 0, 0]], bool), np.array([True, True]),
    ...                         np.array([0, 0, 1]), beta=0.6)
    >>> cand.tolist(), freq.tolist()
    ([True, False, True], [1.0, 0.0, 0.5])
    """
    failed = np.asarray(failed, bool)
    if not failed.any():
        raise ValueError("No failing inputs: NP-SBFL needs at least one misclassified input. "
                         "Use more (or harder) data.")
    freq = cdp[failed].mean(0)
    cand = freq >= beta
    for s in np.unique(sites):
        idx = np.flatnonzero(sites == s)
        if not cand[idx].any():
            cand[idx[np.argmax(freq[idx])]] = True
    return cand, freq


def path_spectra(model, x, y, *, alpha: float = 0.9, beta: float = 0.6, rule: str = "zplus",
                 eps: float = 1e-5, threshold: float | None = None,
                 batch_size: int = 256) -> pd.DataFrame:
    """Spectrum table of every neuron plus ``freq`` and ``candidate`` columns.

    >>> spec = path_spectra(model, x, y)           # doctest: +SKIP
    >>> spec[spec.candidate].shape[0] > 0           # doctest: +SKIP
    True
    """
    labels = labels_of(y)
    active, _, probs = activity(model, x, threshold=threshold, batch_size=batch_size)
    failed = probs.argmax(1) != labels
    rel = lrp(model, x, rule=rule, eps=eps, start="softmax", batch_size=batch_size)
    cdp = np.concatenate([critical_mask(r, alpha) for r in rel.neurons], axis=1)
    table = neuron_table(model)
    cand, freq = candidates(cdp, failed, table["site"].to_numpy(), beta)
    return table.assign(**count(active, failed), freq=freq, candidate=cand)


def pathway(model, x, y, *, measure: str = "tarantula", k: int = 5, star: float = 3,
            spectra: pd.DataFrame | None = None, **kwargs) -> pd.DataFrame:
    """The faulty pathway: the top-k scored candidates of every analysed layer.

    Extra keyword arguments go to :func:`path_spectra`.

    >>> pathway(model, x, y, measure="ochiai", k=3).groupby("layer").size().max() <= 3   # doctest: +SKIP
    True
    """
    spec = path_spectra(model, x, y, **kwargs) if spectra is None else spectra
    ranked = rank(spec[spec["candidate"]], measure, star)
    return top_k(ranked, k, per_layer=True).sort_values(["site", "score"], ascending=[True, False])


def coverage(active: np.ndarray, table: pd.DataFrame, selection: pd.DataFrame):
    """Per input: share of the selected neurons that are active, and whether every selected
    layer has at least one active selected neuron (the path is covered).

    >>> t = pd.DataFrame({"site": [0, 0, 1], "neuron": [0, 1, 0]})
    >>> share, covered = coverage(np.array([[1, 0, 1], [1, 1, 0]], bool), t, t.iloc[[0, 2]])
    >>> share.tolist(), covered.tolist()
    ([1.0, 0.5], [True, False])
    """
    key = {(s, n): i for i, (s, n) in enumerate(zip(table["site"], table["neuron"]))}
    idx = np.array([key[(s, n)] for s, n in zip(selection["site"], selection["neuron"])])
    sel = np.asarray(active, bool)[:, idx]
    sites = selection["site"].to_numpy()
    covered = np.all([sel[:, sites == s].any(1) for s in np.unique(sites)], axis=0)
    return sel.mean(1), covered

"""Fault detection rates and the random-neuron control.

Two definitions of NP-SBFL's "fault detection rate" (FDR) exist in its reference code:

* :func:`fdr_misclassified` (i): the share of synthesized inputs the model misclassifies;
* :func:`fdr_path` (ii): among the *failing* synthesized inputs, the share that activate the
  faulty path in every layer (at least one selected neuron of each selected layer active).

The control draws random selections with the same number of neurons per layer
(:func:`random_draws`) and asks whether the suspicious selection's rate is larger than the
random ones': :func:`permutation_p` is the one-sided rank p-value, exact when the
suspicious selection is exchangeable with the random ones (the null hypothesis).

Example:
    >>> fdr_misclassified(np.array([0, 1, 2]), np.array([0, 1, 1]))
    0.3333333333333333
    >>> permutation_p(0.5, [0.1, 0.2, 0.6])
    0.5
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def fdr_misclassified(predicted, labels) -> float:
    """Definition (i): share of synthesized inputs whose prediction differs from the seed label.

    Example:
        >>> fdr_misclassified([1, 1], [1, 0])
        0.5
    """
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    if predicted.shape != labels.shape:
        raise ValueError(f"predicted has shape {predicted.shape} but labels has {labels.shape}.")
    return float(np.mean(predicted != labels)) if len(labels) else float("nan")


def path_covered(active, masks) -> np.ndarray:
    """Per input: does every site with marked neurons have at least one marked neuron active?

    ``active`` is a list of boolean (B, units) arrays per site (or one concatenated matrix),
    ``masks`` the per-input masks of :mod:`.ascent`. Sites with no marked neuron on a row are
    not part of that row's path.

    Example:
        >>> act = [np.array([[1, 0], [0, 1]], bool), np.array([[0], [1]], bool)]
        >>> path_covered(act, [np.array([[1, 0], [1, 0]]), np.array([[1], [1]])]).tolist()
        [False, False]
    """
    if not isinstance(active, (list, tuple)):
        cuts = np.cumsum([m.shape[1] for m in masks])[:-1]
        active = np.split(np.asarray(active, bool), cuts, axis=1)
    ok = np.ones(len(masks[0]), bool)
    for a, m in zip(active, masks):
        m = np.asarray(m) > 0
        on_path = m.any(1)
        ok &= ~on_path | (np.asarray(a, bool) & m).any(1)
    return ok


def fdr_path(active, masks, predicted, labels) -> float:
    """Definition (ii): among misclassified synthesized inputs, the share covering their path.

    NaN when no synthesized input is misclassified.

    Example:
        >>> act = np.array([[1, 1], [0, 1], [1, 1]], bool)
        >>> masks = [np.ones((3, 1)), np.ones((3, 1))]
        >>> fdr_path(act, masks, [1, 1, 0], [0, 0, 0])
        0.5
    """
    failed = np.asarray(predicted) != np.asarray(labels)
    if not failed.any():
        return float("nan")
    return float(path_covered(active, masks)[failed].mean())


def random_draws(table: pd.DataFrame, like: pd.DataFrame, n: int, rng=None,
                 exclude: bool = True) -> list[pd.DataFrame]:
    """``n`` random selections with ``like``'s number of neurons per site.

    ``exclude`` keeps ``like``'s own neurons out (DeepFault's control), unless a site has
    too few other neurons, where the draw takes from all of that site's neurons.

    Example:
        >>> t = pd.DataFrame({"site": [0] * 5, "neuron": range(5)})
        >>> [sorted(d.neuron) for d in random_draws(t, t.iloc[:2], 2, 0)]
        [[3, 4], [2, 4]]
    """
    rng = np.random.default_rng(rng)
    taken = set(zip(like["site"], like["neuron"]))
    free = np.array([(s, j) not in taken for s, j in zip(table["site"], table["neuron"])], bool)
    counts = like.groupby("site").size()
    pools = {}
    for s, k in counts.items():
        pool = table[(table["site"].to_numpy() == s) & (free if exclude else True)]
        pools[s] = pool if len(pool) >= k else table[table["site"] == s]
    out = []
    for _ in range(n):
        parts = [p.iloc[rng.choice(len(p), size=min(int(counts[s]), len(p)), replace=False)]
                 for s, p in pools.items()]
        out.append(pd.concat(parts)[["site", "neuron"]].sort_values(["site", "neuron"]))
    return out


def permutation_p(observed: float, draws) -> float:
    """One-sided p-value that ``observed`` exceeds the ``draws``: (1 + #draws >= observed) / (1 + n).

    Ties count against the observed value; NaN draws are dropped.

    Example:
        >>> permutation_p(0.9, [0.1] * 19)
        0.05
    """
    d = np.asarray(draws, float)
    d = d[~np.isnan(d)]
    if np.isnan(observed) or len(d) == 0:
        return float("nan")
    return float((1 + np.sum(d >= observed)) / (1 + len(d)))


def spread(draws) -> dict:
    """Mean, standard deviation and 5th/95th percentiles of the random draws (NaNs dropped).

    Example:
        >>> round(spread([0.0, 0.1, 0.2])["mean"], 6)
        0.1
    """
    d = np.asarray(draws, float)
    d = d[~np.isnan(d)]
    if len(d) == 0:
        return {"mean": float("nan"), "sd": float("nan"), "p5": float("nan"), "p95": float("nan")}
    return {"mean": float(d.mean()), "sd": float(d.std(ddof=1)) if len(d) > 1 else 0.0,
            "p5": float(np.percentile(d, 5)), "p95": float(np.percentile(d, 95))}

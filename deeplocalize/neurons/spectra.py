"""Hit spectra: for each hidden neuron, how often it is active on passing and failing inputs.

A neuron is *active* when its value exceeds the threshold of its activation function
(0 for ReLU-like/linear/tanh, 0.5 for sigmoid; override with ``threshold``). A Conv2D
channel's value is its spatial mean. Passing means argmax(prediction) == label.

>>> spec = hit_spectra(model, x, y)          # doctest: +SKIP
>>> spec.columns.tolist()                    # doctest: +SKIP
['layer', 'site', 'neuron', 'as', 'ns', 'af', 'nf']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._chain import analysed_sites, batched_values, labels_of


def count(active: np.ndarray, failed: np.ndarray) -> dict:
    """Spectrum counts from a boolean (M inputs x N neurons) matrix and a failure vector.

    >>> c = count(np.array([[1, 0], [1, 1]], bool), np.array([True, False]))
    >>> [c[k].tolist() for k in ("af", "nf", "as", "ns")]
    [[1, 0], [0, 1], [1, 1], [0, 0]]
    """
    active = np.asarray(active, np.float32)
    failed = np.asarray(failed, bool).reshape(-1)
    if active.shape[0] != failed.shape[0]:
        raise ValueError(f"active has {active.shape[0]} rows but failed has {failed.shape[0]}.")
    f = failed.astype(np.float32)
    af = (f @ active).astype(np.int64)
    as_ = ((1 - f) @ active).astype(np.int64)
    n_fail = int(failed.sum())
    return {"af": af, "nf": n_fail - af, "as": as_, "ns": len(failed) - n_fail - as_}


def neuron_table(model, sites=None) -> pd.DataFrame:
    """One row per analysed neuron: layer name, site number, neuron (unit/channel) index.

    >>> neuron_table(model).head(2)   # doctest: +SKIP
    """
    sites = analysed_sites(model) if sites is None else sites
    return pd.DataFrame({
        "layer": np.concatenate([[s.name] * s.units for s in sites]),
        "site": np.concatenate([[i] * s.units for i, s in enumerate(sites)]).astype(int),
        "neuron": np.concatenate([np.arange(s.units) for s in sites]).astype(int),
    })


def activity(model, x, *, threshold: float | str | None = None, batch_size: int = 256):
    """Boolean activity matrix (M x all neurons), the values, and the predictions.

    ``threshold="mean"`` counts a neuron active when its value exceeds its own mean over ``x``
    (the rule that beat random selections most often in the evaluation, see the README).

    >>> active, values, probs = activity(model, x)   # doctest: +SKIP
    """
    sites = analysed_sites(model)
    vals, probs = batched_values(model, x, sites, batch_size)
    if isinstance(threshold, str):
        if threshold != "mean":
            raise ValueError(f"threshold must be a number, None or 'mean', got {threshold!r}.")
        values = np.concatenate(vals, axis=1)
        return values > values.mean(0), values, probs
    active = np.concatenate(
        [v > (s.threshold if threshold is None else threshold) for s, v in zip(sites, vals)], axis=1)
    return active, np.concatenate(vals, axis=1), probs


def hit_spectra(model, x, y, *, threshold: float | str | None = None, per_class: bool = False,
                batch_size: int = 256) -> pd.DataFrame:
    """Spectrum table over a labelled data set (overall, or one block per true class).

    Columns: layer, site, neuron, as, ns, af, nf (and ``class`` when ``per_class``).

    >>> hit_spectra(model, x, y).query("af > 0").head()   # doctest: +SKIP
    """
    labels = labels_of(y)
    if len(labels) != len(x):
        raise ValueError(f"x has {len(x)} inputs but y has {len(labels)} labels.")
    active, _, probs = activity(model, x, threshold=threshold, batch_size=batch_size)
    failed = probs.argmax(1) != labels
    table = neuron_table(model)
    if not per_class:
        return table.assign(**count(active, failed))
    blocks = []
    for c in np.unique(labels):
        m = labels == c
        blocks.append(table.assign(**{"class": int(c)}, **count(active[m], failed[m])))
    return pd.concat(blocks, ignore_index=True)

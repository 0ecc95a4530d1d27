"""Spectrum-based suspiciousness measures and top-k selection.

Counts follow DeepFault's names: ``af``/``nf`` = active/not active on failing inputs,
``as_``/``ns`` = active/not active on passing inputs. Zero denominators are defined,
never NaN: Tarantula, Ochiai and Barinel give 0 (no evidence); DStar gives ``inf``
when ``as_ + nf == 0`` and ``af > 0`` (active on every failure and on no pass), else 0.

>>> round(float(ochiai(2, 0, 1, 3)), 6)
0.816497
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MEASURES = ("tarantula", "ochiai", "dstar", "barinel")


def _div(num, den):
    num, den = np.asarray(num, float), np.asarray(den, float)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den != 0)
    return out


def tarantula(af, nf, as_, ns):
    """Tarantula: fail ratio / (fail ratio + pass ratio).

    >>> float(tarantula(2, 0, 1, 3))
    0.8
    """
    fr, pr = _div(af, np.add(af, nf)), _div(as_, np.add(as_, ns))
    return _div(fr, fr + pr)


def ochiai(af, nf, as_, ns):
    """Ochiai: af / sqrt((af + nf) * (af + as)).

    >>> float(ochiai(0, 0, 0, 5))
    0.0
    """
    return _div(af, np.sqrt(np.multiply(np.add(af, nf), np.add(af, as_), dtype=float)))


def dstar(af, nf, as_, ns, star: float = 3):
    """DStar: af**star / (as + nf); ``inf`` if the denominator is 0 and af > 0.

    >>> float(dstar(2, 1, 1, 0)), float(dstar(2, 0, 0, 3))
    (4.0, inf)
    """
    num = np.power(np.asarray(af, float), star)
    den = np.add(as_, nf).astype(float)
    out = _div(num, den)
    return np.where((den == 0) & (num > 0), np.inf, out)


def barinel(af, nf, as_, ns):
    """Barinel: 1 - as / (as + af); 0 for a neuron never active.

    >>> float(barinel(3, 0, 1, 2))
    0.75
    """
    return np.where(np.add(as_, af) == 0, 0.0, 1.0 - _div(as_, np.add(as_, af)))


def score(spectrum: pd.DataFrame, measure: str, star: float = 3) -> np.ndarray:
    """Scores of every row of a spectrum table (columns af, nf, as, ns).

    >>> score(pd.DataFrame({"af": [1], "nf": [0], "as": [0], "ns": [1]}), "tarantula").tolist()
    [1.0]
    """
    measure = measure.lower()
    if measure not in MEASURES:
        raise ValueError(f"Unknown measure '{measure}'; choose one of {', '.join(MEASURES)}.")
    args = (spectrum["af"].to_numpy(), spectrum["nf"].to_numpy(),
            spectrum["as"].to_numpy(), spectrum["ns"].to_numpy())
    if measure == "dstar":
        return dstar(*args, star=star)
    return {"tarantula": tarantula, "ochiai": ochiai, "barinel": barinel}[measure](*args)


def rank(spectrum: pd.DataFrame, measure: str, star: float = 3) -> pd.DataFrame:
    """The spectrum with a ``score`` column, most suspicious first (stable on ties).

    >>> rank(pd.DataFrame({"af": [0, 2], "nf": [2, 0], "as": [1, 1], "ns": [1, 1]}), "ochiai").index.tolist()
    [1, 0]
    """
    out = spectrum.copy()
    out["score"] = score(spectrum, measure, star)
    out["measure"] = measure.lower()
    return out.sort_values("score", ascending=False, kind="stable")


def top_k(ranked: pd.DataFrame, k: int, per_layer: bool = False) -> pd.DataFrame:
    """The k highest-scored rows, globally or per ``layer`` (input: :func:`rank` output).

    >>> df = pd.DataFrame({"layer": ["a", "a", "b"], "score": [3.0, 2.0, 1.0]})
    >>> top_k(df, 1, per_layer=True)["layer"].tolist()
    ['a', 'b']
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    ranked = ranked.sort_values("score", ascending=False, kind="stable")
    if per_layer:
        return ranked.groupby("layer", sort=False, group_keys=False).head(k)
    return ranked.head(k)

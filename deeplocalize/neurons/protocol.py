"""One model's evaluation: localize, synthesize in the reference and the bounded setting, and
compare every selection with random selections of the same shape.

Settings (``SETTINGS``), as in the references' code:

* ``reference``: DeepFault one step (step 1, clip +-0.1); NP-SBFL-GA three such steps with no
  ball (the total change can reach 0.3); NP-SBFL-MGA Adam lr 0.01, 10 outer iterations, a fresh
  Adam state each, no distance bound;
* ``bounded``: the same updates, every input projected onto the L-inf ball of radius 0.1
  around its seed after each step.

Localization (``Localization``): ``scope`` ``class`` (DeepFault's reference: spectra from the
inputs of the seed's class) or ``pooled`` (NP-SBFL's: all inputs); ``rule`` ``zero`` (active =
value > 0, both references) or ``mean`` (active = value above the neuron's mean over the data).

Example:
    >>> rows = evaluate_model(model, x, y, "lenet1", draws=19)   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import ascent
from .control import fdr_misclassified, fdr_path, permutation_p, random_draws, spread
from .measures import rank, top_k
from .paths import candidates, critical_mask
from .lrp import lrp
from .spectra import activity, count, neuron_table

MEASURES = {"deepfault": ("tarantula", "ochiai", "dstar"),
            "npsbfl-ga": ("tarantula", "ochiai", "barinel"),
            "npsbfl-mga": ("tarantula", "ochiai", "barinel")}
SETTINGS = {
    "reference": {"deepfault": dict(iterations=1, ball=False), "npsbfl-ga": dict(iterations=3, ball=False),
                  "npsbfl-mga": dict(distance=None)},
    "bounded": {"deepfault": dict(iterations=1, ball=True), "npsbfl-ga": dict(iterations=3, ball=True),
                "npsbfl-mga": dict(distance=0.1)},
}
DISTANCE, STEP, LR, MGA_ITERATIONS = 0.1, 1.0, 0.01, 10


@dataclass(frozen=True)
class Localization:
    """How spectra are built: ``scope`` (class | pooled) and activity ``rule`` (zero | mean).

    Example:
        >>> Localization("class", "zero").label
        'class/zero'
    """

    scope: str
    rule: str

    @property
    def label(self) -> str:
        """Short name, e.g. ``pooled/mean``."""
        return f"{self.scope}/{self.rule}"


REFERENCE_LOCALIZATION = {"deepfault": Localization("class", "zero"),
                          "npsbfl-ga": Localization("pooled", "zero"),
                          "npsbfl-mga": Localization("pooled", "zero")}


def choose_seeds(correct, y, n: int, per_class: bool, rng) -> np.ndarray:
    """Seed indices: ``n // 10`` per class drawn with replacement (DeepFault), or ``n`` without.

    Example:
        >>> choose_seeds(np.ones(20, bool), np.arange(20) % 2, 4, True, 0).shape
        (4,)
    """
    rng = np.random.default_rng(rng)
    ok = np.flatnonzero(correct)
    if not per_class:
        return rng.choice(ok, size=min(n, len(ok)), replace=False)
    classes = np.unique(y)
    per = max(1, n // len(classes))
    return np.concatenate([rng.choice(ok[y[ok] == c], size=per, replace=True)
                           for c in classes if (y[ok] == c).any()])


class Analysis:
    """Activity, failures, LRP candidates and seeds of one model, shared by every row.

    Example:
        >>> a = Analysis(model, x, y, n_seeds=100)   # doctest: +SKIP
    """

    def __init__(self, model, x, y, *, n_seeds: int = 100, alpha: float = 0.9, beta: float = 0.6,
                 seed: int = 0):
        self.model, self.x, self.y = model, x, np.asarray(y)
        self.table = neuron_table(model)
        self.units = ascent.units_of(model)
        active, values, probs = activity(model, x)
        self.failed = probs.argmax(1) != self.y
        self.active = {"zero": active, "mean": values > values.mean(0)}
        # candidates depend on the failing inputs' critical paths only, so LRP runs on those
        rel = lrp(model, x[self.failed], rule="zplus", eps=1e-5, start="softmax")
        cdp = np.concatenate([critical_mask(r, alpha) for r in rel.neurons], axis=1)
        self.candidate, _ = candidates(cdp, np.ones(len(cdp), bool), self.table["site"].to_numpy(), beta)
        self.seeds = {True: choose_seeds(~self.failed, self.y, n_seeds, True, seed),
                      False: choose_seeds(~self.failed, self.y, n_seeds, False, seed)}

    def selection(self, method: str, measure: str, loc: Localization, rows, k: int) -> pd.DataFrame:
        """The suspicious neurons of ``method`` from the spectra of the inputs in ``rows``."""
        spec = self.table.assign(**count(self.active[loc.rule][rows], self.failed[rows]))
        if method == "deepfault":
            return top_k(rank(spec, measure), k)
        return top_k(rank(spec[self.candidate], measure), k, per_layer=True)


def _masks_for(analysis, seeds, method, measure, loc, k, draws, rng):
    """Per-seed masks of the suspicious selection and of each random draw."""
    y = analysis.y
    groups = np.unique(y[seeds]) if loc.scope == "class" else [None]
    sus = [None] * len(seeds)
    rnd = [[None] * len(seeds) for _ in range(draws)]
    for g in groups:
        rows = (y == g) if g is not None else np.ones(len(y), bool)
        members = np.flatnonzero(y[seeds] == g) if g is not None else np.arange(len(seeds))
        sel = analysis.selection(method, measure, loc, rows, k)
        m = ascent.selection_masks(sel, analysis.units, 1)
        ctrl = [ascent.selection_masks(d, analysis.units, 1)
                for d in random_draws(analysis.table, sel, draws, rng)]
        for i in members:
            sus[i] = m
            for r in range(draws):
                rnd[r][i] = ctrl[r]
    return ascent.stack_masks(sus), [ascent.stack_masks(r) for r in rnd]


def synthesize(model, seeds, masks, method, setting, distance: float = DISTANCE):
    """Synthesize with ``method``'s update rule under ``setting`` (reference | bounded).

    ``distance`` is the per-step clip (reference) or the ball's radius (bounded).

    Example:
        >>> x_new = synthesize(model, seeds, masks, "npsbfl-ga", "reference")   # doctest: +SKIP
    """
    opts = dict(SETTINGS[setting][method])
    if method == "npsbfl-mga":
        if opts["distance"] is not None:
            opts["distance"] = distance
        return ascent.mga(model, seeds, masks, lr=LR, iterations=MGA_ITERATIONS, **opts)
    return ascent.ga(model, seeds, masks, step_size=STEP, distance=distance, **opts)


def evaluate_row(analysis, method, measure, setting, loc, *, k_global=5, k_layer=5, draws=19,
                 distance: float = DISTANCE, seed=0) -> dict:
    """FDR (i) and (ii) of the suspicious selection and of ``draws`` random ones, with p-values.

    Example:
        >>> loc = Localization("pooled", "zero")
        >>> evaluate_row(analysis, "npsbfl-mga", "tarantula", "bounded", loc)   # doctest: +SKIP
    """
    rng = np.random.default_rng([seed, len(method), len(measure), len(setting)])
    idx = analysis.seeds[method == "deepfault"]
    seeds, labels = analysis.x[idx], analysis.y[idx]
    k = k_global if method == "deepfault" else k_layer
    sus, rnd = _masks_for(analysis, idx, method, measure, loc, k, draws, rng)
    all_masks = ascent.stack_masks([sus] + rnd)
    tiled = np.concatenate([seeds] * (draws + 1))
    new = synthesize(analysis.model, tiled, all_masks, method, setting, distance)
    active, _, probs = activity(analysis.model, new)
    pred = probs.argmax(1)
    n = len(seeds)
    fi, fii, linf = [], [], []
    for r in range(draws + 1):
        part = slice(r * n, (r + 1) * n)
        masks = [m[part] for m in all_masks]
        fi.append(fdr_misclassified(pred[part], labels))
        fii.append(fdr_path(active[part], masks, pred[part], labels))
        linf.append(float(np.abs(new[part] - seeds).reshape(n, -1).max(1).mean()))
    row = {"method": method, "measure": measure, "setting": setting, "d": distance, "localization": loc.label,
           "neurons": int(sum(m[0].sum() for m in sus)), "seeds": n,
           "L-inf": linf[0], "draws": draws}
    for name, vals in (("FDR(i)", fi), ("FDR(ii)", fii)):
        s = spread(vals[1:])
        row.update({name: vals[0], f"{name} random": s["mean"], f"{name} random sd": s["sd"],
                    f"{name} random p5": s["p5"], f"{name} random p95": s["p95"],
                    f"{name} p": permutation_p(vals[0], vals[1:])})
    return row

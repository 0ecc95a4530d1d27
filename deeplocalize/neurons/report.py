"""Markdown tables of the neuron-level evaluation (``evaluate.py``).

Example:
    >>> print(markdown(rows, facts, run))   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: fault detection rates in the NP-SBFL abstract (arXiv 2310.18987 v3/v4), MNIST and CIFAR-10
PUBLISHED = {("npsbfl-mga", "tarantula"): 0.9675, ("deepfault", "ochiai"): 0.8990,
             ("npsbfl-ga", "ochiai"): 0.6061}
ALPHA = 0.05


def _pct(v) -> str:
    return "n/a" if v is None or pd.isna(v) else f"{100 * v:.1f}%"


def _range(s: pd.Series) -> str:
    s = s.dropna()
    if s.empty:
        return "n/a"
    return f"{_pct(s.mean())} ({_pct(s.min())}-{_pct(s.max())})"


def _random(df: pd.DataFrame, fdr: str) -> str:
    m, sd = df[f"{fdr} random"].mean(), df[f"{fdr} random sd"].mean()
    return "n/a" if pd.isna(m) else f"{_pct(m)} ± {100 * sd:.1f}"


def wins(df: pd.DataFrame, fdr: str = "FDR(i)") -> str:
    """'significant / higher / rows': rows with p <= 0.05 and rows above the random mean.

    Example:
        >>> wins(pd.DataFrame({"FDR(i)": [0.5, 0.1], "FDR(i) random": [0.2, 0.2], "FDR(i) p": [0.05, 1]}))
        '1 / 1 / 2'
    """
    sig = int((df[f"{fdr} p"] <= ALPHA + 1e-9).sum())
    up = int((df[fdr] > df[f"{fdr} random"]).sum())
    return f"{sig} / {up} / {len(df)}"


def reproduction_table(rows: pd.DataFrame) -> list[str]:
    """Per method x measure x definition: published, reference setting, bounded (mean over models).

    Example:
        >>> reproduction_table(rows)[0]   # doctest: +SKIP
    """
    out = ["| method | measure | FDR | published | reference setting here | random, reference | "
           "bounded here | random, bounded | wins ref / bounded |", "|" + "---|" * 9]
    for (method, measure), g in rows.groupby(["method", "measure"], sort=False):
        ref, bnd = g[g.setting == "reference"], g[g.setting == "bounded"]
        for fdr in ("FDR(i)", "FDR(ii)"):
            pub = _pct(PUBLISHED.get((method, measure))) + " (definition not stated)" \
                if (method, measure) in PUBLISHED else "-"
            out.append(f"| {method} | {measure} | {fdr[3:]} | {pub} | {_range(ref[fdr])} | "
                       f"{_random(ref, fdr)} | {_range(bnd[fdr])} | {_random(bnd, fdr)} | "
                       f"{wins(ref, fdr)} ; {wins(bnd, fdr)} |")
    return out


def localization_table(rows: pd.DataFrame) -> list[str]:
    """Per localization variant and method: mean FDR (i) against random, and the win counts.

    Example:
        >>> localization_table(rows)[0]   # doctest: +SKIP
    """
    out = ["| localization | method | FDR(i) | random | wins FDR(i) | FDR(ii) | random | wins FDR(ii) |",
           "|" + "---|" * 8]
    def line(loc, method, g, bold=""):
        cells = [f"{bold}{loc}{bold}", method]
        for fdr in ("FDR(i)", "FDR(ii)"):
            cells += [_pct(g[fdr].mean()), _random(g, fdr), f"{bold}{wins(g, fdr)}{bold}"]
        return "| " + " | ".join(cells) + " |"

    out += [line(loc, method, g) for (loc, method), g in rows.groupby(["localization", "method"], sort=False)]
    out += [line(loc, "all", g, "**") for loc, g in rows.groupby("localization", sort=False)]
    return out


def row_table(rows: pd.DataFrame) -> list[str]:
    """Every row: the selection's rates against the random draws (mean ± sd [5-95%], p).

    Example:
        >>> row_table(rows)[0]   # doctest: +SKIP
    """
    out = ["| model | method | measure | setting | localization | neurons | L-inf | FDR(i) | random (i) | p (i) "
           "| FDR(ii) | random (ii) | p (ii) | s |", "|" + "---|" * 14]
    for _, r in rows.iterrows():
        cells = [r.model, r.method, r.measure, r.setting, r.localization, str(r.neurons), f"{r['L-inf']:.3f}"]
        for fdr in ("FDR(i)", "FDR(ii)"):
            rnd = (f"{_pct(r[f'{fdr} random'])} ± {100 * r[f'{fdr} random sd']:.1f} "
                   f"[{_pct(r[f'{fdr} random p5'])}-{_pct(r[f'{fdr} random p95'])}]")
            p = r[f"{fdr} p"]
            cells += [_pct(r[fdr]), rnd, "n/a" if np.isnan(p) else f"{p:.2f}"]
        cells.append(f"{r.seconds:.1f}")
        out.append("| " + " | ".join(cells) + " |")
    return out


def markdown(rows: pd.DataFrame, facts: list, run: dict) -> str:
    """The whole report: run facts, models, the summary table(s), every row.

    Example:
        >>> markdown(rows, facts, {"reproduce": True, ...})   # doctest: +SKIP
    """
    d = run.get("d", 0.1)
    mode = f"reference setting and bounded (d = {d:g})" if run.get("reproduce") else \
        f"bounded (d = {d:g}), four localizations"
    out = [f"## Neuron-level fault localization: {mode}", "",
           f"{run.get('seeds')} seeds per row, k = {run.get('k')}, {run.get('draws')} random draws per row; "
           f"wall time {run.get('wall_s', 0):.0f} s on {run.get('cpus')} CPUs (1-min load "
           f"{run.get('load', (0, 0))[0]:.1f} at start, {run.get('load', (0, 0))[1]:.1f} at end). "
           "Wins = rows with one-sided rank p <= 0.05 / rows above the random mean / rows.", "",
           "| model | accuracy | hidden neurons | train s | LRP + spectra s | model total s |",
           "|---|---|---|---|---|---|"]
    for f in facts:
        out.append(f"| {f['model']} | {f['accuracy']:.3f} | {f['neurons']} | {f['train_s']:.0f} | "
                   f"{f['analysis_s']:.0f} | {f['total_s']:.0f} |")
    out.append("")
    if len(rows):
        out += (reproduction_table(rows) if run.get("reproduce") else localization_table(rows))
        out += ["", "### Every row", ""] + row_table(rows)
    return "\n".join(out) + "\n"

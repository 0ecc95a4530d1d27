"""Published per-case results of the peers, from DeepFD's evaluation (ICSE 2022).

``benchmark/published_deepfd.csv`` is a copy of DeepFD's ``Benchmark/Evaluation.xlsx``
rows whose source is the DeepLocalize benchmark: for UMLAUT, AUTOTRAINER,
DeepLocalize (their re-run) and DeepFD, whether each detected the fault,
diagnosed it (named one of the program's fault types: their ground truth is
multi-label, e.g. ``act, loss, lr``) and localized it (the program line). 34 of
its 35 rows are programs of our benchmark; 50079585 is the one the 40-case
benchmark leaves out. They count no false alarms on fixed programs.

Example:
    >>> pub = load_deepfd()
    >>> pub["gol_nn"]["umlaut"]
    {'detected': True, 'diagnosed': False, 'localized': False}
    >>> deepfd_totals(pub, ["gol_nn", "31556268"])["deepfd"]["detected"]
    {'count': 2, 'of': 2}
"""

from __future__ import annotations

import csv
from pathlib import Path

TOOLS = ("deepfd", "umlaut", "autotrainer", "deeplocalize")
LABELS = {"deepfd": "DeepFD", "umlaut": "UMLAUT", "autotrainer": "AUTOTRAINER", "deeplocalize": "DeepLocalize"}
METRICS = ("detected", "diagnosed", "localized")


def deepfd_path(root: Path | None = None) -> Path:
    from deeplocalize.bench.cases import repo_root

    return (root or repo_root()) / "benchmark" / "published_deepfd.csv"


def _flag(text: str) -> bool | None:
    text = (text or "").strip()
    if not text:
        return None
    return float(text) >= 0.5


def load_deepfd(path: Path | str | None = None) -> dict[str, dict]:
    """``{case id: {tool: {metric: bool}}, ...}`` plus ``"fault_types"`` per case
    (their multi-label ground truth). Missing file: ``{}``."""
    path = Path(path) if path is not None else deepfd_path()
    if not path.exists():
        return {}
    out: dict[str, dict] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            entry = {t: {m: _flag(row.get(f"{t}_{m}", "")) for m in METRICS} for t in TOOLS}
            entry["fault_types"] = row.get("truth_fault_types", "")
            out[str(row["post"]).strip()] = entry
    return out


def deepfd_totals(pub: dict, case_ids) -> dict:
    """Per tool and metric ``{"count", "of"}`` over the ``case_ids`` that DeepFD evaluated."""
    ids = [c for c in case_ids if c in pub]
    out = {"of": len(ids)}
    for t in TOOLS:
        out[t] = {m: {"count": sum(bool(pub[c][t][m]) for c in ids), "of": len(ids)} for m in METRICS}
    return out

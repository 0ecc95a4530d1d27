"""Finding benchmark cases, selecting them, and reading what lies beside them.

A case is a module ``benchmark/cases/<so_|gh_>*.py`` with ``CASE = {"id",
"source", "title"}`` and ``build(variant, seed)`` (see benchmark/README.md).
Discovery reads ``CASE`` with `ast`, without importing the module, so the
harness process never imports Keras or a case's data. The ground truth
(``benchmark/ground_truth/<id>.yaml``) is read here, by the harness only:
the detector never sees it.

Example:
    >>> cases = discover()
    >>> [c.id for c in select(cases, ["so_315*", "gol_nn"])]
    ['gol_nn', '31556268']
"""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import importlib
import importlib.util
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

# The --quick subset: the fast cases that together cover the main symptom families
# (ids; one that has no module yet is simply left out).
QUICK = (
    "31880720",            # softmax on a 1-unit output: activation/loss mismatch, constant loss
    "50306988",            # output activation/loss: accuracy stuck at 0.5
    "34673164",            # unnormalized input features (data preprocessing)
    "gol_nn",              # loss misuse; its fixed run trains cleanly to 100 % (false-alarm check)
    "DDOS-ML-Detection",   # architecture; healthy-looking fixed run
    "48385830",            # NaN loss (MNIST, relu output + CCE)
)

# The healthy programs of the --quick run (ids).
QUICK_HEALTHY = ("healthy_mnist_convnet", "healthy_imdb_lstm", "healthy_housing_regression")

# The paper's totals over its 40 cases (DeepLocalize, ICSE 2021; Keras numbers from a summary of it).
PAPER_TOTALS = {
    "n_cases": 40,
    "deeplocalize": {"detected": 34, "localized": 21},
    "terminate_on_nan": {"detected": 2},
    "es_loss": {"detected": 24},
    "es_accuracy": {"detected": 28},
    "keras_all": {"detected": 32},
}


@dataclass
class CaseInfo:
    """One discovered case module (nothing imported yet)."""

    id: str
    module: str
    path: str
    source: str = ""
    title: str = ""
    kind: str = "case"  # "case": a buggy and a fixed variant; "healthy": one healthy variant

    @property
    def variants(self) -> tuple[str, ...]:
        return ("healthy",) if self.kind == "healthy" else ("buggy", "fixed")

    def to_dict(self) -> dict:
        return asdict(self)


def repo_root() -> Path:
    """The repository: the parent of the ``deeplocalize`` package when it holds
    ``benchmark/``, else the current directory."""
    here = Path(__file__).resolve().parent.parent.parent
    if (here / "benchmark").is_dir():
        return here
    return Path.cwd()


def cases_dir(root: Path | None = None) -> Path:
    return (root or repo_root()) / "benchmark" / "cases"


def healthy_dir(root: Path | None = None) -> Path:
    return (root or repo_root()) / "benchmark" / "healthy"


def ground_truth_dir(root: Path | None = None) -> Path:
    return (root or repo_root()) / "benchmark" / "ground_truth"


def _read_case_dict(path: Path) -> dict | None:
    """``CASE`` of a module read as a literal, or None when it is not one."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return None
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if any(isinstance(t, ast.Name) and t.id == "CASE" for t in targets):
            try:
                case = ast.literal_eval(value)
            except ValueError:
                return None
            return case if isinstance(case, dict) else None
    return None


def discover(directory: Path | str | None = None, healthy: bool = False) -> list[CaseInfo]:
    """Every case module in ``directory`` (default: the repository's), sorted by module name;
    with ``healthy=True`` the healthy programs (``benchmark/healthy/h_*.py``) instead.

    A module whose ``CASE`` cannot be read as a literal is still listed (its id
    falls back to the file name), so that the run records it rather than
    silently skipping it.
    """
    directory = Path(directory) if directory is not None else (healthy_dir() if healthy else cases_dir())
    prefixes = ("h_",) if healthy else ("so_", "gh_")
    found = []
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_") or not path.stem.startswith(prefixes):
            continue
        case = _read_case_dict(path) or {}
        stem = path.stem
        fallback = stem[len(next(p for p in prefixes if stem.startswith(p))):]
        found.append(CaseInfo(id=str(case.get("id", fallback)), module=stem, path=str(path),
                              source=str(case.get("source", "")), title=str(case.get("title", "")),
                              kind="healthy" if healthy else "case"))
    return found


def select(cases: list[CaseInfo], patterns=None, quick: bool = False) -> list[CaseInfo]:
    """Cases whose id or module name matches one of ``patterns`` (ids, module
    names or shell globs; comma-separated strings are split). ``quick`` keeps
    the `QUICK` subset. A pattern that matches nothing raises ``ValueError``."""
    chosen = list(cases)
    if quick:
        quick_ids = set(QUICK) | set(QUICK_HEALTHY)
        chosen = [c for c in chosen if c.id in quick_ids]
    if not patterns:
        return chosen
    if isinstance(patterns, str):
        patterns = [patterns]
    flat = [p.strip() for item in patterns for p in str(item).split(",") if p.strip()]
    keep, unmatched = [], []
    for pattern in flat:
        hits = [c for c in chosen if _matches(c, pattern)]
        if not hits:
            unmatched.append(pattern)
        keep.extend(h for h in hits if h not in keep)
    if unmatched:
        known = ", ".join(c.id for c in chosen) or "none"
        raise ValueError(f"--cases: no case matches {', '.join(unmatched)} (known: {known}).")
    return sorted(keep, key=lambda c: c.module)


def _matches(case: CaseInfo, pattern: str) -> bool:
    low = pattern.lower()
    names = {case.id.lower(), case.module.lower(), case.id.lower().replace("-", "_")}
    return any(fnmatch.fnmatchcase(n, low) for n in names)


def load_module(path: str | Path):
    """Import a case module from its file path.

    When the module sits in a package (``__init__.py`` beside it, as in
    ``benchmark/cases``) it is imported under its dotted name, so relative
    imports such as ``from . import _data`` work; otherwise it is loaded as a
    stand-alone module.
    """
    path = Path(path).resolve()
    parts = [path.stem]
    parent = path.parent
    while (parent / "__init__.py").exists():
        parts.insert(0, parent.name)
        parent = parent.parent
    if len(parts) > 1:
        if str(parent) not in sys.path:
            sys.path.insert(0, str(parent))
        return importlib.import_module(".".join(parts))
    name = "_dlbench_case_" + hashlib.sha1(str(path).encode()).hexdigest()[:10] + "_" + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_ground_truth(case_id: str, directory: Path | str | None = None) -> dict | None:
    """The ground truth of one case, normalised (lists for layers and
    secondary causes), or None when the file does not exist."""
    directory = Path(directory) if directory is not None else ground_truth_dir()
    path = directory / f"{case_id}.yaml"
    if not path.exists():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return normalise_ground_truth(data)


def normalise_ground_truth(data: dict) -> dict:
    def as_list(value):
        if value is None:
            return []
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
        return [str(value)]

    out = dict(data)
    out["faulty_layer"] = as_list(data.get("faulty_layer"))
    out["secondary_causes"] = as_list(data.get("secondary_causes"))
    out["root_cause"] = data.get("root_cause")
    return out


def published_path(root: Path | None = None) -> Path:
    """The research YAML in ``../shared/research`` when it exists, else the committed copy."""
    root = root or repo_root()
    shared = root.parent / "shared" / "research" / "deeplocalize_cases.yaml"
    return shared if shared.exists() else root / "benchmark" / "published.yaml"


def load_published(path: Path | str | None = None) -> dict[str, dict]:
    """Published per-case DeepLocalize results of the 40-case benchmark, by id:
    ``{"detected", "localized", "time_s"}``. Reads either the research YAML
    (a list of cases with ``deeplocalize_result``) or the committed copy
    (``cases: {id: {...}}``). Missing file: ``{}``."""
    path = Path(path) if path is not None else published_path()
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: dict[str, dict] = {}
    if isinstance(data, dict) and "cases" in data:
        for case_id, result in (data["cases"] or {}).items():
            out[str(case_id)] = {k: result.get(k) for k in ("detected", "localized", "time_s")}
        return out
    for entry in data or []:
        if not isinstance(entry, dict) or not entry.get("in_40_case_benchmark", True):
            continue
        result = entry.get("deeplocalize_result") or {}
        out[str(entry["id"])] = {k: result.get(k) for k in ("detected", "localized", "time_s")}
    return out

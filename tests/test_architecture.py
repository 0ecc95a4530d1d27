"""The package's layout rules, checked on the source (no import is run).

Imports flow one way, from the bottom of `LAYERS` up: a module may import a
module of its own layer or of a layer below, never one above, at the top of
the file or inside a function (a lazy import is still a dependency). Only
`deeplocalize/probes/` touches Keras/TensorFlow internals. No module is
over 400 lines. See docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "deeplocalize"

# Bottom first. A module belongs to the layer of the longest entry that is a
# prefix of its dotted name (relative to ``deeplocalize``).
LAYERS = (
    ("vocab", "config"),  # vocabularies and settings: import nothing of the package
    ("trace", "findings", "verify.verdict"),  # plain data: the recorded run, the result types
    ("checks", "relevance", "learn.features", "learn.predict"),  # pure functions of a trace (and the shipped classifier)
    ("monitor",),  # the check pipeline: record, check on schedule, reconcile, halt
    ("diagnosis",),  # the verdict: root cause, faulty layer, fix
    ("report",),  # renders a Diagnosis (never computes one)
    ("probes", "model_facts", "verify"),  # the Keras side: instrumented step, model facts, trials on copies
    ("callback",),  # Keras hooks feeding the monitor
    ("learn", "neurons", "bench", "__main__", "__init__"),  # tools built on the callback, and the public API
)
# The one upward call allowed: Diagnosis.save is a thin facade over the report.
ALLOWED_UPWARD = {("findings", "report"), ("findings", "verify")}  # ...and Diagnosis.verify over verify
INTERNALS = ("keras.src", "tensorflow.python")
INTERNALS_ALLOWED = ("probes",)
MAX_LINES = 400
LINE_LIMIT_EXEMPT = ()  # the benchmark's worker/scheduler split has landed


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def layer_of(module: str) -> int:
    """Index in `LAYERS` of ``module`` (dotted, relative to the package)."""
    best, best_len = None, -1
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best_len:
                best, best_len = i, len(name)
    if best is None:
        raise AssertionError(f"deeplocalize.{module} is in no layer: add it to LAYERS in {__file__}.")
    return best


def _group(module: str) -> str:
    """The `LAYERS` entry ``module`` belongs to."""
    names = [n for layer in LAYERS for n in layer if module == n or module.startswith(n + ".")]
    return max(names, key=len)


def imports_of(path: Path, module: str, known: set[str]) -> list[tuple[str, int]]:
    """Every module ``path`` imports, anywhere in the file: ``(dotted name, line)``;
    package modules relative to ``deeplocalize``, others as written."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    here = module.split(".") if module != "__init__" else []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = "deeplocalize." + ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                inner = sub[len("deeplocalize."):] if sub.startswith("deeplocalize.") else None
                out.append((sub if inner in known else target, node.lineno))
    return out


def _package_imports():
    modules = _modules()
    known = set(modules)
    for module, path in modules.items():
        for name, line in imports_of(path, module, known):
            if name == "deeplocalize" or name.startswith("deeplocalize."):
                yield module, path, name[len("deeplocalize."):] or "__init__", line


def upward_imports() -> list[str]:
    """``file:line: a -> b`` for each import of a layer above the importer."""
    bad = []
    for module, path, target, line in _package_imports():
        if layer_of(target) > layer_of(module) and (_group(module), _group(target)) not in ALLOWED_UPWARD:
            bad.append(f"{path.relative_to(ROOT)}:{line}: {module} (layer {layer_of(module)}) imports "
                       f"{target} (layer {layer_of(target)})")
    return bad


def test_every_module_has_a_layer():
    for module in _modules():
        layer_of(module)


def test_imports_flow_one_way():
    bad = upward_imports()
    assert not bad, "Imports of a higher layer (see LAYERS):\n" + "\n".join(bad)


def test_only_probes_touch_backend_internals():
    modules = _modules()
    bad = []
    for module, path in modules.items():
        if module.split(".")[0] in INTERNALS_ALLOWED:
            continue
        for name, line in imports_of(path, module, set(modules)):
            if any(name == p or name.startswith(p + ".") for p in INTERNALS):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not bad, "Keras/TensorFlow internals outside deeplocalize/probes/:\n" + "\n".join(bad)


def test_no_module_over_400_lines():
    long = []
    for module, path in _modules().items():
        if module.split(".")[0] in LINE_LIMIT_EXEMPT:
            continue
        n = len(path.read_text().splitlines())
        if n > MAX_LINES:
            long.append(f"{path.relative_to(ROOT)}: {n} lines")
    assert not long, f"Modules over {MAX_LINES} lines:\n" + "\n".join(long)


def test_the_check_catches_an_upward_import(tmp_path, monkeypatch):
    """The rule itself works: a lazy import of the callback from a check is caught."""
    fake = tmp_path / "deeplocalize"
    (fake / "checks").mkdir(parents=True)
    (fake / "checks" / "bad.py").write_text("def f():\n    from deeplocalize.callback import DeepLocalizeCallback\n")
    (fake / "callback.py").write_text("import keras.src.trainers\n")
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert any("checks.bad" in line and "callback" in line for line in upward_imports())
    with pytest.raises(AssertionError, match="keras.src"):
        test_only_probes_touch_backend_internals()

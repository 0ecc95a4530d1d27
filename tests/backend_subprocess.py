"""Run a test script in a fresh process on one Keras backend and read its JSON result lines.

Keras picks its backend at import, so each backend's checks run in their own
process (``KERAS_BACKEND`` set); the script prints one ``PREFIX {json}`` line
per result.

Example:
    >>> run_on_backend("jax", "backend_matrix.py", ["own_step"], "MATRIX ", "config")
    {'own_step': {...}}
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_on_backend(backend: str, script: str, args: list[str], prefix: str, key: str,
                   extra_env: dict | None = None, timeout: int = 900) -> dict:
    """``{result[key]: result}`` for every ``prefix`` line of ``tests/<script> *args`` run on
    ``backend``; skips (with the install command) when the backend is not installed."""
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"the {backend} backend is not installed here (pip install -e '.[{backend[:5]}]')")
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
           **(extra_env or {})}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / script), *args], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith(prefix):
            out = json.loads(line[len(prefix):])
            results[out[key]] = out
    assert proc.returncode == 0 and len(results) == len(args), proc.stderr[-3000:]
    return results

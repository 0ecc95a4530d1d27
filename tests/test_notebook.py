"""The quickstart notebook runs from top to bottom without an error.

Its cells assert the story they tell (the buggy model is diagnosed at its
output layer, the fixed one is healthy and learns), so a change in the
detector that breaks the story fails here too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="pip install nbformat (the [test] extra)")
    nbclient = pytest.importorskip("nbclient", reason="pip install nbclient ipykernel (the [test] extra)")
    pytest.importorskip("ipykernel", reason="pip install ipykernel (the [test] extra)")
    for key, value in {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                       "TF_CPP_MIN_LOG_LEVEL": "3"}.items():
        monkeypatch.setenv(key, os.environ.get(key, value))  # the kernel inherits them
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    shown = "".join(o.get("data", {}).get("text/html", "") for cell in nb.cells if cell.cell_type == "code"
                    for o in cell.get("outputs", []))
    assert "<iframe srcdoc=" in shown and "data:image/png;base64," in shown  # the report with its plots
    assert "BUGGY" in shown and "HEALTHY" in shown

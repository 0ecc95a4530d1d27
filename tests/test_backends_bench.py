"""The benchmark on another Keras backend (`python -m deeplocalize.bench --backend jax`):
each case process runs on the backend asked for, a tool that cannot run there
is recorded n/a with its reason (never a crash), and results.md says which
backend it was.
"""

from __future__ import annotations

import importlib.util
import json
import textwrap

import pytest

from deeplocalize.bench import scheduler, tools
from deeplocalize.bench.__main__ import main as bench_main
from test_bench import GOOD_CASE  # a tiny regression whose buggy SGD rate overflows


def test_tools_that_need_tensorflow_say_why_elsewhere():
    for tool in tools.fitted_tools():
        assert tools.unavailable(tool, "tensorflow") is None, tool.name
    assert tools.unavailable(tools.TOOLS["deeplocalize"], "jax") is None
    assert tools.unavailable(tools.TOOLS["es_loss"], "torch") is None
    why = tools.unavailable(tools.TOOLS["autotrainer"], "jax")
    assert why and "tensorflow" in why and "jax" in why


def test_worker_records_na_with_the_reason_instead_of_fitting():
    from types import SimpleNamespace

    from deeplocalize.bench import fits

    keras = SimpleNamespace(backend=SimpleNamespace(backend=lambda: "torch"))
    ctx = tools.Context(keras, "buggy", 3, case_id="c")
    runnable, skipped = fits._runnable(tools.fitted_tools(), ctx)
    names = {t.name for t in runnable}
    assert "deeplocalize" in names and "autotrainer" not in names and "deepdiagnosis" not in names
    assert {r.tool for r in skipped} == {"autotrainer", "deepdiagnosis"}
    for rec in skipped:
        assert (rec.status, rec.seed, rec.variant, rec.case) == ("n/a", 3, "buggy", "c")
        assert "torch" in rec.error and "tensorflow" in rec.error
    keras.backend.backend = lambda: "tensorflow"
    assert fits._runnable(tools.fitted_tools(), ctx) == (tools.fitted_tools(), [])


def test_each_case_process_gets_the_backend():
    assert scheduler.worker_env(1)["KERAS_BACKEND"] == "tensorflow"
    assert scheduler.worker_env(2, "jax")["KERAS_BACKEND"] == "jax"


def test_backend_option_rejects_an_unknown_backend(capsys):
    with pytest.raises(SystemExit):
        bench_main(["--backend", "mxnet"])
    assert "tensorflow" in capsys.readouterr().err


@pytest.mark.slow
def test_a_case_runs_under_jax_with_tensorflow_only_peers_marked_na(tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed here (pip install -e '.[jax]')")
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "so_good.py").write_text(textwrap.dedent(GOOD_CASE))
    gt = tmp_path / "gt"
    gt.mkdir()
    (gt / "good.yaml").write_text("id: good\nfaulty_layer: [optimizer]\nroot_cause: learning_rate\n"
                                  "secondary_causes: []\n")
    out = tmp_path / "out"
    rc = bench_main(["--cases-dir", str(cases), "--ground-truth-dir", str(gt), "--out", str(out),
                     "--backend", "jax", "--timeout", "400", "--no-progress"])
    assert rc == 0
    done = [json.loads(ln) for ln in (out / "logs" / "so_good.jsonl").read_text().splitlines()]
    assert [d["backend"] for d in done if d["type"] == "done"] == ["jax"]
    doc = json.loads((out / "results.json").read_text())
    assert doc["meta"]["backend"] == "jax"
    (row,) = doc["cases"]
    assert row["status"] == "ok", row["error"]
    for name in ("autotrainer", "deepdiagnosis"):
        for variant in ("buggy", "fixed"):
            rec = row["runs"][variant][name]
            assert rec["status"] == "n/a" and "tensorflow" in rec["error"], rec
    assert row["runs"]["buggy"]["deeplocalize"]["status"] == "ok"
    assert row["scores"]["deeplocalize"]["detected"] is True
    assert row["scores"]["terminate_on_nan"]["detected"] is True
    md = (out / "results.md").read_text()
    assert "Keras backend jax" in md.splitlines()[2]
    assert "AUTOTRAINER (re-implemented) did not run" in md

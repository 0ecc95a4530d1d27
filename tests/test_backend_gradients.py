"""Gradients on JAX and PyTorch, watched from outside the step (`deeplocalize.probes.backward`).

Each backend runs `tests/backend_gradients.py` in its own process: the run
is bit-identical with and without the callback and in a later fit without
it; the first recorded step's weight-gradient and output-gradient norms
match numpy's; a NaN born in a layer's backward pass is named to that layer
on its step; a failing reduction is one warning and the gradients are then
said not watched. A backend that is not installed is skipped, with the reason.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.backend_gradients import POISON_STEP
from tests.backend_subprocess import run_on_backend


def _results(backend: str, configs: list[str]) -> dict:
    results = run_on_backend(backend, "backend_gradients.py", configs, "GRADIENTS ", "config", timeout=300)
    for name, result in results.items():
        assert "error" not in result, f"{backend}/{name} crashed: {result['error']}"
        assert result["same"] == {"weights": True, "history": True}, f"{backend}/{name}: {result['same']}"
        assert result["later_same"], f"{backend}/{name}: a later fit without the callback differs"
        assert result["hooks_left"] == [], f"{backend}/{name}: left wrapped: {result['hooks_left']}"
    return results


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_gradients_match_numpy_and_name_a_backward_nan(backend):
    results = _results(backend, ["healthy", "nan_backward"])
    healthy, buggy = results["healthy"], results["nan_backward"]

    assert healthy["status"] == "healthy" and not healthy["warnings"], healthy
    assert healthy["coverage"]["not_watched"] == []
    assert "weight gradients" in healthy["watched"] and "gradients at the layers' outputs" in healthy["watched"]
    assert healthy["finite"] == {"grad_norm": True, "gw_norm": True}
    first, ref = healthy["first_step"], healthy["reference"]
    for column in ("gw_norm", "grad_norm"):
        np.testing.assert_allclose(first[column], ref[column], rtol=1e-4, err_msg=column)
    for column in ("grad_nan", "grad_inf", "gw_nan", "gw_inf"):
        assert first[column] == [0.0, 0.0], column

    assert buggy["status"] == "buggy", buggy
    assert buggy["nan"] == {"layer": "grad_poison", "step": POISON_STEP, "detail": "output_gradient"}, buggy["nan"]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_failing_gradient_capture_is_one_warning(backend):
    broken = _results(backend, ["broken"])["broken"]
    assert len(broken["warnings"]) == 1 and "gradients failed" in broken["warnings"][0], broken["warnings"]
    assert broken["watched"].startswith("forward values, weights")
    assert [w.split(" (")[0] for w in broken["coverage"]["not_watched"]] == [
        "gradients at the layers' outputs", "weight gradients"]
    assert broken["status"] == "healthy"
    assert np.isnan(broken["first_step"]["gw_norm"]).all() and np.isnan(broken["first_step"]["grad_norm"]).all()

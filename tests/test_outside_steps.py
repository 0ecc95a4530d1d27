"""Watching from outside the step on JAX and PyTorch: every statistic on the
recorded steps only (on JAX, host callbacks there only), yet a NaN named to
its layer on any step (in its output or its gradient), and a second fit
watched too."""

from __future__ import annotations

import pytest

from tests.backend_subprocess import run_on_backend


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_unrecorded_steps_cost_little_and_still_name_a_late_nan(backend):
    out = run_on_backend(backend, "outside_steps_worker.py",
                         ["late_nan", "late_grad_nan", "second_fit", "healthy", "late_nan_goes_on"],
                         "OUTSIDE ", "case", timeout=600)
    healthy, late, second = out["healthy"], out["late_nan"], out["second_fit"]
    assert healthy["forward_seen"] and healthy["steps_recorded"] < 300 and not healthy["records_433"], healthy
    assert not healthy["warnings"], healthy  # on JAX: no fall back to host callbacks
    if backend == "jax":  # one host callback per recorded step (600 steps, far fewer recorded), none on the others
        assert 0 < healthy["host_calls"] <= healthy["steps_recorded"], healthy
        # ...and every other step ran the step compiled without host callbacks (JAX's fast dispatch)
        assert healthy["fast_steps"] >= healthy["steps"] - healthy["steps_recorded"] - 1, healthy
        # the recorded steps return their weights' statistics: no weight is copied to the host after install
        assert healthy["weight_reads"]["host"] <= 1, healthy
        assert healthy["weight_reads"]["returned"] >= healthy["steps_recorded"] - 1, healthy
    assert healthy["update_ratio_seen"] == 1.0, healthy  # every recorded step's update ratio, from either read
    # step 433 is not a recorded one, yet the NaN is named to the layer that made it, on that step
    assert late["nan"] == {"layer": "poison", "step": 433}, late
    # a NaN born in that layer's gradient, on that step too
    assert out["late_grad_nan"]["nan"] == {"layer": "poison", "step": 433}, out["late_grad_nan"]
    # not halted: the replay of step 433 (on JAX from the weights it began with and a copy of the optimizer's
    # state, which the step donates) leaves Keras's own state usable, and the second epoch runs
    goes_on = out["late_nan_goes_on"]
    assert goes_on["nan"] == {"layer": "poison", "step": 433} and goes_on["epochs_run"] == 2, goes_on
    assert not goes_on["internal_errors"] and not goes_on["warnings"], goes_on
    if backend == "jax":  # only the first fault is kept, so only its step is replayed (not the 766 after it)
        assert goes_on["host_calls"] <= goes_on["steps_recorded"] + 2, goes_on
    # Keras's train function was traced before the callback came: the forward values are still seen
    assert second["forward_seen"], second


def test_jax_nan_check_sees_one_column_of_a_sampled_weight():
    # the unrecorded JAX step checks a strided sample of each large weight: its stride is coprime
    # with the last dimension, so a NaN gradient in one unit's column is still seen on its step
    out = run_on_backend("jax", "outside_steps_worker.py", ["late_column_nan"], "OUTSIDE ", "case", timeout=600)
    late = out["late_column_nan"]
    assert late["nan"] == {"layer": "poison", "step": 433}, late


def test_jax_falls_back_to_host_callbacks_when_the_step_cannot_return_the_statistics():
    out = run_on_backend("jax", "outside_steps_worker.py", ["late_nan_fallback"], "OUTSIDE ", "case", timeout=600)
    late = out["late_nan_fallback"]
    assert any("sent from inside the step" in w for w in late["warnings"]), late
    assert late["nan"] == {"layer": "poison", "step": 433} and late["forward_seen"], late

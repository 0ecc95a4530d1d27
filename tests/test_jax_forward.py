"""Forward values and gradients on JAX (watched from outside the step): host
callbacks on recorded steps only, a NaN named to its layer on any step (in its
output or its gradient), and a second fit watched too."""

from __future__ import annotations

from tests.backend_subprocess import run_on_backend


def test_jax_forward_values_cost_one_host_call_per_recorded_step_and_still_name_a_late_nan():
    out = run_on_backend("jax", "jax_forward_worker.py", ["late_nan", "late_grad_nan", "second_fit", "healthy"], "JAXFWD ", "case",
                         timeout=600)
    healthy, late, second = out["healthy"], out["late_nan"], out["second_fit"]
    # one call per recorded step (600 steps, far fewer recorded), none on the others
    assert healthy["forward_seen"] and 0 < healthy["host_calls"] <= healthy["steps_recorded"] < 300, healthy
    assert not healthy["records_433"], healthy
    # step 433 is not a recorded one, yet the NaN is named to the layer that made it, on that step
    assert late["nan"] == {"layer": "poison", "step": 433}, late
    # a NaN born in that layer's gradient, on that step too
    assert out["late_grad_nan"]["nan"] == {"layer": "poison", "step": 433}, out["late_grad_nan"]
    # Keras's train function was traced before the callback came: the forward values are still seen
    assert second["forward_seen"] and second["host_calls"] > 0, second

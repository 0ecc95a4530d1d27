"""The first-fit benchmark's plan and table (the timed runs themselves are too
long for the test suite: `python -m deeplocalize.bench overhead --fresh`)."""

import pytest

from deeplocalize.bench import first_fit


def test_plan_splits_long_runs_into_epochs_of_small_data():
    assert first_fit.plan(100, 32) == (3200, 1)
    assert first_fit.plan(1000, 32) == (8000, 4)
    assert first_fit.plan(10000, 16) == (4000, 40)
    with pytest.raises(ValueError, match="multiple of"):
        first_fit.plan(300, 32)
    with pytest.raises(ValueError, match="positive"):
        first_fit.plan(0, 32)


def test_table_reports_ratios_and_medians_per_tool_and_length():
    def row(model, tool, cpu):
        return {"model": model, "steps": 1000, "tool": tool, "rounds": 2, "ratio_fit_cpu": cpu,
                "ratio_proc_cpu": 1.0, "ratio_fit_wall": 1.0, "ratio_proc_wall": 1.0, "plain_fit_cpu": 3.0,
                "plain_proc_cpu": 9.0, "plain_first_cpu": 1.0, "first_cpu": 1.1, "cpu_ratio": cpu}

    rows = [row("mlp", "deeplocalize", 1.10), row("cnn", "deeplocalize", 1.02), row("lstm", "deeplocalize", 1.04),
            row("mlp", "tensorboard", 1.5),
            {"model": "mlp", "steps": 1000, "tool": "check_numerics", "rounds": 2, "skipped": "no reason"}]
    table = first_fit.format_table(rows, load="1.0")
    assert "| mlp | 1000 | 3.00 | DeepLocalizeCallback() | 1.100 |" in table
    assert "DeepLocalizeCallback(), 1000 steps: CPU ratio (fit) median 1.040, worst 1.100 over 3 models" in table
    assert "not measured: no reason" in table and "load average 1.0" in table


def test_bad_arguments_are_clear_errors(capsys):
    with pytest.raises(SystemExit):
        first_fit.main(["--steps", "300"])
    assert "multiple of" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        first_fit.main(["--steps", "100", "--tools", "profiler"])
    assert "Unknown tools" in capsys.readouterr().err

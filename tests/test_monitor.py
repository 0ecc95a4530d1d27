"""The Keras-free monitor: schedule, fault hand-off, final re-check, halt (no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import make_trace

from deeplocalize.config import load_config
from deeplocalize.diagnosis import analyze
from deeplocalize.monitor import Monitor

CFG = load_config()


def _feed(trace, monitor, upto=None):
    monitor.begin(trace.layers, trace.meta)
    monitor.check_model()
    for row in range(trace.n_steps if upto is None else upto):
        monitor.record(trace.layer_stats[row], {k: v[row] for k, v in trace.steps.items()})
        monitor.checks_due()


def _flat_then_falling(n=200, flat=120):
    loss = np.r_[np.full(flat, 2.3), 2.3 * np.exp(-np.arange(n - flat) / 10) + 0.01]
    return make_trace(n_steps=n, loss=loss)


def test_replay_gives_the_findings_analyze_reports():
    loss = np.r_[np.linspace(2.3, 2.2, 30), np.full(30, np.nan)]
    t = make_trace(n_steps=60, loss=loss)
    kinds = [f.kind for f in Monitor.replay(t, CFG).findings]
    assert "nan" in kinds
    assert sorted(kinds) == sorted(f.kind for f in analyze(t).findings)


def test_first_nonfinite_row_is_localized_once():
    nan = np.zeros((40, 2))
    nan[10:, 1] = 3  # the output layer's activations hold NaNs from row 10 on
    t = make_trace(n_steps=40, act_nan=nan)
    m = Monitor(CFG, halt="never")
    _feed(t, m)
    found = [f for f in m.findings if f.kind == "nan"]
    assert len(found) == 1 and found[0].step == 10 and found[0].layer == "out"


def test_error_halts_once_per_mode():
    nan = np.zeros((20, 2))
    nan[5:, 0] = 1
    t = make_trace(n_steps=20, act_nan=nan)
    for halt, expect in (("error", True), ("never", False)):
        m = Monitor(CFG, halt=halt)
        _feed(t, m)
        assert m.should_halt() is expect and m.stopped is expect
        assert m.should_halt() is False  # decided once


def test_provisional_trend_finding_dropped_when_the_run_recovers():
    t = _flat_then_falling()
    m = Monitor(CFG, halt="never")
    _feed(t, m, upto=110)
    assert "loss_not_decreasing" in [f.kind for f in m.findings]  # mid-run: the loss is flat so far
    for row in range(110, t.n_steps):
        m.record(t.layer_stats[row], {k: v[row] for k, v in t.steps.items()})
    m.finish()
    assert "loss_not_decreasing" not in [f.kind for f in m.findings]


def test_bad_halt_mode_says_what_is_allowed():
    with pytest.raises(ValueError, match="halt must be one of"):
        Monitor(CFG, halt="sometimes")


def test_monitor_module_has_no_keras():
    import ast
    from pathlib import Path

    import deeplocalize.monitor as mod

    tree = ast.parse(Path(mod.__file__).read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n and n.split(".")[0] in ("keras", "tensorflow")]

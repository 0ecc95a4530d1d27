"""Healthy programs of many shapes train with the callback and get no warning."""

import pytest

from deeplocalize import DeepLocalizeCallback
from models import HEALTHY, fit


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_healthy_model_reports_healthy(name):
    cb = DeepLocalizeCallback(verbose=0)
    _, history = fit(HEALTHY[name], [cb])
    d = cb.diagnosis
    noisy = [(f.kind, f.layer, f.message) for f in d.findings if f.severity != "info"]
    assert d.status == "healthy", noisy
    assert not noisy and not d.stopped_training
    assert cb.trace.n_steps >= 20 and len(history.history["loss"]) == history.params["epochs"]
    assert not [f for f in d.findings if f.kind == "internal_error"]

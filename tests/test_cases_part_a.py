"""Benchmark cases, part A (20 Stack Overflow cases).

Fast: every case builds (buggy and fixed, no training), its model is compiled,
its layers carry unique names, and its ground truth parses, uses the contract's
vocabularies and names only layers that exist in the buggy model.
Slow (-m slow): train buggy and fixed at seed 0 and check the validity thresholds
written in the ground truth.
"""

from __future__ import annotations

import importlib
import math
import operator
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

yaml = pytest.importorskip("yaml")
keras = pytest.importorskip("keras")
pytest.importorskip("sklearn")
np = pytest.importorskip("numpy")

ROOT = Path(__file__).resolve().parent.parent
GT_DIR = ROOT / "benchmark" / "ground_truth"

IDS = [
    "31556268", "31627380", "31880720", "33969059", "34311586", "34673164", "38648195",
    "39217567", "39525358", "41372874", "44066044", "44164749", "45337371", "45442843",
    "47352366", "47724077", "48221692", "48251943", "48385830", "48594888",
]
COMPONENTS = {"loss", "optimizer", "data", "labels", "training_config"}
ROOT_CAUSES = {
    "learning_rate", "activation", "loss_function", "initialization", "data_preprocessing",
    "labels", "optimizer", "architecture", "training_config",
}
REQUIRED = {"id", "source", "bug", "fix", "faulty_layer", "root_cause", "secondary_causes",
            "symptom", "substitutions", "validity", "notes"}
COMPARE = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


def _module(case_id):
    return importlib.import_module(f"benchmark.cases.so_{case_id}")


def _truth(case_id):
    return yaml.safe_load((GT_DIR / f"{case_id}.yaml").read_text())


def _condition(text):
    op, value = str(text).split()
    assert op in COMPARE, text
    return op, float(value)


def _layer_names(built, label):
    assert {"model", "x", "y", "fit"} <= set(built), label
    model = built["model"]
    assert isinstance(model, keras.Model), label
    assert model.optimizer is not None and model.loss is not None, f"{label}: not compiled"
    fit = built["fit"]
    assert {"epochs", "batch_size"} <= set(fit), label
    assert fit["epochs"] >= 1 and fit["batch_size"] >= 1, label
    assert len(built["x"]) == len(built["y"]), label
    assert np.all(np.isfinite(np.asarray(built["x"], dtype=np.float64))), f"{label}: non-finite inputs"
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names)), f"{label}: duplicate layer names {names}"
    # every layer got an explicit, stable name (no auto-generated 'dense_12' style suffixes
    # that depend on how many models were built before)
    rebuilt = [layer.name for layer in _REBUILT[label].layers] if label in _REBUILT else names
    assert names == rebuilt, f"{label}: layer names change between builds"
    return set(names)


_REBUILT: dict = {}


def test_part_a_cases_build_and_ground_truth():
    keras.config.disable_interactive_logging()
    for case_id in IDS:
        mod = _module(case_id)
        assert mod.CASE == {"id": case_id, "source": f"stackoverflow:{case_id}", "title": mod.CASE["title"]}
        assert mod.CASE["title"]
        for variant in ("buggy", "fixed"):
            label = f"{case_id} {variant}"
            _REBUILT[label] = mod.build(variant, seed=0)["model"]  # a first build, to compare names
            built = mod.build(variant, seed=0)
            names = _layer_names(built, label)
            if variant == "buggy":
                buggy_names = names
        with pytest.raises(ValueError):
            mod.build("neither", seed=0)

        truth = _truth(case_id)
        missing = REQUIRED - set(truth)
        assert not missing, f"{case_id}: ground truth lacks {sorted(missing)}"
        assert str(truth["id"]) == case_id
        assert truth["source"] == f"stackoverflow:{case_id}"
        assert isinstance(truth["faulty_layer"], list)
        for answer in truth["faulty_layer"]:
            assert answer in COMPONENTS or answer in buggy_names, (
                f"{case_id}: faulty_layer {answer!r} is neither a component nor a layer of the buggy model"
            )
        assert set(truth["secondary_causes"]) <= ROOT_CAUSES, case_id
        if truth["root_cause"] is None:  # a control case without a bug
            assert truth["faulty_layer"] == [] and truth.get("expected_status") == "healthy", case_id
        else:
            assert truth["root_cause"] in ROOT_CAUSES, case_id
            assert truth["faulty_layer"], case_id
        validity = truth["validity"]
        assert set(validity) >= {"metric", "buggy", "fixed"}, case_id
        _condition(validity["buggy"])
        _condition(validity["fixed"])


@pytest.mark.slow
@pytest.mark.parametrize("case_id", IDS)
def test_part_a_case_validity(case_id):
    keras.config.disable_interactive_logging()
    mod = _module(case_id)
    validity = _truth(case_id)["validity"]
    metric = validity["metric"]
    measured = {}
    for variant in ("buggy", "fixed"):
        built = mod.build(variant, seed=0)
        history = built["model"].fit(built["x"], built["y"], verbose=0, **built["fit"]).history
        assert metric in history, f"{case_id} {variant}: History has no {metric!r} ({sorted(history)})"
        value = float(history[metric][-1])
        measured[variant] = value
        op, threshold = _condition(validity[variant])
        if not math.isfinite(value):
            # a NaN/Inf final metric counts as misbehaving: acceptable for buggy only
            assert variant == "buggy", f"{case_id} fixed: {metric} is {value}"
            continue
        assert COMPARE[op](value, threshold), f"{case_id} {variant}: {metric}={value:.5g}, expected {op} {threshold}"

"""Tests of the learned diagnoser (deeplocalize.learn): fast, no long training."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from deeplocalize.findings import ROOT_CAUSES
from deeplocalize.learn import features as F
from deeplocalize.learn.mutations import COMPONENT_OF, MUTATIONS, applicable
from deeplocalize.learn.programs import PROGRAMS, get_program, prepare_data
from deeplocalize.trace import LAYER_STATS, STAT_INDEX, LayerInfo, Trace


def synthetic_trace(n_steps=40, n_layers=3, seed=0, nan_from=None) -> Trace:
    rng = np.random.default_rng(seed)
    layers = [LayerInfo(name=f"dense_{i}", class_name="Dense", index=i, activation="relu", n_params=10 + i)
              for i in range(n_layers - 1)]
    layers.append(LayerInfo(name="output", class_name="Dense", index=n_layers - 1, activation="softmax",
                            n_params=30, is_output=True))
    stats = np.abs(rng.normal(1.0, 0.3, size=(n_steps, n_layers, len(LAYER_STATS))))
    for s in ("act_nan", "act_inf", "grad_nan", "grad_inf", "w_nan", "w_inf", "gw_nan", "gw_inf"):
        stats[:, :, STAT_INDEX[s]] = 0.0
    stats[:, :, STAT_INDEX["act_sat_frac"]] = np.nan  # relu layers: not applicable
    loss = np.linspace(2.3, 0.4, n_steps) + rng.normal(0, 0.05, n_steps)
    if nan_from is not None:
        stats[nan_from:, 1:, STAT_INDEX["act_mean"]] = np.nan
        stats[nan_from, 1, STAT_INDEX["act_nan"]] = 5
        stats[nan_from + 1:, :, STAT_INDEX["w_norm"]] = np.inf
        loss[nan_from:] = np.nan
    steps = {"step": np.arange(n_steps, dtype=float), "loss": loss, "lr": np.full(n_steps, 1e-3),
             "accuracy": np.linspace(0.1, 0.9, n_steps), "x0_min": np.zeros(n_steps), "x0_max": np.ones(n_steps),
             "x0_mean": np.full(n_steps, 0.5), "x0_std": np.full(n_steps, 0.3), "y0_min": np.zeros(n_steps),
             "y0_max": np.full(n_steps, 9.0), "y0_int_frac": np.ones(n_steps), "y0_rowsum": np.full(n_steps, 4.5)}
    meta = {"loss": [{"name": "sparse_categorical_crossentropy", "from_logits": False}], "optimizer": "Adam",
            "learning_rate": 1e-3, "output_activations": ["softmax"], "output_shapes": [[None, 10]],
            "n_trainable_params": 1000, "params": {"epochs": 5, "steps": 8}}
    return Trace(layers=layers, layer_stats=stats, steps=steps, epochs=[], meta=meta)


# ---- features ------------------------------------------------------------------------------
def test_run_features_shape_and_determinism():
    names, x = F.run_features(synthetic_trace())
    _, x2 = F.run_features(synthetic_trace())
    assert names == F.RUN_FEATURE_NAMES and x.shape == (len(names),)
    assert len(set(names)) == len(names)
    np.testing.assert_array_equal(x, x2)
    d = dict(zip(names, x))
    assert d["loss_trend"] < 0 and d["acc_trend"] > 0  # the synthetic loss falls, accuracy rises
    assert d["loss=sparse_categorical_crossentropy"] == 1.0 and d["out_act=softmax"] == 1.0
    assert d["log_lr"] == pytest.approx(-3.0)
    _, other = F.run_features(synthetic_trace(seed=1))
    assert not np.array_equal(x, other)


def test_features_are_nan_safe():
    trace = synthetic_trace(nan_from=20)
    names, x = F.run_features(trace)
    assert np.all(np.isfinite(x))
    d = dict(zip(names, x))
    assert d["loss_nonfinite"] == 1.0 and d["nonfinite_act"] == 1.0
    assert 0.0 < d["nonfinite_act_at"] < 1.0 and d["nonfinite_act_layer_pos"] == pytest.approx(0.5)
    lnames, X, cand = F.layer_features(trace, "activation")
    assert np.all(np.isfinite(X)) and X.shape == (len(cand), len(lnames)) and lnames == F.LAYER_FEATURE_NAMES
    first_here = X[:, lnames.index("nonfinite_act_first_here")]
    assert first_here.tolist() == [0.0, 1.0, 0.0]
    # an all-NaN and an empty trace still give finite vectors of the right length
    allnan = synthetic_trace()
    allnan.layer_stats[:] = np.nan
    allnan.steps["loss"][:] = np.nan
    for t in (allnan, Trace(), synthetic_trace(n_steps=1)):
        _, v = F.run_features(t)
        assert v.shape == (len(F.RUN_FEATURE_NAMES),) and np.all(np.isfinite(v))


def test_layer_features_mark_position_and_cause():
    trace = synthetic_trace(n_layers=4)
    names, X, cand = F.layer_features(trace, "initialization")
    assert cand == [0, 1, 2, 3]
    assert X[:, names.index("is_output")].tolist() == [0, 0, 0, 1]
    assert np.all(X[:, names.index("cause=initialization")] == 1.0)
    assert X[:, names.index("rel_pos")].tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])


# ---- mutations -----------------------------------------------------------------------------------
TINY = ("iris_mlp", "cancer_mlp", "diabetes_reg", "mnist_mlp", "digits_rnn", "friedman_reg")


def _first_program(m):
    for pid in TINY + tuple(PROGRAMS):
        if m.applies_to(get_program(pid)):
            return get_program(pid)
    return None


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_changes_what_it_claims(name):
    m = MUTATIONS[name]
    base = _first_program(m)
    assert base is not None, f"{name} applies to no base program"
    mutant, touched = m.apply(base)
    assert m.root_cause in ROOT_CAUSES
    assert mutant != base and get_program(base.id) == base  # the base itself is untouched
    if m.root_cause in COMPONENT_OF:
        assert touched == COMPONENT_OF[m.root_cause]
    else:
        assert touched in [kw["name"] for _, kw in mutant.layers]
    cause = m.root_cause
    if cause == "learning_rate":
        assert mutant.learning_rate != base.learning_rate and mutant.layers == base.layers
    elif cause == "optimizer":
        assert (mutant.optimizer, mutant.optimizer_kwargs, mutant.learning_rate) != \
               (base.optimizer, base.optimizer_kwargs, base.learning_rate)
    elif cause == "loss_function":
        assert mutant.loss != base.loss
    elif cause == "training_config":
        assert (mutant.epochs, mutant.batch_size) != (base.epochs, base.batch_size)
        assert mutant.layers == base.layers and mutant.loss == base.loss
    elif cause in ("data_preprocessing", "labels"):
        xb, yb, xtb, ytb, _ = prepare_data(base)
        xm, ym, xtm, ytm, _ = prepare_data(mutant)
        if cause == "labels":  # training labels change; inputs and the clean test labels do not
            assert not np.array_equal(yb, ym)
            np.testing.assert_array_equal(xb, xm)
            np.testing.assert_array_equal(ytb, ytm)
        else:
            assert not (np.array_equal(xb, xm) and np.array_equal(yb, ym))
    else:  # layer faults: check the built Keras model
        from deeplocalize.learn.programs import build_model

        xb, *_ = prepare_data(base)
        model = build_model(mutant, xb.shape[1:])
        layer = model.get_layer(touched)
        if cause == "activation":
            new = dict(mutant.layers[[kw["name"] for _, kw in mutant.layers].index(touched)][1])["activation"]
            assert layer.activation.__name__ == new
        elif cause == "initialization":
            w = layer.get_weights()[0]
            spec = layer.get_config()["kernel_initializer"]
            ref = build_model(base, xb.shape[1:]).get_layer(touched).get_weights()[0]
            assert not np.allclose(w, ref)
            assert np.all(w == w.flat[0]) or np.std(w) > 5.0, spec
        elif cause == "architecture":
            ref = build_model(base, xb.shape[1:])
            assert ref.count_params() != model.count_params()


def test_every_program_has_mutants_of_most_causes():
    for pid in PROGRAMS:
        causes = {m.root_cause for m in applicable(get_program(pid))}
        assert len(causes) >= 7, (pid, causes)


# ---- splits and labels --------------------------------------------------------------------------------
def test_grouped_split_never_leaks_a_program():
    from deeplocalize.learn.evaluate import grouped_splits

    rng = np.random.default_rng(0)
    groups = rng.choice(["a", "b", "c", "d"], size=200)
    splits = grouped_splits(groups)
    assert [g for _, _, g in splits] == ["a", "b", "c", "d"]
    seen = []
    for train, test, g in splits:
        assert set(groups[test]) == {g} and g not in set(groups[train])
        assert len(train) + len(test) == len(groups)
        seen.extend(test.tolist())
    assert sorted(seen) == list(range(200))


def test_effective_criterion(tmp_path):
    from deeplocalize.learn.corpus import load_labels

    (tmp_path / "labels").mkdir()
    rows = [("p__none__s0", "none", "healthy", 0.9, False), ("p__a__s0", "a", "labels", 0.1, False),
            ("p__b__s0", "b", "optimizer", 0.88, False), ("p__c__s0", "c", "learning_rate", 0.9, True)]
    for run_id, mut, cause, score, nonfinite in rows:
        (tmp_path / "labels" / f"{run_id}.json").write_text(json.dumps(
            {"run_id": run_id, "program": "p", "mutation": mut, "seed": 0, "root_cause": cause, "layer": None,
             "status": "ok", "score": score, "nonfinite_loss": nonfinite}))
    lab = load_labels(tmp_path).set_index("mutation")
    assert lab.loc["a", "target"] == "labels"      # a large drop: effective
    assert lab.loc["b", "target"] == "healthy"     # within the margin: an equivalent mutant
    assert lab.loc["c", "target"] == "learning_rate"  # NaN loss counts although the score held
    assert lab.loc["none", "target"] == "healthy"


# ---- predict ---------------------------------------------------------------------------------------------
def test_predict_loads_lazily_and_answers_in_vocabulary(tmp_path):
    path = tmp_path / "t.npz"
    synthetic_trace().save(path)
    code = (
        "import sys, json\n"
        "from deeplocalize.learn import predict as P\n"
        "assert not P.is_loaded()\n"
        "assert 'sklearn' not in sys.modules and 'tensorflow' not in sys.modules\n"
        "from deeplocalize.trace import Trace\n"
        f"g = P.predict(Trace.load({str(path)!r}))\n"
        "assert P.is_loaded()\n"
        "assert 'tensorflow' not in sys.modules\n"
        "print(json.dumps(g))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    guess = json.loads(out.stdout.strip().splitlines()[-1])
    assert guess["root_cause"] in ROOT_CAUSES
    assert guess["layer"] in {"dense_0", "dense_1", "output", "optimizer", "loss", "data", "training_config"}
    assert 0.0 <= guess["confidence"] <= 1.0


def test_predict_empty_trace():
    from deeplocalize.learn.predict import predict

    assert predict(Trace()) == {"root_cause": None, "layer": None, "confidence": 0.0}


def test_model_file_is_small_and_packaged():
    from deeplocalize.learn.model import MODEL_PATH

    assert MODEL_PATH.exists() and MODEL_PATH.stat().st_size < 2 * 1024 * 1024
    assert MODEL_PATH.suffix == ".joblib"


# ---- end to end --------------------------------------------------------------------------------------------
def test_build_corpus_end_to_end(tmp_path):
    from deeplocalize.learn.corpus import build_corpus, load_labels

    stats = build_corpus(tmp_path, jobs=1, programs=["iris_mlp"], mutations={"lr_high_1000"}, progress=False)
    assert stats["planned"] == 2 and stats["ran"] == 2 and stats["errors"] == 0
    lab = load_labels(tmp_path).set_index("mutation")
    assert set(lab.index) == {"none", "lr_high_1000"}
    assert lab.loc["lr_high_1000", "root_cause"] == "learning_rate" and lab.loc["lr_high_1000", "layer"] == "optimizer"
    assert lab.loc["none", "root_cause"] == "healthy"
    for run_id in lab["run_id"]:
        t = Trace.load(tmp_path / "traces" / f"{run_id}.npz")
        assert t.n_steps > 0 and t.layer_names == ["dense_1", "dense_2", "output"]
    assert (tmp_path / "labels.csv").exists()
    again = build_corpus(tmp_path, jobs=1, programs=["iris_mlp"], mutations={"lr_high_1000"}, progress=False)
    assert again["skipped"] == 2 and again["ran"] == 0

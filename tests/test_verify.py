"""Verified diagnosis (deeplocalize.verify): real small models, one per root cause.

Each buggy program is trained with the callback (verify="auto"); the trials
must prove a fix of the right root cause at the right layer. Models are small
MLPs on scikit-learn's digits or generated data; trials are 150 steps. A full
verification tries about ten candidates (10-30 s on 2 cores), so most root
causes run under ``-m slow``; the default suite keeps one of them (activation).
"""

import numpy as np
import pytest

from models import digits

FAST = {"verify_steps": 150, "verify_budget": 120}


def _keras():
    import keras

    return keras


def _mlp(out_activation="softmax", hidden="relu", units=10, dropout=None, init="glorot_uniform", name="net",
         inputs=64):
    keras = _keras()
    layers = [keras.Input((inputs,)), keras.layers.Dense(32, activation=hidden, kernel_initializer=init,
                                                          name="hidden")]
    if dropout:
        layers.append(keras.layers.Dropout(dropout, name="drop"))
    layers.append(keras.layers.Dense(units, activation=out_activation, name="out"))
    return keras.Sequential(layers, name=name)


def _fit(model, x, y, verify="auto", epochs=3, batch_size=32, config=None):
    from deeplocalize import DeepLocalizeCallback

    cb = DeepLocalizeCallback(verify=verify, verbose=0, halt="never", config={**FAST, **(config or {})})
    model.fit(x, y, epochs=epochs, batch_size=batch_size, callbacks=[cb], verbose=0)
    return cb


def _verified(cb):
    d = cb.diagnosis
    v = d.verification
    assert v is not None, "verification did not run"
    table = [(t.fix, t.verdict, t.improvement) for t in v.trials]
    assert v.verified, f"no fix proven: {table} {v.note}"
    return d, v


def test_activation_output_relu_with_crossentropy():
    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = digits()
    m = _mlp(out_activation="relu")
    m.compile("adam", "sparse_categorical_crossentropy")
    d, v = _verified(_fit(m, x, y))
    assert (d.root_cause, d.faulty_layer) == ("activation", "out")
    assert d.verified and "verified" in d.suggestion
    assert v.fix.improvement["score_gain"] > 0.3


@pytest.mark.slow
def test_loss_function_categorical_on_one_sigmoid_unit():
    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = digits()
    yb = (y >= 5).astype("float32")
    m = _mlp(out_activation="sigmoid", units=1)
    m.compile("adam", "categorical_crossentropy")  # over one unit: always 0, nothing is learnt
    d, v = _verified(_fit(m, x, yb, verify="always"))  # a zero loss looks healthy to the checks
    assert (d.root_cause, d.faulty_layer) == ("loss_function", "loss")
    assert d.status == "buggy"


@pytest.mark.slow
def test_labels_minus_one_with_binary_crossentropy():
    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = digits()
    y_pm = np.where(y >= 5, 1.0, -1.0).astype("float32")  # -1/1 labels: binary cross-entropy wants 0/1
    m = _mlp(out_activation="sigmoid", units=1)
    m.compile("adam", "binary_crossentropy")
    d, v = _verified(_fit(m, x, y_pm, verify="always"))
    assert (d.root_cause, d.faulty_layer) == ("labels", "labels")


@pytest.mark.slow
def test_learning_rate_too_high():
    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = digits()
    m = _mlp()
    m.compile(keras.optimizers.SGD(learning_rate=20.0), "sparse_categorical_crossentropy")
    d, v = _verified(_fit(m, x, y))
    assert (d.root_cause, d.faulty_layer) == ("learning_rate", "optimizer")


@pytest.mark.slow
def test_initialization_zero_kernels():
    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = digits()
    m = keras.Sequential([keras.Input((64,)),
                          keras.layers.Dense(32, activation="relu", kernel_initializer="zeros", name="h1"),
                          keras.layers.Dense(32, activation="relu", kernel_initializer="zeros", name="h2"),
                          keras.layers.Dense(10, activation="softmax", name="out")])
    m.compile("adam", "sparse_categorical_crossentropy")
    d, v = _verified(_fit(m, x, y))
    assert (d.root_cause, d.faulty_layer) == ("initialization", "h1")


@pytest.mark.slow
def test_data_preprocessing_huge_inputs():
    keras = _keras()
    keras.utils.set_random_seed(0)
    rng = np.random.RandomState(0)
    x = rng.normal(size=(1500, 20)).astype("float32")
    y = (x[:, :3].sum(1) > 0).astype("float32")
    x = x * np.logspace(0, 5, 20).astype("float32") + 3000.0  # columns on wildly different scales
    m = keras.Sequential([keras.Input((20,)), keras.layers.Dense(16, activation="tanh", name="hidden"),
                          keras.layers.Dense(1, activation="sigmoid", name="out")])
    m.compile(keras.optimizers.SGD(0.01), "binary_crossentropy")
    d, v = _verified(_fit(m, x, y))
    assert (d.root_cause, d.faulty_layer) == ("data_preprocessing", "data")


@pytest.mark.slow
def test_optimizer_adam_with_huge_epsilon():
    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = digits()
    m = _mlp()
    m.compile(keras.optimizers.Adam(1e-3, epsilon=100.0), "sparse_categorical_crossentropy")
    d, v = _verified(_fit(m, x, y))
    assert (d.root_cause, d.faulty_layer) == ("optimizer", "optimizer")


@pytest.mark.slow
def test_architecture_dropout_too_high():
    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = digits()
    m = _mlp(dropout=0.97)
    m.compile("adam", "sparse_categorical_crossentropy")
    d, v = _verified(_fit(m, x, y, verify="always"))
    assert (d.root_cause, d.faulty_layer) == ("architecture", "drop")


@pytest.mark.slow
def test_hidden_sigmoid_deep_stack_gets_relu():
    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = digits()
    stack = [keras.Input((64,))] + [keras.layers.Dense(32, activation="sigmoid", name=f"h{i}") for i in range(6)]
    m = keras.Sequential(stack + [keras.layers.Dense(10, activation="softmax", name="out")])
    m.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy")
    d, v = _verified(_fit(m, x, y, verify="always"))
    assert d.root_cause in ("activation", "learning_rate", "optimizer")
    assert any(t.fix == "hidden_relu" and t.verdict == "proven" for t in v.trials)


def test_healthy_model_gets_no_fix_even_always():
    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = digits()
    m = _mlp()
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    cb = _fit(m, x, y, verify="auto", epochs=2)
    assert cb.diagnosis.status == "healthy" and cb.diagnosis.verification is None
    keras.utils.set_random_seed(0)
    m = _mlp()
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    cb = _fit(m, x, y, verify="always", epochs=2)
    d = cb.diagnosis
    assert d.verification is not None and not d.verified, [(t.fix, t.verdict) for t in d.verification.trials]
    assert d.status == "healthy"
    # no symptom, no note: a fix that would only train faster is not evidence of a fault
    faster = {t.fix: t for t in d.verification.trials if t.fix in ("learning_rate_x10", "train_longer")}
    assert set(faster) == {"learning_rate_x10", "train_longer"}
    assert all(t.verdict == "not applicable" and "only trains faster" in t.note for t in faster.values())
    assert any(t.fix == "learning_rate_x0.1" and t.verdict != "not applicable" for t in d.verification.trials)


def _run_then_fit_again(verify):
    keras = _keras()
    import random

    keras.utils.set_random_seed(3)
    x, y = digits()
    m = _mlp(out_activation="relu")
    m.compile("adam", "sparse_categorical_crossentropy")
    _fit(m, x, y, verify=verify, epochs=1, config={"verify_budget": 2})
    state = (random.random(), float(np.random.rand()))
    weights = [w.copy() for w in m.get_weights()]
    opt = [v.numpy().copy() for v in m.optimizer.variables]
    m.fit(x, y, epochs=1, batch_size=32, verbose=0)  # the user's own next fit
    return state, weights, opt, m.get_weights()


def test_user_model_state_and_next_fit_identical_with_and_without_verification():
    with_v = _run_then_fit_again("auto")
    without = _run_then_fit_again("never")
    assert with_v[0] == without[0]  # python and numpy random streams
    for a, b in zip(with_v[1] + with_v[2] + with_v[3], without[1] + without[2] + without[3]):
        np.testing.assert_array_equal(a, b)


def test_subclassed_model_degrades_to_a_note():
    keras = _keras()
    from deeplocalize.verify import verify_model
    from deeplocalize.verify.sample import DataSample

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(10, activation="relu")

        def call(self, x):
            return self.d(x)

    x, y = digits()
    m = Net()
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x[:64], y[:64], verbose=0)
    v = verify_model(m, DataSample.from_arrays(x[:256], y[:256]), config={"verify_steps": 10})
    assert not v.verified
    assert "subclassed" in v.note and v.trials[0].verdict == "not applicable"


def test_sample_limits_structure_and_round_trip(tmp_path):
    from deeplocalize.verify.sample import DataSample

    x = {"a": np.ones((100, 3), "float32"), "b": np.zeros((100, 2), "int32")}
    y = np.arange(100)
    s = DataSample(max_examples=70)
    for i in range(0, 100, 32):
        s.add([x["a"][i:i + 32], x["b"][i:i + 32], y[i:i + 32]], structure=({"a": 0, "b": 0}, 0))
    assert s.full and s.n == 70
    xs, ys, ws = s.arrays()
    assert xs["a"].shape == (70, 3) and ys.tolist() == list(range(70)) and ws is None
    s2 = DataSample.load(s.save(tmp_path / "s.pkl"))
    np.testing.assert_array_equal(s2.arrays()[1], ys)
    small = DataSample(max_examples=1000, max_bytes=12 * 10)  # 12 bytes per example
    small.add([x["a"], y.astype("int32") * 0 + 1][:1] + [np.zeros((100, 0))])
    assert small.n == 10 and small.full


def test_capture_from_generator_and_nothing_kept_when_never():
    keras = _keras()
    from deeplocalize import DeepLocalizeCallback

    keras.utils.set_random_seed(0)
    x, y = digits()

    def batches():
        while True:
            for i in range(0, 640, 32):
                yield x[i:i + 32], y[i:i + 32]

    m = _mlp()
    m.compile("adam", "sparse_categorical_crossentropy")
    cb = DeepLocalizeCallback(verify="auto", verbose=0, config={"verify_sample_examples": 100})
    m.fit(batches(), steps_per_epoch=10, epochs=1, callbacks=[cb], verbose=0)
    s = cb._capture.sample
    assert s.n == 100
    np.testing.assert_array_equal(s.arrays()[0], x[:100])
    cb2 = DeepLocalizeCallback(verify="never", verbose=0)
    m.fit(batches(), steps_per_epoch=5, epochs=1, callbacks=[cb2], verbose=0)
    assert cb2._capture is None and s.n == 100


def test_bad_verify_argument_and_config():
    from deeplocalize import DeepLocalizeCallback

    with pytest.raises(ValueError, match="verify must be one of"):
        DeepLocalizeCallback(verify="yes")
    with pytest.raises(ValueError, match="verify_steps"):
        DeepLocalizeCallback(config={"verify_steps": 0})


def test_fix_applies_to_a_whole_program_and_diagnosis_round_trips(tmp_path):
    keras = _keras()
    from deeplocalize.findings import Diagnosis

    keras.utils.set_random_seed(0)
    x, y = digits()
    m = _mlp(out_activation="relu")
    m.compile("adam", "sparse_categorical_crossentropy")
    cb = _fit(m, x, y)
    fix = cb.verified_fix
    assert fix is not None and fix.name == "output_activation"
    before = [w.copy() for w in m.get_weights()]
    new, x2, y2, kw = fix.apply(m, x, y, {"epochs": 5, "batch_size": 32}, seed=0)
    hist = new.fit(x2, y2, verbose=0, **kw)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    assert new.layers[-1].get_config()["activation"] == "softmax"
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    d2 = Diagnosis.from_dict(cb.diagnosis.to_dict())
    assert d2.verified and d2.verification.fix.fix == "output_activation" and d2.root_cause == "activation"
    _check_report(d2, tmp_path)


def _check_report(d, tmp_path):
    from deeplocalize.report.console import format_summary

    md = d.save(tmp_path / "r.md").read_text()
    assert "## Verified fix" in md and "| output_activation | activation | out |" in md
    assert (tmp_path / "r_files" / "verified_fix.png").stat().st_size > 1000
    page = d.save(tmp_path / "r.html").read_text()
    assert 'id="verified"' in page and "data:image/png;base64" in page
    assert "check: verified" in format_summary(d)


def test_halt_waits_for_enough_sample_then_stops():
    keras = _keras()
    from deeplocalize import DeepLocalizeCallback

    keras.utils.set_random_seed(0)
    x, y = digits()
    m = _mlp(out_activation="relu")  # a pre-flight error: halt="error" stops at once without verification
    m.compile("adam", "sparse_categorical_crossentropy")
    cb = DeepLocalizeCallback(verbose=0, verify="auto", config={"verify_halt_examples": 128, "verify_budget": 1,
                                                                "verify_steps": 20})
    m.fit(x, y, epochs=3, batch_size=32, callbacks=[cb], verbose=0)
    assert cb.diagnosis.stopped_training and cb._capture.sample.n >= 128
    assert cb.trace.column("step")[-1] < 20  # stopped soon after, not at the end of training


@pytest.mark.slow
def test_cli_verifies_a_saved_model_and_sample(tmp_path, capsys):
    keras = _keras()
    from deeplocalize.__main__ import main
    from deeplocalize.findings import Diagnosis
    from deeplocalize.verify.saved import save_inputs

    keras.utils.set_random_seed(0)
    x, y = digits()
    m = _mlp(out_activation="relu")
    m.compile("adam", "sparse_categorical_crossentropy")
    cb = _fit(m, x, y, config={"verify_budget": 1})
    save_inputs(cb, tmp_path / "run")
    assert main(["verify", str(tmp_path / "run"), "--budget", "60", "-q"]) == 0
    d = Diagnosis.load(tmp_path / "run" / "verified.json")
    assert d.verification is not None and d.verified and d.root_cause == "activation"
    assert main(["verify", str(tmp_path / "nothing")]) == 2
    assert "lacks model.keras" in capsys.readouterr().err


def test_beats_compares_end_losses_only_for_the_same_objective():
    from deeplocalize.verify.verdict import beats

    margins = {"score": 0.05, "loss": 0.5, "tolerance": 0.02}
    # as-is: the loss blew up at the start and fell back (relative loss tiny), and ends high
    as_is = {"score": 0.5, "start_loss": 1e6, "end_loss": 4.0, "rel_loss": 4e-6}
    fix = {"score": 0.5, "start_loss": 5.0, "end_loss": 0.5, "rel_loss": 0.1}
    ok, gain, ratio = beats(fix, as_is, "same", margins)
    assert ok and gain == 0.0 and ratio == 0.125
    assert not beats(fix, as_is, "rescaled", margins)[0]  # relative to their starts the as-is copy "won"
    assert not beats(fix, as_is, "other", margins)[0]  # another loss: only the score counts
    assert beats({**fix, "score": 0.6}, as_is, "other", margins)[0]
    assert not beats({**fix, "score": 0.45}, as_is, "same", margins)[0]  # lower score beyond the tolerance
    assert not beats({**fix, "end_loss": float("nan")}, as_is, "same", margins)[0]


def test_a_loss_only_win_must_score_above_a_constant_prediction():
    from deeplocalize.verify.trials import chance_score
    from deeplocalize.verify.verdict import beats

    margins = {"score": 0.05, "loss": 0.5, "tolerance": 0.02}
    # 69 one-hot classes under sigmoid + binary cross-entropy: a higher learning rate only gets
    # faster to "all zeros", the loss falls to a third while the accuracy stays at the majority share
    hold = np.eye(69)[np.r_[np.zeros(3, int), np.arange(69)]]
    chance = chance_score(hold, "onehot", "accuracy")
    assert chance == pytest.approx(4 / 72)
    as_is = {"score": 0.03, "start_loss": 0.69, "end_loss": 0.40, "rel_loss": 0.58}
    faster = {"score": 0.05, "start_loss": 0.69, "end_loss": 0.13, "rel_loss": 0.19}
    assert beats(faster, as_is, "same", margins)[0]  # without a floor the loss alone proves it
    assert not beats(faster, as_is, "same", margins, chance)[0]
    assert beats({**faster, "score": 0.30}, as_is, "same", margins, chance)[0]  # it learned the classes
    assert beats({**faster, "score": float("nan")}, as_is, "same", margins, chance)[0]  # unscored: the loss decides
    assert chance_score(np.array([1.0, 2.0]), "continuous", "r2") == 0.0


def test_the_chance_floor_needs_a_held_back_part():
    from deeplocalize.verify.sample import DataSample
    from deeplocalize.verify.trials import TrialRunner

    x, y = digits()
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    margins = {m: {"score": 0.05, "loss": 0.5, "tolerance": 0.02} for m in ("clear", "wide")}
    runners = {}
    for n in (40, 400):
        sample = DataSample(max_examples=n)
        sample.add([x[:n], y[:n]], structure=(0, 0))
        runners[n] = TrialRunner(model, sample, steps=20, seeds=(0, 1), margins=margins)
    assert runners[40].chance is None  # scored on what it trained on: one example is 2.5 points
    assert 0.08 < runners[400].chance < 0.2  # ten digit classes held back


def test_softmax_on_one_unit_gets_an_output_activation_candidate_and_lambda_layers_clone():
    keras = _keras()
    from deeplocalize.verify.clone import clone_compiled
    from deeplocalize.verify.fixes import candidates

    m = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda t: t * 2.0, name="double"),
                          keras.layers.Dense(4, activation="relu", name="h"),
                          keras.layers.Dense(1, activation="softmax", name="out")])
    m.compile("sgd", "mse")
    x, y = np.random.rand(64, 3).astype("float32"), (np.random.rand(64, 1) > 0.5).astype("float32")
    fixes, skipped = candidates(m, x, y)
    fix = next(f for f in fixes if f.name == "output_activation")
    assert fix.change == "activation='sigmoid' on 'out'" and fix.objective == "same"
    by_name = {f.name: f for f in fixes}
    assert by_name["train_longer"].objective == "other"  # more steps lower the training loss anyway
    assert by_name["output_head"].objective == "other" and by_name["output_head"].layer == "out"
    copy = fix.build(m, seed=0)
    assert copy.get_layer("out").activation.__name__ == "sigmoid"
    np.testing.assert_allclose(clone_compiled(m).get_layer("double")(x), x * 2.0, rtol=1e-6)


def test_token_ids_are_never_standardized_even_behind_a_custom_embedding_layer():
    keras = _keras()
    from deeplocalize.verify.fixes import candidates

    class Tokens(keras.layers.Layer):  # an Embedding the probes do not see (a layer of the user's own)
        def __init__(self, **kw):
            super().__init__(**kw)
            self.table = keras.layers.Embedding(500, 8)

        def call(self, ids):
            return self.table(ids)

    def build(dtype):
        inp = keras.Input((10,), dtype=dtype)
        out = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling1D()(Tokens()(inp)))
        m = keras.Model(inp, out)
        m.compile("adam", "sparse_categorical_crossentropy")
        return m

    x, y = np.random.randint(0, 500, size=(64, 10)), np.random.randint(0, 2, size=64)
    assert "standardize_inputs" not in {f.name for f in candidates(build("int64"), x, y)[0]}
    assert "standardize_inputs" in {f.name for f in candidates(build("float32"), x.astype("float32"), y)[0]}


def test_one_hot_classes_under_sigmoid_and_binary_crossentropy_get_a_softmax_head_candidate():
    keras = _keras()
    from deeplocalize.verify.fixes import candidates

    def model(units):
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu", name="h"),
                              keras.layers.Dense(units, activation="sigmoid", name="out")])
        m.compile("adam", "binary_crossentropy")
        return m

    x = np.random.rand(60, 3).astype("float32")
    one_hot = np.eye(5, dtype="float32")[np.arange(60) % 5]
    head = {f.name: f for f in candidates(model(5), x, one_hot)[0]}["output_head"]
    assert head.change == "activation='softmax' on 'out' with loss='categorical_crossentropy'"
    assert head.build(model(5), seed=0).get_layer("out").activation.__name__ == "softmax"
    multi_label = one_hot.copy()
    multi_label[::2, 0] = 1.0  # several labels per row: independent sigmoids fit
    assert "output_head" not in {f.name for f in candidates(model(5), x, multi_label)[0]}


def test_a_copy_keeps_what_a_normalization_layer_adapted_to_the_data():
    """The as-is copy of a model with an adapted Normalization must see standardized
    inputs, as the user's model does (a fresh Normalization passes them raw)."""
    keras = _keras()
    from deeplocalize.verify.clone import clone_compiled

    x = (np.random.rand(200, 3) * np.array([1.0, 100.0, 1e4])).astype("float32")
    norm = keras.layers.Normalization(name="norm")
    norm.adapt(x)
    m = keras.Sequential([keras.Input((3,)), norm, keras.layers.Dense(2, name="d")])
    m.compile("adam", "mse")
    copy = clone_compiled(m, seed=0)
    out = np.asarray(copy.get_layer("norm")(x))
    assert np.abs(out.mean(0)).max() < 0.05 and np.abs(out.std(0) - 1).max() < 0.05


def test_auto_tries_the_noted_cause_on_a_run_the_checks_call_healthy():
    """A regression of the digit's value with every fourth input column x300: no symptom, only a
    note about the inputs; standardizing them trains far better, so auto verification reports the
    run buggy with a verified data fix. (A classifier fed such inputs starts with a loss far above
    a uniform guess's, a symptom of its own: `initial_loss_high`. Its 3 epochs also end with the MSE
    far above the labels' variance and still falling, `no_better_than_mean`: switched off here, as the
    test is about a run with no symptom.)"""
    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = digits()
    x = x * np.where(np.arange(64) % 4 == 0, 300.0, 1.0).astype("float32")
    y = y.astype("float32")
    m = _mlp(out_activation="linear", units=1)
    m.compile("adam", "mse")
    quiet = {"still_learning_drop": 1.0}  # its loss ends 10x+ the variance, still falling
    cb = _fit(m, x, y, config=quiet)
    d, v = _verified(cb)
    assert [f.kind for f in d.findings if f.severity != "info"] == ["fix_verified"]
    assert (d.status, d.root_cause, d.faulty_layer) == ("buggy", "data_preprocessing", "data")
    assert {t.root_cause for t in v.trials if t.fix != "as_is"} == {"data_preprocessing"}  # only the noted cause
    keras.utils.set_random_seed(0)
    m = _mlp(out_activation="linear", units=1)
    m.compile("adam", "mse")
    assert _fit(m, x, y, config={"verify_on_notes": False, **quiet}).diagnosis.verification is None


def test_restricted_verification_chooses_among_the_given_causes_only():
    from deeplocalize.verify.verdict import Trial, Verification

    seed = {"score": 0.5, "start_loss": 2.0, "end_loss": 1.0, "rel_loss": 0.5, "loss": []}
    trials = [Trial(fix="as_is", verdict="baseline", seeds=[seed]),
              Trial(fix="output_activation", root_cause="activation", verdict="proven", seeds=[seed],
                    improvement={"score_gain": 0.4, "loss_ratio": 0.2}),
              Trial(fix="standardize_inputs", root_cause="data_preprocessing", verdict="proven", seeds=[seed],
                    improvement={"score_gain": 0.25, "loss_ratio": 0.3}),
              Trial(fix="learning_rate_x10", root_cause="learning_rate", verdict="not better", seeds=[seed],
                    improvement={"score_gain": 0.0, "loss_ratio": 1.0})]
    v = Verification(trials=trials, chosen="output_activation")
    sub = v.restricted(["data_preprocessing", "learning_rate"], tie=0.02)
    assert sub.chosen == "standardize_inputs" and [t.fix for t in sub.trials][0] == "as_is"
    assert len(sub.trials) == 3 and v.chosen == "output_activation"  # the original is untouched
    assert v.restricted(["learning_rate"], tie=0.02).chosen is None
    assert "fixes" not in sub.to_dict()


def test_outside_take_over_mid_run_goes_on_filling_the_same_sample():
    """When the instrumented step fails mid-run and the outside observer takes over, the batches
    kept so far stay and the outside capture fills the same sample on."""
    keras = _keras()
    from deeplocalize import DeepLocalizeCallback
    from deeplocalize.verify.outside_capture import OutsideCapture

    keras.utils.set_random_seed(0)
    x, y = digits()
    m = _mlp()
    m.compile("adam", "sparse_categorical_crossentropy")
    cb = DeepLocalizeCallback(verify="always", verbose=0, halt="never",
                              config={**FAST, "verify_budget": 1, "verify_steps": 10})
    seen = {}

    class TakeOver(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 3:
                seen["before"] = cb._capture.sample
                seen["n"] = cb._capture.sample.n
                with pytest.warns(RuntimeWarning, match="watched from outside"):
                    cb._watch_from_outside("a test take-over")

    m.fit(x, y, epochs=1, batch_size=32, callbacks=[cb, TakeOver()], verbose=0)
    assert 0 < seen["n"] < 1024
    assert isinstance(cb._capture, OutsideCapture) and cb._capture.sample is seen["before"]
    assert cb._capture.sample.n > seen["n"]


def test_candidates_that_keep_the_model_reuse_the_traced_copy_with_the_same_result(monkeypatch):
    """A learning-rate candidate trains the compiled as-is copy (no build of its
    own), reset to a fresh seeded clone's variables (dropout seeds included),
    and ends where a copy built for it ends."""
    import dataclasses

    from deeplocalize.verify import fixes as fixes_mod
    from deeplocalize.verify.clone import clone_compiled
    from deeplocalize.verify.sample import DataSample
    from deeplocalize.verify.trials import TrialRunner

    keras = _keras()
    x, y = digits()
    model = _mlp(dropout=0.3)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    sample = DataSample(max_examples=512)
    for i in range(0, 512, 32):
        sample.add([x[i:i + 32], y[i:i + 32]], structure=(0, 0))
    margins = {m: {"score": 0.05, "loss": 0.5, "tolerance": 0.02} for m in ("clear", "wide")}
    fix = next(f for f in fixes_mod.candidates(model, x[:512], y[:512])[0] if f.name == "learning_rate_x10")
    assert fix.keeps_model
    built = []
    monkeypatch.setattr(fixes_mod.Fix, "build", lambda self, *a, **k: built.append(self.name) or
                        clone_compiled(a[0], optimizer=self.optimizer(a[0].optimizer), seed=a[1]))

    def run(f):
        runner = TrialRunner(model, sample, steps=60, seeds=(0, 1), margins=margins)
        runner.run(None)
        return runner, runner.run(f)

    shared_runner, shared = run(fix)
    assert built == [] and shared_runner.steps_per_execution == 2
    _, own = run(dataclasses.replace(fix, lr_factor=None))  # not marked: built and traced on its own
    assert built and set(built) == {"learning_rate_x10"}
    assert shared.verdict == own.verdict and len(shared.seeds) == len(own.seeds) == 2
    for a, b in zip(shared.seeds, own.seeds):
        np.testing.assert_allclose(a["end_loss"], b["end_loss"], rtol=1e-4)
        assert a["score"] == pytest.approx(b["score"], abs=1e-6)


def test_combined_fix_takes_one_change_per_part_and_composes_them():
    """Alternatives for the same part (output and loss) are not stacked; a labels fix is
    dropped when the output fix changes the loss; edits of one layer compose."""
    from deeplocalize.verify.combine import combined, make
    from deeplocalize.verify.fixes import Fix

    def fix(name, cause, **kw):
        return Fix(name, cause, kw.pop("layer", "x"), f"change {name}", f"do {name}", **kw)

    relu = fix("hidden_relu", "activation", layer="h", edit_layer={"h": {"activation": "relu"}})
    init = fix("initializers", "initialization", layer="h", edit_layer={"h": {"kernel_initializer": "he_uniform"}})
    head = fix("output_head", "activation", layer="out", loss="binary_crossentropy",
               edit_layer={"out": {"activation": "sigmoid"}})
    loss = fix("loss_fits_output", "loss_function", layer="loss", loss="mse")
    labels = fix("labels_zero_one", "labels", layer="labels", data=lambda x, y, kw: (x, y + 1, kw))
    scale = fix("standardize_inputs", "data_preprocessing", layer="data", data=lambda x, y, kw: (x * 2, y, kw))
    lr = fix("learning_rate_x10", "learning_rate", layer="optimizer", lr_factor=10.0, optimizer=lambda o: o)

    both = combined([head, loss, labels, relu, lr, scale, init])
    assert [p.name for p in both.parts] == ["output_head", "hidden_relu", "standardize_inputs", "initializers"]
    assert both.loss == "binary_crossentropy" and both.objective == "other"
    assert combined([relu, lr]) is None  # a learning rate alone does not make a combination
    with_labels = combined([relu, labels, scale])
    x, y, _ = with_labels.transform(np.ones(2), np.zeros(2), {})
    assert x.tolist() == [2, 2] and y.tolist() == [1, 1] and with_labels.changes_targets is False
    keras = _keras()
    layer = keras.layers.Dense(3, activation="tanh", name="h")
    edited = make([relu, init]).edit_layer["h"](layer)
    assert edited.get_config()["activation"] == "relu"
    assert type(edited.kernel_initializer).__name__ == "HeUniform"


@pytest.mark.slow
def test_two_faults_at_once_are_proven_together_and_the_needed_change_named():
    """Sigmoid hidden layers trained by plain SGD, on a loss that does not fit
    the one-hot labels: no single fix is enough, all together are; the
    ablation names what was needed."""
    keras = _keras()
    x, y = digits()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,))] + [keras.layers.Dense(32, activation="sigmoid", name=f"h{i}")
                                                     for i in range(4)] +
                             [keras.layers.Dense(10, activation="sigmoid", name="out")])
    model.compile(keras.optimizers.SGD(0.01), "mse", metrics=["accuracy"])
    cb = _fit(model, x, np.eye(10, dtype="float32")[y], config={"verify_steps": 300})
    d, v = _verified(cb)
    assert v.chosen.startswith("combined:"), [(t.fix, t.verdict) for t in v.trials]
    ablations = [t for t in v.trials if t.verdict == "ablation"]
    assert len(ablations) == len(v.fixes[v.chosen].parts) >= 2
    assert any(t.note.endswith(": needed") for t in ablations)
    assert d.root_cause in ("optimizer", "activation") and d.root_cause == v.fix.root_cause


def test_few_updates_of_large_batches_is_noted_and_a_smaller_batch_proven():
    """Three epochs of batches of 512 (12 updates): the checks see no symptom,
    but the note few_updates is worth verifying, and the same epochs at a
    smaller batch train far better."""
    keras = _keras()
    x, y = digits()
    keras.utils.set_random_seed(0)
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    cb = _fit(model, x, y, epochs=3, batch_size=512, config={"verify_budget": 0})
    d, v = _verified(cb)
    assert "few_updates" in {f.kind for f in d.findings}
    assert (v.chosen, d.root_cause, d.status) == ("smaller_batch", "training_config", "buggy"), \
        [(t.fix, t.verdict, t.improvement) for t in v.trials]
    assert "batch size 512 -> 64" in v.fix.change
    assert {t.root_cause for t in v.trials if t.fix != "as_is"} == {"training_config"}  # only the noted cause


def test_notes_worth_verifying_rank_before_the_learned_guess_and_other_notes():
    from types import SimpleNamespace

    from deeplocalize.findings import Finding
    from deeplocalize.verify.engine import ranked_causes

    notes = [Finding(kind="dying_relu", layer="act", root_cause="data_preprocessing", severity="info"),
             Finding(kind="few_updates", layer="training_config", root_cause="training_config", severity="info")]
    healthy = SimpleNamespace(root_cause=None, findings=notes, relevance={"learned": {"root_cause": "activation"}})
    assert ranked_causes(healthy) == ["training_config", "activation", "data_preprocessing"]
    buggy = SimpleNamespace(root_cause="learning_rate", relevance=None, findings=notes + [
        Finding(kind="loss_not_decreasing", layer="optimizer", root_cause="optimizer", severity="warning")])
    assert ranked_causes(buggy) == ["learning_rate", "optimizer", "training_config", "data_preprocessing"]


def test_an_expensive_trial_is_cut_to_fit_the_budget_and_every_trial_trains_as_long():
    """When one seed of the full trial would take longer than seed_seconds, the
    as-is copy stops early (never under MIN_STEPS) and the candidates train
    as many steps (times their own factor)."""
    from deeplocalize.verify import fixes as fixes_mod
    from deeplocalize.verify.sample import DataSample
    from deeplocalize.verify.trials import MIN_STEPS, TrialRunner

    keras = _keras()
    x, y = digits()
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    sample = DataSample(max_examples=512)
    for i in range(0, 512, 32):
        sample.add([x[i:i + 32], y[i:i + 32]], structure=(0, 0))
    margins = {m: {"score": 0.05, "loss": 0.5, "tolerance": 0.02} for m in ("clear", "wide")}
    fixes = {f.name: f for f in fixes_mod.candidates(model, x[:512], y[:512], batch_size=32)[0]}
    cut = TrialRunner(model, sample, steps=300, seeds=(0, 1), margins=margins, seed_seconds=1e-6)
    as_is = cut.run(None)
    assert as_is.verdict == "baseline" and MIN_STEPS <= as_is.steps < 300 and cut.steps == as_is.steps
    assert cut.run(fixes["learning_rate_x10"]).steps == as_is.steps
    assert cut.run(fixes["train_longer"]).steps == 4 * as_is.steps
    assert len(cut.as_is_seed(1)["loss"]) > 0 and cut.as_is.steps == as_is.steps
    whole = TrialRunner(model, sample, steps=300, seeds=(0, 1), margins=margins, seed_seconds=1e6)
    assert whole.run(None).steps == 300


def test_a_proven_fix_of_the_cause_the_symptoms_named_wins_over_a_larger_gain():
    from deeplocalize.verify.verdict import Trial, choose

    def proven(fix, cause, gain, ratio):
        return Trial(fix=fix, root_cause=cause, verdict="proven", improvement={"score_gain": gain, "loss_ratio": ratio})

    trials = [Trial(fix="as_is", verdict="baseline"),
              proven("scale_targets", "data_preprocessing", 0.9, 0.44),
              proven("learning_rate_x0.01", "learning_rate", 0.55, 0.21),
              proven("train_longer", "training_config", 0.95, 0.1),
              Trial(fix="hidden_relu", root_cause="activation", verdict="not better",
                    improvement={"score_gain": 0.0, "loss_ratio": 1.0})]
    assert choose(trials, 0.02).fix == "scale_targets"  # no agreed cause: the largest gain
    assert choose(trials, 0.02, agreed="learning_rate").fix == "learning_rate_x0.01"
    assert choose(trials, 0.02, agreed="activation").fix == "scale_targets"  # its fix was not proven
    # training longer is a last resort, unless the symptom was a run stopped too early
    assert choose(trials[:2] + trials[3:], 0.02, agreed="learning_rate").fix == "scale_targets"
    assert choose(trials, 0.02, agreed="training_config").fix == "train_longer"
    assert choose(trials[:1], 0.02, agreed="learning_rate") is None


def test_a_mistake_read_from_the_program_is_not_overruled_by_a_fix_that_only_trains_faster():
    """Sigmoid outputs under categorical cross-entropy (3 exclusive iris classes): TensorFlow's
    loss reads the logits, so softmax trains the same in the trial, while a learning rate x10
    trains faster. The mismatch stays the root cause; the faster fix is added, not verified."""
    from sklearn.datasets import load_iris

    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = load_iris(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype("float32")
    m = _mlp(out_activation="sigmoid", units=3, inputs=4)
    m.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy", metrics=["accuracy"])
    cb = _fit(m, x, keras.utils.to_categorical(y, 3), epochs=20, batch_size=16)
    d, v = _verified(cb)
    assert v.fix_object.only_faster and v.fix.root_cause != "activation"
    assert (d.root_cause, d.faulty_layer) == ("activation", "out")
    assert not d.verified and v.kept_cause and v.fix.change in d.suggestion
    assert "softmax" in d.suggestion and "Unverified" in d.summary()
    from deeplocalize.report.console import format_summary

    assert "unverified: the root cause stays activation" in format_summary(d)


def test_the_trials_do_not_repeat_what_keras_warned_about_the_model():
    """Keras warns once per trace about a softmax over one unit; the trial copies trace the
    model again and again, and their warnings would bury the user's own."""
    import warnings

    keras = _keras()
    x, y = digits()
    y = (y % 2).astype("float32")

    def run(callbacks):
        keras.utils.set_random_seed(0)
        m = _mlp(out_activation="softmax", units=1)
        m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            m.fit(x, y, epochs=2, batch_size=32, callbacks=callbacks, verbose=0)
        return [w for w in seen if "softmax" in str(w.message) and issubclass(w.category, UserWarning)]

    from deeplocalize import DeepLocalizeCallback

    plain = run([])
    cb = DeepLocalizeCallback(verbose=0, halt="never", config={**FAST, "verify_steps": 40})
    ours = run([cb])
    assert plain and len(ours) == len(plain), (len(plain), [str(w.message)[:80] for w in ours])
    assert len(cb.diagnosis.verification.trials) > 2  # the copies did train


def _xor(keras, n=1200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 2)).astype("float32")
    return x, (x[:, 0] * x[:, 1] > 0).astype("float32")


def test_a_linear_stack_is_noted_and_proven_buggy_only_where_hidden_relus_train_far_better():
    """Two activation-free hidden layers: on XOR (not linearly separable) the
    note's fix, hidden ReLUs, trains far better and the run is buggy; on a
    linearly separable task the same model stays healthy with the note."""
    keras = _keras()

    def linear_net():
        return keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, name="h1"),
                                 keras.layers.Dense(16, name="h2"), keras.layers.Dense(1, activation="sigmoid",
                                                                                        name="out")])
    x, y = _xor(keras)
    keras.utils.set_random_seed(0)
    model = linear_net()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    cb = _fit(model, x, y, epochs=4, config={"verify_budget": 0})
    d, v = _verified(cb)
    assert "linear_model" in {f.kind for f in d.findings}
    assert (v.chosen, d.root_cause, d.faulty_layer, d.status) == ("hidden_relu", "activation", "h1", "buggy")
    separable = (x[:, 0] + x[:, 1] > 0).astype("float32")
    keras.utils.set_random_seed(0)
    model = linear_net()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    cb = _fit(model, x, separable, epochs=4, config={"verify_budget": 0})
    d = cb.diagnosis
    assert d.status == "healthy" and "linear_model" in {f.kind for f in d.findings}
    assert d.verification is not None and not d.verification.verified


def test_a_one_unit_bottleneck_is_noted_and_proven_only_where_widening_it_trains_far_better():
    """A Dense(1) between the hidden layer and a 10-class softmax: widening it
    is proven and names the layer (architecture); where the classes lie along
    one direction, the same narrow layer trains well and the run stays healthy."""
    keras = _keras()
    x, y = digits()

    def necked(classes, act="relu"):
        return keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(32, activation="relu", name="h"),
                                 keras.layers.Dense(1, activation=act, name="neck"),
                                 keras.layers.Dense(classes, activation="softmax", name="out")])
    keras.utils.set_random_seed(0)
    model = necked(10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    d, v = _verified(_fit(model, x, y, epochs=4, config={"verify_budget": 0}))
    assert "narrow_layer" in {f.kind for f in d.findings}
    assert (v.chosen, d.root_cause, d.faulty_layer, d.status) == ("widen_layer", "architecture", "neck", "buggy")
    rng = np.random.default_rng(0)
    line = rng.normal(size=(1500, 4)).astype("float32")
    ordered = np.digitize(line[:, 0], [-0.5, 0.5])  # three classes along one direction
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu", name="h"),
                              keras.layers.Dense(1, name="neck"), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    d = _fit(model, line, ordered, epochs=4, config={"verify_budget": 0}).diagnosis
    assert "narrow_layer" in {f.kind for f in d.findings} and d.status == "healthy", d.summary()


def test_a_nan_made_by_the_loss_function_lets_the_proven_fix_name_the_layer():
    """A NaN/Inf first seen in a layer keeps that layer; one the loss function made
    from finite outputs ("loss", no layer) lets the proven fix name it."""
    from deeplocalize.findings import Diagnosis, Finding
    from deeplocalize.verify.verdict import Trial, Verification, apply_to

    def diagnosed(nan_layer):
        d = Diagnosis(faulty_layer=nan_layer, root_cause="loss_function", findings=[
            Finding(kind="nan", layer=nan_layer, root_cause="loss_function", severity="error", detail="loss")])
        fix = Trial(fix="output_activation", root_cause="activation", layer="out", verdict="proven",
                    change="activation='softmax' on 'out'", suggestion="Use softmax.", steps=100,
                    seeds=[{"start_loss": 2.3, "end_loss": 0.4, "score": 0.9}],
                    improvement={"score_gain": 0.5, "loss_ratio": 0.2})
        as_is = Trial(fix="as_is", verdict="baseline", steps=100, seeds=[{"start_loss": 2.3, "end_loss": 2.3,
                                                                           "score": 0.1}])
        apply_to(d, Verification(trials=[as_is, fix], chosen="output_activation", evidence="..."))
        return d

    assert (diagnosed("loss").faulty_layer, diagnosed("loss").root_cause) == ("out", "activation")
    assert diagnosed("h").faulty_layer == "h"


def test_a_run_stopped_while_still_learning_keeps_its_cause_against_a_faster_fix():
    """A larger learning rate that trains faster confirms an unfinished run (training_config);
    it is added to the suggestion. A proven fix that is not only faster still names the cause."""
    from deeplocalize.findings import Diagnosis, Finding
    from deeplocalize.verify.fix import Fix
    from deeplocalize.verify.verdict import Trial, Verification, apply_to

    def diagnosed(name, cause, **fix_kwargs):
        d = Diagnosis(faulty_layer="training_config", root_cause="training_config", suggestion="Train longer.",
                      findings=[Finding(kind="no_better_than_mean", layer="training_config",
                                        root_cause="training_config", severity="warning", step=99)])
        seeds = [{"start_loss": 9.0, "end_loss": 1.0, "score": 0.8}]
        fix = Trial(fix=name, root_cause=cause, layer="optimizer", verdict="proven", change=name,
                    suggestion="Change it.", steps=100, seeds=seeds, improvement={"score_gain": 0.5, "loss_ratio": 0.2})
        as_is = Trial(fix="as_is", verdict="baseline", steps=100,
                      seeds=[{"start_loss": 9.0, "end_loss": 6.0, "score": 0.1}])
        v = Verification(trials=[as_is, fix], chosen=name, evidence="...",
                         fixes={name: Fix(name, cause, "optimizer", name, "Change it.", **fix_kwargs)})
        apply_to(d, v)
        return d, v

    d, v = diagnosed("learning_rate_x10", "learning_rate", lr_factor=10.0)
    assert (d.root_cause, d.faulty_layer) == ("training_config", "training_config")
    assert "stopped while still learning" in v.kept_cause and "learning_rate_x10" in d.suggestion
    d, v = diagnosed("adam_default", "optimizer")
    assert (d.root_cause, d.faulty_layer, v.kept_cause) == ("optimizer", "optimizer", "")


def test_dropout_that_drops_nearly_everything_is_found_and_verified_by_default():
    """Dropout(0.95) after each hidden layer: accuracy stays at chance while the loss falls from far above a
    uniform guess's; the default (verify="auto") proves the lower dropout rate."""
    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = digits()
    stack = [keras.Input((64,))]
    for i in (1, 2):
        stack += [keras.layers.Dense(64, activation="relu", name=f"h{i}"), keras.layers.Dropout(0.95, name=f"drop{i}")]
    m = keras.Sequential(stack + [keras.layers.Dense(10, activation="softmax", name="out")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    d, v = _verified(_fit(m, x, y, epochs=8))
    assert "accuracy_not_increasing" in {f.kind for f in d.findings}
    assert (d.root_cause, d.faulty_layer) == ("architecture", "drop1")


def test_a_generalization_symptom_is_not_judged_by_the_trials():
    """Permuted labels: training accuracy climbs, validation accuracy stays at chance. A lower learning rate
    'improves' the held-back loss of such a model (it memorizes less), so no trial may name the cause."""
    keras = _keras()
    from deeplocalize import DeepLocalizeCallback

    keras.utils.set_random_seed(0)
    x, y = digits()
    m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu", name="hidden"),
                          keras.layers.Dense(10, activation="softmax", name="out")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    cb = DeepLocalizeCallback(verbose=0, config=FAST)
    m.fit(x, np.random.default_rng(0).permutation(y), epochs=30, batch_size=32, validation_split=0.2,
          callbacks=[cb], verbose=0)
    d = cb.diagnosis
    assert d.primary.kind == "memorized" and d.root_cause == "labels"
    assert not d.verified and "memorized" in d.verification.note and d.verification.trials == []


def test_a_schedule_that_decays_the_learning_rate_to_nothing_is_named_and_a_constant_rate_proven():
    """ExponentialDecay(0.05, decay_steps=2, decay_rate=0.1): decay_steps meant in epochs, counted in steps, so
    the rate is 5e-11 by step 20 and the weights stop moving. The rules read the rate at the symptom, not the
    first one; the trial that keeps the rate at 0.05 proves it."""
    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = digits()
    model = _mlp()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.1)
    model.compile(keras.optimizers.SGD(schedule, momentum=0.9), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    cb = _fit(model, x, y, epochs=4)
    d = cb.diagnosis
    frozen = next(f for f in d.findings if f.kind == "weights_unchanged")
    assert frozen.root_cause == "learning_rate" and "schedule had decayed" in frozen.evidence["root_cause_rule"]
    assert d.verification.fix.fix == "learning_rate_constant" and d.root_cause == "learning_rate"
    assert "Keep the learning rate at 0.05" in d.suggestion


def test_a_softmax_on_a_hidden_layer_is_a_note_that_a_trial_proves():
    """No trend symptom (the loss creeps down, accuracy creeps up), but hidden_softmax is worth verifying:
    ReLU there trains far better, so the run is buggy, activation at that layer."""
    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = digits()
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu", name="h1"),
                              keras.layers.Dense(32, activation="softmax", name="h2"),
                              keras.layers.Dense(10, activation="softmax", name="out")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    d = _fit(model, x, y, epochs=3).diagnosis
    assert "hidden_softmax" in {f.kind for f in d.findings}
    assert (d.status, d.root_cause, d.faulty_layer, d.verification.fix.fix) == ("buggy", "activation", "h2", "hidden_relu")


def test_inputs_far_below_unit_scale_are_a_note_that_standardizing_proves():
    """Pixels divided by 255 twice (digits: at most 16 / 255 / 255): no trend symptom, the loss creeps down,
    but the pre-flight note is worth verifying and standardized inputs train far better."""
    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = digits()
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    d = _fit(model, x * 16 / 255 / 255, y, epochs=3).diagnosis  # digits() is scaled to [0, 1]: back to 0-16
    assert any(f.kind == "unnormalized_input" and f.severity == "info" for f in d.findings)
    assert (d.status, d.root_cause, d.faulty_layer, d.verification.fix.fix) == (
        "buggy", "data_preprocessing", "data", "standardize_inputs")


def test_an_adam_epsilon_that_dwarfs_the_gradients_is_a_note_that_a_default_adam_proves():
    keras = _keras()
    keras.utils.set_random_seed(0)
    x, y = digits()
    model = _mlp()
    model.compile(keras.optimizers.Adam(1e-3, epsilon=1.0), "sparse_categorical_crossentropy", metrics=["accuracy"])
    d = _fit(model, x, y, epochs=3).diagnosis
    assert any(f.kind == "optimizer_setting" and f.evidence["setting"] == "epsilon=1" for f in d.findings)
    assert (d.status, d.root_cause, d.verification.fix.fix) == ("buggy", "optimizer", "adam_default")


def test_a_relu_output_noted_on_a_lucky_first_batch_is_still_proven_wrong_by_a_trial():
    """Standardized targets (half below 0) under a relu output, but the first batch happens to hold one
    negative target: the pre-flight check can only note it (a cap on the fit, from that batch); the note is
    worth verifying, and a linear output trains far better on the run's own data."""
    keras = _keras()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8)).astype("float32")
    y = x @ rng.normal(size=8).astype("float32")
    y = ((y - y.mean()) / y.std()).astype("float32")
    order = np.r_[np.flatnonzero(y > 0)[:15], np.flatnonzero(y < 0)[:1]]
    order = np.r_[order, np.setdiff1d(np.arange(512), order)]
    x, y = x[order], y[order]
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="hidden"),
                              keras.layers.Dense(1, activation="relu", name="out")])
    model.compile("adam", "mse")
    from deeplocalize import DeepLocalizeCallback

    cb = DeepLocalizeCallback(verbose=0, config=FAST)
    model.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0, callbacks=[cb])
    d = cb.diagnosis
    assert any(f.kind == "loss_activation_mismatch" and f.severity == "info" for f in d.findings)
    assert (d.status, d.root_cause, d.faulty_layer, d.verification.fix.fix) == ("buggy", "activation", "out",
                                                                                "output_activation")

"""Each check on hand-made traces: it fires on its symptom, stays silent otherwise."""

import numpy as np
import pytest

from deeplocalize.checks import numerical, preflight, progress, trends
from deeplocalize.config import load_config
from deeplocalize.trace import STAT_INDEX
from deeplocalize.vocab import VERIFIABLE_NOTES
from synthetic import make_trace

CFG = load_config()


def kinds(findings):
    return [f.kind for f in findings]


def test_healthy_synthetic_trace_has_no_trend_findings():
    assert trends.run_all(make_trace(), CFG, final=True) == []


# ---- numerical -------------------------------------------------------------------------
def test_nan_in_forward_names_first_layer_and_step():
    t = make_trace(n_steps=10, layers=(("a", "relu"), ("b", "relu"), ("c", "softmax")))
    t.layer_stats[7, 1, STAT_INDEX["act_nan"]] = 3
    t.layer_stats[7, 2, STAT_INDEX["act_nan"]] = 30
    assert not numerical.has_nonfinite(t, 6)
    f = numerical.check_nonfinite(t, 7)
    assert (f.kind, f.layer, f.detail, f.step, f.severity) == ("nan", "b", "activation", 7, "error")


def test_nan_after_an_output_not_read_does_not_claim_that_output_was_finite():
    t = make_trace(n_steps=10, layers=(("a", "relu"), ("norm", None), ("add", None), ("c", "softmax")))
    t.layer_stats[:, 1, STAT_INDEX["act_nan"]] = np.nan  # left unread (see probes.graph.continued_in_place)
    t.layer_stats[7, 2, STAT_INDEX["act_nan"]] = 4
    f = numerical.check_nonfinite(t, 7)
    assert (f.kind, f.layer, f.step) == ("nan", "add", 7)
    assert "'norm' before it was not read" in f.message and "was finite" not in f.message
    t.layer_stats[:, 1, STAT_INDEX["act_nan"]] = 0.0  # read, and finite
    assert "its input from layer 'norm' was finite" in numerical.check_nonfinite(t, 7).message


def test_backward_fault_is_attributed_to_the_layer_that_produced_it():
    t = make_trace(n_steps=5, layers=(("a", "relu"), ("b", None), ("c", "softmax")))
    t.layer_stats[3, 0, STAT_INDEX["grad_inf"]] = 5  # gradient b passed down to a
    f = numerical.check_nonfinite(t, 3)
    assert (f.kind, f.layer, f.detail) == ("inf", "b", "output_gradient")
    assert f.evidence["gradient_wrt_output_of"] == "a"


def test_weight_gradient_before_deeper_output_gradient():
    t = make_trace(n_steps=5, layers=(("a", "relu"), ("b", "relu"), ("c", "softmax")))
    t.layer_stats[2, 2, STAT_INDEX["gw_nan"]] = 1
    t.layer_stats[2, 0, STAT_INDEX["grad_nan"]] = 1
    f = numerical.check_nonfinite(t, 2)
    assert (f.layer, f.detail) == ("c", "weight_gradient")


def test_nonfinite_weights_blame_previous_update():
    t = make_trace(n_steps=5)
    t.layer_stats[4, 0, STAT_INDEX["w_inf"]] = 2
    t.layer_stats[4, 1, STAT_INDEX["act_nan"]] = 2
    f = numerical.check_nonfinite(t, 4)
    assert (f.kind, f.layer, f.detail, f.step) == ("inf", "dense", "weight", 3)


def test_loss_only_nan_is_the_loss_function():
    t = make_trace(n_steps=5)
    t.steps["loss"][2] = np.nan
    f = numerical.check_nonfinite(t, 2)
    assert (f.kind, f.layer, f.detail) == ("nan", "loss", "loss")


def test_a_loss_that_overflows_on_huge_outputs_names_the_output_layer():
    t = make_trace(n_steps=5, layers=(("h", "relu"), ("out", "linear")))
    t.steps["loss"][3] = np.inf
    t.layer_stats[3, 1, STAT_INDEX["act_max"]] = 4e19
    f = numerical.check_nonfinite(t, 3)
    assert (f.kind, f.layer, f.detail) == ("inf", "out", "loss")
    assert "grown to 4e+19" in f.message and f.evidence["output_abs_max"] == 4e19
    t.layer_stats[3, 1, STAT_INDEX["act_max"]] = np.nan  # not recorded on that step: the loss, as before
    assert numerical.check_nonfinite(t, 3).layer == "loss"


def test_nan_in_input_batch_is_data():
    t = make_trace(n_steps=5, steps={"x0_min": np.array([0, 0, np.nan, 0, 0.0]), "x0_max": np.ones(5)})
    f = numerical.check_nonfinite(t, 2)
    assert (f.layer, f.root_cause) == ("data", "data_preprocessing")


def _first_batch_only():
    """A trace watched from outside the step: only the first batch's statistics exist (batch size NaN elsewhere)."""
    unrecorded = np.array([0, np.nan, np.nan, np.nan, np.nan])
    return make_trace(n_steps=5, steps={"x0_min": unrecorded, "x0_max": unrecorded, "batch_size": 32 + unrecorded})


def test_input_statistics_not_recorded_on_a_step_are_not_a_nan_input():
    t = _first_batch_only()
    t.layer_stats[3, 1, STAT_INDEX["act_nan"]] = 4
    f = numerical.check_nonfinite(t, 3)
    assert (f.kind, f.layer, f.detail) == ("nan", "out", "activation")


def test_nan_out_of_the_first_layer_of_a_batch_not_inspected_is_the_data():
    # watched from outside: only the first batch was inspected; on step 3 the first Dense layer, from finite
    # weights, outputs NaN, which it makes of finite inputs only by overflowing: the batch holds NaN
    t = _first_batch_only()
    t.layer_stats[3, 0, STAT_INDEX["act_nan"]] = 4
    f = numerical.check_nonfinite(t, 3)
    assert (f.kind, f.layer, f.root_cause) == ("nan", "data", "data_preprocessing")
    assert "not inspected" in f.message and "was finite" not in f.message
    t.steps["batch_size"][3], t.steps["x0_min"][3], t.steps["x0_max"][3] = 32.0, 0.0, 1.0  # inspected, finite
    assert (numerical.check_nonfinite(t, 3).layer, numerical.check_nonfinite(t, 3).detail) == ("dense", "activation")
    t.steps["batch_size"][3] = t.steps["x0_min"][3] = t.steps["x0_max"][3] = np.nan
    t.layer_stats[1, 0, STAT_INDEX["act_max"]] = 3e16  # its outputs had grown near overflowing: no inference
    assert numerical.check_nonfinite(t, 3).layer == "dense"
    t.layer_stats[1, 0, STAT_INDEX["act_max"]] = 3.0
    t.layers[0].class_name = "Lambda"  # a first layer that can make NaN of itself (a log, a division)
    assert numerical.check_nonfinite(t, 3).layer == "dense"


# ---- trends ------------------------------------------------------------------------------
def test_loss_not_decreasing_fires_on_flat_noisy_loss_and_not_on_falling_loss():
    rng = np.random.default_rng(1)
    flat = 0.69 + 0.01 * rng.standard_normal(100)
    assert kinds(trends.check_loss_not_decreasing(make_trace(loss=flat), CFG)) == ["loss_not_decreasing"]
    assert trends.check_loss_not_decreasing(make_trace(), CFG) == []


def test_constant_loss_is_an_error_even_on_a_short_run():
    f = trends.check_loss_not_decreasing(make_trace(n_steps=25, loss=np.full(25, 7.67)), CFG)
    assert kinds(f) == ["loss_not_decreasing"] and f[0].severity == "error" and f[0].detail == "constant"


def test_converged_loss_is_not_flagged():
    assert trends.check_loss_not_decreasing(make_trace(loss=np.full(100, 1e-8)), CFG) == []


def test_rising_loss_is_flagged_as_rising():
    f = trends.check_loss_not_decreasing(make_trace(loss=np.linspace(1, 3, 100)), CFG)
    assert f and f[0].detail == "rising"


def test_accuracy_not_increasing_per_epoch():
    stuck = [{"accuracy": 0.5, "loss": 0.69}] * 4
    rising = [{"accuracy": a, "loss": 1 - a} for a in (0.5, 0.6, 0.7, 0.8)]
    flat_loss = 0.69 + 0.01 * np.random.default_rng(1).random(100)
    assert kinds(trends.check_accuracy_not_increasing(make_trace(epochs=stuck, loss=flat_loss), CFG)) == [
        "accuracy_not_increasing"]
    assert trends.check_accuracy_not_increasing(make_trace(epochs=rising), CFG) == []
    already_good = [{"accuracy": 0.99}] * 4
    assert trends.check_accuracy_not_increasing(make_trace(epochs=already_good), CFG) == []


def test_a_flat_loss_with_rising_accuracy_is_slow_learning_not_stuck():
    flat = 0.693 - 0.004 * np.linspace(0, 1, 100)  # 0.6% better: under loss_min_improvement
    rising = [{"accuracy": a, "loss": 0.69} for a in (0.50, 0.55, 0.61, 0.66)]
    found = trends.check_loss_not_decreasing(make_trace(loss=flat, epochs=rising), CFG)
    assert [(f.kind, f.severity) for f in found] == [("loss_not_decreasing", "info")]
    assert "learning, slowly" in found[0].message
    noisy = [{"accuracy": a, "loss": 0.69} for a in (0.50, 0.51, 0.52, 0.51)]
    found = trends.check_loss_not_decreasing(make_trace(loss=flat, epochs=noisy), CFG)
    assert [(f.kind, f.severity) for f in found] == [("loss_not_decreasing", "warning")]


def test_accuracy_at_chance_is_not_stuck_while_the_loss_still_falls_fast():
    # a short healthy fit: three epochs, the loss still falling, accuracy not yet off chance
    stuck = [{"accuracy": 0.5, "loss": 0.69}] * 3
    falling = np.linspace(1.0, 0.67, 24)
    assert trends.check_accuracy_not_increasing(make_trace(n_steps=24, epochs=stuck, loss=falling), CFG) == []
    notes = progress.run_final(make_trace(n_steps=24, epochs=stuck, loss=falling), CFG)
    assert [f.kind for f in notes] == ["still_learning"]  # the note that says "train longer" instead
    levelled = np.r_[np.linspace(1.0, 0.69, 12), np.full(12, 0.69)]
    assert kinds(trends.check_accuracy_not_increasing(make_trace(n_steps=24, epochs=stuck, loss=levelled), CFG)) == [
        "accuracy_not_increasing"]


def test_oscillating_loss_per_epoch():
    swing = [{"loss": v} for v in (1.0, 2.0, 1.0, 2.1, 0.9, 2.0, 1.0)]
    smooth = [{"loss": v} for v in (1.0, 0.8, 0.7, 0.65, 0.6, 0.58, 0.57)]
    assert kinds(trends.check_oscillating_loss(make_trace(epochs=swing), CFG)) == ["oscillating_loss"]
    assert trends.check_oscillating_loss(make_trace(epochs=smooth), CFG) == []
    # a loss that fell from 0.69 to about 0.11 and jitters there (permuted labels, memorized): not overshooting
    settled = [{"loss": v} for v in (0.685, 0.55, 0.4, 0.25, 0.121, 0.109, 0.106, 0.115, 0.102, 0.124)]
    assert trends.check_oscillating_loss(make_trace(epochs=settled), CFG) == []


def test_overfitting_needs_rising_val_loss_and_falling_train_loss():
    over = [{"loss": 1 / (e + 1), "val_loss": v} for e, v in enumerate((1.0, 0.8, 0.7, 0.8, 0.9, 1.0, 1.1))]
    fine = [{"loss": 1 / (e + 1), "val_loss": 1 / (e + 1.2)} for e in range(7)]
    assert kinds(trends.check_overfitting(make_trace(epochs=over), CFG)) == ["overfitting"]
    assert trends.check_overfitting(make_trace(epochs=fine), CFG) == []


def test_exploding_gradient():
    grow = {0: np.geomspace(0.1, 1e4, 100)}
    f = trends.check_exploding_gradient(make_trace(gw_norm=grow), CFG)
    assert kinds(f) == ["exploding_gradient"] and f[0].layer == "dense"
    assert trends.check_exploding_gradient(make_trace(gw_norm={0: np.geomspace(0.1, 1.0, 100)}), CFG) == []


def test_vanishing_gradient_in_early_layer():
    layers = (("a", "sigmoid"), ("b", "sigmoid"), ("c", "sigmoid"), ("out", "softmax"))
    f = trends.check_vanishing_gradient(make_trace(layers=layers, gw_norm={0: 1e-9, 1: 1e-3, 2: 0.1, 3: 0.5}), CFG)
    assert kinds(f) == ["vanishing_gradient"] and f[0].layer == "a"
    assert trends.check_vanishing_gradient(make_trace(layers=layers), CFG) == []


def test_no_gradient_anywhere_is_vanishing():
    f = trends.check_vanishing_gradient(make_trace(gw_norm=0.0, loss=np.full(100, 0.7)), CFG)
    assert kinds(f) == ["vanishing_gradient"]


def test_exploding_activation():
    f = trends.check_exploding_activation(make_trace(act_max={0: np.geomspace(1, 1e8, 100)}), CFG)
    assert kinds(f) == ["exploding_activation"]
    assert trends.check_exploding_activation(make_trace(act_max={0: np.full(100, 1e7)}), CFG) == []  # big, not growing


def test_dying_relu_per_layer_and_small_batch_rule():
    f = trends.check_dying_relu(make_trace(act_dead_frac={0: 0.8}), CFG)
    assert kinds(f) == ["dying_relu"] and f[0].layer == "dense"
    assert trends.check_dying_relu(make_trace(act_dead_frac={0: 0.5}), CFG) == []
    tiny = {"batch_size": np.ones(100)}
    assert trends.check_dying_relu(make_trace(steps=tiny, act_dead_frac={0: 0.6}, act_zero_frac={0: 0.6}), CFG) == []
    assert kinds(trends.check_dying_relu(make_trace(steps=tiny, act_zero_frac={0: 0.99}), CFG)) == ["dying_relu"]


def test_dying_relu_ignores_non_relu_layers():
    t = make_trace(layers=(("a", "tanh"), ("out", "softmax")), act_dead_frac={0: 0.9})
    assert trends.check_dying_relu(t, CFG) == []


def test_saturated_hidden_layer_but_not_output():
    layers = (("h", "sigmoid"), ("out", "sigmoid"))
    assert kinds(trends.check_saturated_activation(make_trace(layers=layers, act_sat_frac={0: 0.9}), CFG)) == \
        ["saturated_activation"]
    assert trends.check_saturated_activation(make_trace(layers=layers, act_sat_frac={0: 0.1, 1: 0.99}), CFG) == []


def test_weights_unchanged():
    f = trends.check_weights_unchanged(make_trace(update_ratio={0: 0.0}), CFG)
    assert kinds(f) == ["weights_unchanged"] and f[0].layer == "dense"
    assert trends.check_weights_unchanged(make_trace(), CFG) == []


# ---- pre-flight ----------------------------------------------------------------------------
def _meta(act, units, loss, from_logits=False, **kw):
    return {"output_layers": ["out"], "output_activations": [act], "output_shapes": [[None, units]],
            "loss": [{"name": loss, "from_logits": from_logits}], "optimizer": "Adam", "learning_rate": 1e-3, **kw}


@pytest.mark.parametrize("act,units,loss,logits,expect", [
    ("softmax", 1, "binary_crossentropy", False, "activation"),
    ("linear", 10, "categorical_crossentropy", False, "activation"),
    ("relu", 10, "sparse_categorical_crossentropy", False, "activation"),
    ("softmax", 10, "sparse_categorical_crossentropy", True, "loss_function"),
    ("linear", 1, "binary_crossentropy", False, "activation"),
    ("softmax", 3, "mean_squared_error", False, "activation"),
    ("sigmoid", 3, "categorical_crossentropy", False, "activation"),
    ("sigmoid", 3, "sparse_categorical_crossentropy", False, "activation"),
])
def test_loss_activation_mismatch(act, units, loss, logits, expect):
    t = make_trace(n_steps=1, layers=(("h", "relu"), ("out", act)))
    f = preflight.check_model(_meta(act, units, loss, logits), t.layers, CFG)
    assert kinds(f) == ["loss_activation_mismatch"] and f[0].root_cause == expect and f[0].layer == "out"


@pytest.mark.parametrize("act,units,loss,logits", [
    ("softmax", 10, "sparse_categorical_crossentropy", False),
    ("linear", 10, "sparse_categorical_crossentropy", True),
    ("sigmoid", 1, "binary_crossentropy", False),
    ("linear", 1, "mean_squared_error", False),
])
def test_matching_pairs_are_silent(act, units, loss, logits):
    t = make_trace(n_steps=1, layers=(("h", "relu"), ("out", act)))
    assert preflight.check_model(_meta(act, units, loss, logits), t.layers, CFG) == []


def test_learning_rate_out_of_range_both_ways():
    t = make_trace(n_steps=1)
    high = preflight.check_model(_meta("softmax", 2, "categorical_crossentropy", learning_rate=0.5), t.layers, CFG)
    low = preflight.check_model(_meta("softmax", 2, "categorical_crossentropy", learning_rate=1e-9), t.layers, CFG)
    assert kinds(high) == kinds(low) == ["learning_rate_out_of_range"]
    assert "above" in high[0].message and "below" in low[0].message
    assert high[0].severity == "info"  # evidence for other symptoms, not a bug by itself


def test_zero_initialized_hidden_layer_cannot_learn():
    t = make_trace(n_steps=1)
    t.layers[0].kernel_initializer = "Zeros"
    f = preflight.check_model(_meta("softmax", 2, "categorical_crossentropy"), t.layers, CFG)
    assert kinds(f) == ["untrainable_layer"] and f[0].layer == "dense" and f[0].root_cause == "initialization"
    t.layers[0].kernel_initializer = "GlorotUniform"
    t.layers[1].kernel_initializer = "Zeros"  # last layer zero-initialized: fine
    assert preflight.check_model(_meta("softmax", 2, "categorical_crossentropy"), t.layers, CFG) == []


def _batch(y_min, y_max, width, int_frac=1.0, rowsum=1.0, x_max=1.0):
    return {"y0_min": np.array([y_min]), "y0_max": np.array([y_max]), "y0_width": np.array([width]),
            "y0_int_frac": np.array([int_frac]), "y0_rowsum": np.array([rowsum]),
            "x0_min": np.array([-x_max]), "x0_max": np.array([x_max]), "x0_std": np.array([1.0])}


def test_integer_labels_with_categorical_crossentropy():
    t = make_trace(n_steps=1, steps=_batch(0, 9, 1, rowsum=np.nan), meta=_meta("softmax", 10, "categorical_crossentropy"))
    f = preflight.check_first_batch(t, CFG)
    assert kinds(f) == ["invalid_labels"] and f[0].root_cause == "labels"


def test_sparse_label_out_of_range_and_valid_labels():
    bad = make_trace(n_steps=1, steps=_batch(0, 10, 1), meta=_meta("softmax", 10, "sparse_categorical_crossentropy"))
    ok = make_trace(n_steps=1, steps=_batch(0, 9, 1), meta=_meta("softmax", 10, "sparse_categorical_crossentropy"))
    assert kinds(preflight.check_first_batch(bad, CFG)) == ["invalid_labels"]
    assert preflight.check_first_batch(ok, CFG) == []


def test_labels_counted_from_one_are_told_to_start_at_zero():
    one_based = make_trace(n_steps=1, steps=_batch(1, 10, 1), meta=_meta("softmax", 10, "sparse_categorical_crossentropy"))
    f = preflight.check_first_batch(one_based, CFG)
    assert kinds(f) == ["invalid_labels"] and "counted from 1" in f[0].message, f
    assert "y - 1" in f[0].suggestion and "11 units" in f[0].suggestion
    zero_based = make_trace(n_steps=1, steps=_batch(0, 10, 1), meta=_meta("softmax", 10, "sparse_categorical_crossentropy"))
    assert "as many units as there are classes (11)" in preflight.check_first_batch(zero_based, CFG)[0].suggestion


def test_one_hot_classes_scored_as_independent_sigmoids():
    meta = _meta("sigmoid", 5, "binary_crossentropy")
    one_hot = make_trace(n_steps=1, layers=(("h", "relu"), ("out", "sigmoid")), steps=_batch(0, 1, 5), meta=meta)
    f = preflight.check_first_batch(one_hot, CFG)
    assert kinds(f) == ["loss_activation_mismatch"] and f[0].layer == "out" and f[0].root_cause == "activation"
    assert "softmax" in f[0].suggestion
    multi_label = make_trace(n_steps=1, layers=(("h", "relu"), ("out", "sigmoid")), steps=_batch(0, 1, 5, rowsum=1.8),
                             meta=meta)
    assert preflight.check_first_batch(multi_label, CFG) == []  # several labels per row: sigmoid fits
    two = make_trace(n_steps=1, steps=_batch(0, 1, 2), meta=_meta("sigmoid", 2, "binary_crossentropy"))
    assert preflight.check_first_batch(two, CFG) == []  # two columns: the same binary task, not a bug


def test_regression_targets_outside_output_range():
    t = make_trace(n_steps=1, layers=(("h", "relu"), ("out", "sigmoid")),
                   steps=_batch(20, 300, 1, int_frac=0.0), meta=_meta("sigmoid", 1, "mean_squared_error"))
    f = preflight.check_first_batch(t, CFG)
    assert kinds(f) == ["loss_activation_mismatch"] and f[0].root_cause == "activation"


def test_binary_labels_trained_on_absolute_error():
    meta = _meta("sigmoid", 1, "mean_absolute_error")
    t = make_trace(n_steps=1, layers=(("h", "sigmoid"), ("out", "sigmoid")), steps=_batch(0, 1, 1), meta=meta)
    f = preflight.check_first_batch(t, CFG)
    assert kinds(f) == ["loss_activation_mismatch"] and f[0].layer == "loss" and f[0].root_cause == "loss_function"
    assert "binary_crossentropy" in f[0].suggestion and f[0].severity == "warning"
    squared = make_trace(n_steps=1, layers=(("h", "sigmoid"), ("out", "sigmoid")), steps=_batch(0, 1, 1),
                         meta=_meta("sigmoid", 1, "mean_squared_error"))
    assert preflight.check_first_batch(squared, CFG) == []  # a common, workable choice: not flagged
    counts = make_trace(n_steps=1, layers=(("h", "relu"), ("out", "linear")), steps=_batch(0, 7, 1),
                        meta=_meta("linear", 1, "mean_absolute_error"))
    assert preflight.check_first_batch(counts, CFG) == []  # integer regression targets, not 0/1
    fractions = make_trace(n_steps=1, layers=(("h", "relu"), ("out", "sigmoid")),
                           steps=_batch(0, 1, 1, int_frac=0.3), meta=meta)
    assert preflight.check_first_batch(fractions, CFG) == []  # targets in [0, 1], not labels


def test_unnormalized_input_and_normalizing_first_layer():
    t = make_trace(n_steps=1, steps=_batch(0, 1, 2, x_max=255.0), meta=_meta("softmax", 2, "categorical_crossentropy"))
    assert kinds(preflight.check_first_batch(t, CFG)) == ["unnormalized_input"]
    assert preflight.check_first_batch(t, CFG)[0].severity == "info"  # raw pixels: evidence only
    huge = make_trace(n_steps=1, steps=_batch(0, 1, 2, x_max=3e9), meta=_meta("softmax", 2, "categorical_crossentropy"))
    assert preflight.check_first_batch(huge, CFG)[0].severity == "warning"
    t.layers[0].class_name = "BatchNormalization"
    assert preflight.check_first_batch(t, CFG) == []
    small = make_trace(n_steps=1, steps=_batch(0, 1, 2, x_max=3.0), meta=_meta("softmax", 2, "categorical_crossentropy"))
    assert preflight.check_first_batch(small, CFG) == []
    # pixels divided by 255 twice: far below unit scale, a note worth verifying
    tiny = make_trace(n_steps=1, steps=_batch(0, 1, 2, x_max=16 / 255 / 255), meta=_meta("softmax", 2, "categorical_crossentropy"))
    (f,) = preflight.check_first_batch(tiny, CFG)
    assert (f.kind, f.severity, f.root_cause) == ("unnormalized_input", "info", "data_preprocessing")
    assert "far below unit scale" in f.message
    zeros = make_trace(n_steps=1, steps=_batch(0, 1, 2, x_max=0.0), meta=_meta("softmax", 2, "categorical_crossentropy"))
    assert preflight.check_first_batch(zeros, CFG) == []  # no values at all: nothing to scale


def test_inputs_on_a_large_shared_offset_are_a_note_worth_verifying():
    meta = _meta("sigmoid", 1, "binary_crossentropy")

    def batch(mean, std, x_max):
        return make_trace(n_steps=1, meta=meta, steps={**_batch(0, 1, 1, rowsum=np.nan, x_max=x_max),
                                                       "x0_mean": np.array([mean]), "x0_std": np.array([std])})

    # raw measurements between 65 and 70: 67.5 +- 1.5, inside input_abs_max
    (f,) = preflight.check_first_batch(batch(67.5, 1.5, 70.0), CFG)
    assert (f.kind, f.detail, f.severity, f.root_cause) == ("unnormalized_input", "offset", "info", "data_preprocessing")
    assert "67.5 +- 1.5" in f.message and "unnormalized_input" in VERIFIABLE_NOTES
    assert preflight.check_first_batch(batch(0.1, 1.0, 3.0), CFG) == []  # standardized
    assert preflight.check_first_batch(batch(0.45, 0.04, 0.7), CFG) == []  # narrow, but within +-1 of 0
    assert preflight.check_first_batch(batch(120.0, 70.0, 99.0), CFG) == []  # spread as widely as its offset
    assert preflight.check_first_batch(batch(5.0, 0.0, 5.0), CFG) == []  # constant: nothing tells examples apart
    assert preflight.check_first_batch(batch(67.5, 1.5, 70.0), {**CFG, "input_offset_ratio": 100.0}) == []

def test_token_ids_declared_integer_are_not_unnormalized_input():
    meta = {**_meta("softmax", 2, "sparse_categorical_crossentropy"), "input_dtypes": ["int64"]}
    ids = make_trace(n_steps=1, steps=_batch(0, 1, 2, x_max=399.0), meta=meta)
    assert "unnormalized_input" not in kinds(preflight.check_first_batch(ids, CFG))
    features = make_trace(n_steps=1, steps=_batch(0, 1, 2, x_max=399.0), meta={**meta, "input_dtypes": ["float32"]})
    assert "unnormalized_input" in kinds(preflight.check_first_batch(features, CFG))


def test_layer_symptoms_are_info_while_the_loss_falls_well():
    falling = make_trace(act_dead_frac={0: 0.9})  # default loss falls from 2.3 to ~0.1
    flat = make_trace(act_dead_frac={0: 0.9}, loss=np.full(100, 0.7) + 0.01 * np.sin(np.arange(100)))
    f_fall = [f for f in trends.run_all(falling, CFG) if f.kind == "dying_relu"]
    f_flat = [f for f in trends.run_all(flat, CFG) if f.kind == "dying_relu"]
    assert f_fall[0].severity == "info" and "fell by" in f_fall[0].message
    assert f_flat[0].severity == "warning"


def test_a_loss_that_fell_only_to_the_labels_variance_does_not_excuse_dead_units():
    # A regression whose hidden units all died: the output's bias still learns the labels' mean,
    # so the loss falls (here 96%) to their variance (1.0 - 0.3**2 = 0.91) and stops there.
    def dying(loss):
        trace = _regression(loss)
        trace.layer_stats[:, 0, STAT_INDEX["act_dead_frac"]] = 0.9
        return [f for f in trends.run_all(trace, CFG) if f.kind == "dying_relu"]

    (bias_only,) = dying(np.geomspace(25.0, 0.92, 100))
    assert bias_only.severity == "warning" and "fell by" not in bias_only.message
    (learned,) = dying(np.geomspace(25.0, 0.3, 100))  # well below the variance: the units that live learn
    assert learned.severity == "info" and "fell by" in learned.message
    # the labels unseen (no variance to compare with): as before, a fall by half excuses them
    unseen = make_trace(loss=np.geomspace(25.0, 0.92, 100), act_dead_frac={0: 0.9}, meta={"loss": [{"name": "mse"}]})
    assert [f.severity for f in trends.run_all(unseen, CFG) if f.kind == "dying_relu"] == ["info"]


# ---- end of run ------------------------------------------------------------------------------
def test_still_learning_notes_a_loss_still_falling_fast_at_the_end_only():
    from deeplocalize.checks import progress

    steps = np.arange(200)
    falling = make_trace(n_steps=200, loss=2.3 - 0.008 * steps)  # straight down to the last step
    (f,) = progress.run_final(falling, CFG)
    assert (f.kind, f.severity, f.root_cause, f.layer) == ("still_learning", "info", "training_config",
                                                           "training_config")
    assert f.step == 150 and f.evidence["drop"] > CFG["still_learning_drop"]
    converged = make_trace(n_steps=200, loss=0.3 + 2.0 * np.exp(-steps / 20))  # flat for the last half
    assert progress.run_final(converged, CFG) == []
    assert progress.run_final(make_trace(n_steps=6, loss=np.linspace(2, 1, 6)), CFG) == []  # too short to judge
    assert progress.run_final(falling, {**CFG, "still_learning_drop": 0.5}) == []
    # still halving, but at a hundredth of where it began: little left to learn
    tiny = make_trace(n_steps=200, loss=1.1 * np.exp(-steps / 25))
    assert progress.run_final(tiny, CFG) == []
    assert [f.kind for f in progress.run_final(tiny, {**CFG, "still_learning_floor": 0.0})] == ["still_learning"]


def test_few_updates_notes_a_whole_run_of_few_steps_worth_verifying():
    from deeplocalize.checks import progress
    from deeplocalize.vocab import VERIFIABLE_NOTES

    flat, large = np.full(30, 1.2), {"batch_size": np.full(30, 512.0)}
    few = make_trace(n_steps=30, loss=flat, steps=large, meta={"params": {"steps": 6, "epochs": 5}})
    (f,) = progress.run_final(few, CFG)
    assert (f.kind, f.severity, f.root_cause, f.step) == ("few_updates", "info", "training_config", 29)
    assert "only 30 weight updates (6 per epoch), with batches of 512" in f.message
    assert "few_updates" in VERIFIABLE_NOTES
    small = make_trace(n_steps=30, loss=flat, steps={"batch_size": np.full(30, 32.0)})  # a quick trial fit
    assert progress.run_final(small, CFG) == []
    assert progress.run_final(make_trace(n_steps=60, loss=np.full(60, 1.2), steps=large), CFG) == []
    sampled = make_trace(n_steps=30, loss=flat, steps=large, meta={"steps_run": 300})  # 30 of 300 recorded
    assert progress.run_final(sampled, CFG) == []
    assert progress.run_final(few, {**CFG, "few_updates_steps": 30}) == []
    assert progress.run_final(make_trace(n_steps=30, loss=np.full(30, 1e-9), steps=large), CFG) == []
    # still falling fast when it stopped: not a note but a symptom (status buggy)
    falling = make_trace(n_steps=30, loss=np.linspace(2.3, 1.2, 30), steps=large)
    unfinished = [f for f in progress.run_final(falling, CFG) if f.kind == "few_updates"]
    assert [f.severity for f in unfinished] == ["warning"] and "still falling fast" in unfinished[0].message
    assert [f.severity for f in progress.run_final(falling, {**CFG, "still_learning_drop": 0.9})] == ["info"]


def test_a_model_trained_before_the_run_is_not_flagged_for_its_plateau():
    rng = np.random.default_rng(1)
    meta = {"loss": [{"name": "sparse_categorical_crossentropy"}], "output_shapes": [[None, 10]]}
    acc = {"accuracy": np.full(200, 0.93) + 0.01 * rng.random(200)}
    plateau = 0.2 + 0.0005 * rng.random(200)  # far below ln(10) = 2.30 from the first step
    trained = make_trace(n_steps=200, loss=plateau, steps=acc, meta=meta)
    assert not {"loss_not_decreasing", "accuracy_not_increasing"} & set(kinds(trends.run_all(trained, CFG, final=True)))
    stuck = make_trace(n_steps=200, loss=2.3 + 0.01 * rng.random(200), steps={"accuracy": np.full(200, 0.1)},
                       meta=meta)  # a fresh model that learns nothing stays at the guess
    assert {"loss_not_decreasing", "accuracy_not_increasing"} <= set(kinds(trends.run_all(stuck, CFG, final=True)))
    flat = 0.2 + 0.0005 * rng.random(200)
    unknown = make_trace(n_steps=200, loss=flat, meta={"loss": [{"name": "mean_squared_error"}]})
    assert "loss_not_decreasing" in kinds(trends.run_all(unknown, CFG, final=True))  # no chance level to compare


def test_chance_loss_of_a_uniform_guess():
    from deeplocalize.checks.chance import chance_loss

    assert chance_loss({"loss": [{"name": "categorical_crossentropy"}], "output_shapes": [[None, 4]]}) == \
        pytest.approx(np.log(4))
    assert chance_loss({"loss": [{"name": "binary_crossentropy"}]}) == pytest.approx(np.log(2))
    assert chance_loss({"loss": [{"name": "mean_squared_error"}], "output_shapes": [[None, 1]]}) is None
    assert chance_loss({"loss": [{"name": "sparse_categorical_crossentropy"}] * 2}) is None


# ---- diagnosis: who names the cause ------------------------------------------------------
def test_both_never_lets_a_guess_overrule_a_cause_the_checks_saw():
    from deeplocalize.diagnosis import diagnose
    from deeplocalize.findings import Finding

    guess = lambda trace: {"root_cause": "training_config", "layer": "training_config", "confidence": 0.9}

    def labels_error():
        return Finding(kind="invalid_labels", layer="labels", root_cause="labels", severity="error", step=0,
                       epoch=0, message="labels out of range")

    def stuck():
        return Finding(kind="loss_not_decreasing", layer=None, severity="warning", step=10, epoch=0,
                       message="flat loss")

    seen = diagnose(make_trace(), [labels_error()], diagnoser="both", predictor=guess)
    assert (seen.root_cause, seen.faulty_layer) == ("labels", "labels")
    inferred = diagnose(make_trace(), [stuck()], diagnoser="both", predictor=guess)
    assert inferred.root_cause == "training_config"  # a symptom's cause is inferred: the confident guess wins
    learned = diagnose(make_trace(), [labels_error()], diagnoser="learned", predictor=guess)
    assert learned.root_cause == "training_config"
    # a pre-flight warning read from the program (sigmoid outputs under categorical cross-entropy)
    mismatch = Finding(kind="loss_activation_mismatch", layer="out", root_cause="activation", severity="warning",
                       step=0, epoch=0, message="sigmoid outputs do not sum to 1")
    read = diagnose(make_trace(), [mismatch], diagnoser="both", predictor=guess)
    assert (read.root_cause, read.faulty_layer) == ("activation", "out")


def test_a_cause_several_warnings_share_leads_over_a_higher_priority_kind():
    from deeplocalize.findings import Finding, primary_finding

    def warn(kind, cause, layer):
        return Finding(kind=kind, layer=layer, root_cause=cause, severity="warning", step=0, epoch=0, message=kind)

    mismatch = warn("loss_activation_mismatch", "activation", "out")
    alone = primary_finding([mismatch, warn("unnormalized_input", "data_preprocessing", "data")])
    assert alone is mismatch  # one against one: the kind's priority decides
    agreeing = [mismatch, warn("unnormalized_input", "data_preprocessing", "data"),
                warn("saturated_activation", "data_preprocessing", "act_1")]
    assert primary_finding(agreeing).root_cause == "data_preprocessing"
    error = Finding(kind="nan", layer="h", root_cause="learning_rate", severity="error", step=5, epoch=0, message="nan")
    assert primary_finding(agreeing + [error]) is error  # an error still leads every warning


def test_a_stalled_run_is_blamed_on_a_loss_that_does_not_fit_its_labels():
    from deeplocalize.diagnosis import diagnose
    from deeplocalize.findings import Finding

    flat = make_trace(n_steps=100, loss=np.full(100, 0.5) + 0.001 * np.sin(np.arange(100)))
    stalls = [f for f in trends.run_all(flat, CFG) if f.kind == "loss_not_decreasing"]
    assert stalls, "the flat loss must be a symptom for this test to mean anything"
    mismatch = Finding(kind="loss_activation_mismatch", layer="loss", root_cause="loss_function", severity="warning",
                       step=0, epoch=0, message="binary labels under mean absolute error")
    d = diagnose(flat, [mismatch] + stalls, diagnoser="rules")
    assert (d.root_cause, d.faulty_layer) == ("loss_function", "loss")
    assert all(f.root_cause == "loss_function" for f in d.findings), [(f.kind, f.root_cause) for f in d.findings]
    alone = diagnose(flat, [f for f in trends.run_all(flat, CFG) if f.kind == "loss_not_decreasing"],
                     diagnoser="rules")
    assert alone.root_cause != "loss_function"  # without the pre-flight finding the table guesses otherwise


def test_a_nan_cause_is_named_without_a_warning_when_the_inputs_range_was_not_read(recwarn):
    from deeplocalize.diagnosis import _numerical_cause
    from deeplocalize.findings import Finding

    trace = make_trace(steps={"x_min": np.full(100, np.nan), "x_max": np.full(100, np.nan)})
    nan = Finding(kind="nan", layer="dense", severity="error", step=0, epoch=0, message="NaN")
    assert _numerical_cause(trace, nan, [nan]) in ("activation", "learning_rate")
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_a_first_loss_far_above_a_uniform_guess():
    from deeplocalize.diagnosis import diagnose

    meta = _meta("softmax", 10, "sparse_categorical_crossentropy")
    raw = make_trace(n_steps=40, steps=_batch(0, 9, 1, x_max=255.0), meta=meta,
                     loss=np.r_[300.0, np.linspace(40, 2, 39)])
    f = preflight.check_first_batch(raw, CFG)
    assert kinds(f) == ["unnormalized_input", "initial_loss_high"]
    assert f[1].severity == "warning" and f[1].evidence["ratio"] == pytest.approx(300 / np.log(10))
    d = diagnose(raw, f)
    assert (d.status, d.root_cause, d.faulty_layer) == ("buggy", "data_preprocessing", "data")
    scaled = make_trace(n_steps=40, steps=_batch(0, 9, 1), meta=meta, loss=np.r_[300.0, np.linspace(40, 2, 39)])
    assert diagnose(scaled, preflight.check_first_batch(scaled, CFG)).root_cause == "initialization"
    near = make_trace(n_steps=40, steps=_batch(0, 9, 1), meta=meta, loss=np.r_[7.0, np.linspace(5, 2, 39)])
    assert preflight.check_first_batch(near, CFG) == []  # 3x the guess: a fresh model can start there
    regression = make_trace(n_steps=40, steps=_batch(0, 9, 1, int_frac=0.0), loss=np.r_[300.0, np.ones(39)],
                            meta=_meta("linear", 1, "mean_squared_error"))
    assert preflight.check_first_batch(regression, CFG) == []  # no uniform guess to compare with


def test_linear_model_notes_a_stack_with_no_non_linearity_before_its_last_layer():
    from deeplocalize.trace import LayerInfo

    def net(*rows):
        return [LayerInfo(name=n, class_name=c, index=i, activation=a, n_params=p)
                for i, (n, c, a, p) in enumerate(rows)]

    conv = net(("c1", "Conv2D", "linear", 80), ("pool", "AveragePooling2D", None, 0),
               ("flat", "Flatten", None, 0), ("fc", "Dense", "linear", 330), ("out", "Dense", "sigmoid", 33))
    (f,) = preflight.check_model({}, conv, CFG)
    assert (f.kind, f.severity, f.layer, f.root_cause) == ("linear_model", "info", "c1", "activation")
    assert f.evidence["linear_layers"] == ["c1", "fc"] and "'c1', 'fc'" in f.suggestion
    # a linear output layer behind a softmax Activation layer: the same one linear map
    assert [x.kind for x in preflight.check_model({}, net(("h", "Dense", None, 10), ("o", "Dense", "linear", 4),
                                                          ("act", "Activation", "softmax", 0)), CFG)] == ["linear_model"]
    for nonlinear in (("c1", "Conv2D", "relu", 80), ("pool", "MaxPooling2D", None, 0),
                      ("flat", "BatchNormalization", None, 8), ("flat", "Lambda", None, 0)):
        rows = [nonlinear if r[0] == nonlinear[0] else r for r in
                [("c1", "Conv2D", "linear", 80), ("pool", "AveragePooling2D", None, 0), ("flat", "Flatten", None, 0),
                 ("fc", "Dense", "linear", 330), ("out", "Dense", "sigmoid", 33)]]
        assert preflight.check_model({}, net(*rows), CFG) == [], nonlinear
    # one weighted layer (logistic regression, an embedding bag into a softmax) is linear by design
    assert preflight.check_model({}, net(("flat", "Flatten", None, 0), ("out", "Dense", "softmax", 650)), CFG) == []
    assert preflight.check_model({}, net(("emb", "Embedding", None, 800), ("gap", "GlobalAveragePooling1D", None, 0),
                                         ("out", "Dense", "softmax", 33)), CFG) == []


def test_validation_unlike_training_from_the_first_epoch_is_the_data():
    meta = {"loss": [{"name": "sparse_categorical_crossentropy"}], "output_shapes": [[None, 3]]}  # uniform: 1.1

    def found(val):
        epochs = [{"loss": t, "val_loss": v} for t, v in zip((1.08, 0.6, 0.3, 0.1), val)]
        return kinds(progress.run_final(make_trace(n_steps=40, epochs=epochs, meta=meta), CFG))

    assert "validation_unlike_training" in found((128.0, 200.0, 350.0, 480.0))  # x_val left unscaled
    assert "validation_unlike_training" in found((10.6, 10.6, 10.6, 10.6))  # clipped cross-entropy: 9.8x, then 106x
    assert "validation_unlike_training" not in found((1.0, 0.7, 0.9, 1.6))  # overfitting grows from a shared start
    assert "validation_unlike_training" not in found((9.0, 0.8, 0.5, 0.4))  # a bad first epoch that recovers
    regression = make_trace(n_steps=40, epochs=[{"loss": 1.0, "val_loss": 50.0}] * 4,
                            meta={"loss": [{"name": "mean_squared_error"}], "output_shapes": [[None, 1]]})
    assert "validation_unlike_training" not in kinds(progress.run_final(regression, CFG))  # no uniform guess


def test_optimizer_settings_far_from_where_they_work_are_notes():
    def notes(opt, lr=1e-3, **cfg):
        found = preflight.check_model({"optimizer": opt, "learning_rate": lr, "optimizer_config": cfg}, [], CFG)
        return [(f.kind, f.severity, f.root_cause, f.evidence["setting"]) for f in found if f.kind == "optimizer_setting"]

    assert notes("Adam", epsilon=1.0) == [("optimizer_setting", "info", "optimizer", "epsilon=1")]
    assert notes("SGD", lr=0.01, momentum=1.5) == [("optimizer_setting", "info", "optimizer", "momentum=1.5")]
    assert notes("AdamW", weight_decay=10.0) == [("optimizer_setting", "info", "optimizer", "weight_decay=10")]
    assert notes("Adam", epsilon=1e-7, beta_1=0.9) == []  # Keras's defaults
    assert notes("AdamW", weight_decay=0.004) == [] and notes("SGD", lr=0.01, momentum=0.9) == []
    assert notes("Adadelta", lr=1.0, epsilon=1e-3) == []  # Adadelta's epsilon is part of its step size


def test_hidden_softmax_notes_a_softmax_inside_the_network():
    from deeplocalize.trace import LayerInfo

    def net(*rows):
        return [LayerInfo(name=n, class_name=c, index=i, activation=a, n_params=p, is_output=(i == len(rows) - 1))
                for i, (n, c, a, p) in enumerate(rows)]

    (f,) = preflight.check_model({}, net(("h1", "Dense", "relu", 650), ("h2", "Dense", "softmax", 330),
                                         ("out", "Dense", "softmax", 33)), CFG)
    assert (f.kind, f.severity, f.layer, f.root_cause) == ("hidden_softmax", "info", "h2", "activation")
    layer = net(("h1", "Dense", None, 650), ("sm", "Softmax", None, 0), ("out", "Dense", "sigmoid", 11))
    assert [x.kind for x in preflight.check_model({}, layer, CFG)] == ["hidden_softmax"]
    # a softmax after the last weighted layer is the output's, however many layers follow it
    assert preflight.check_model({}, net(("h", "Dense", "relu", 650), ("o", "Dense", None, 330),
                                         ("act", "Activation", "softmax", 0), ("r", "Reshape", None, 0)), CFG) == []


def test_narrow_layer_notes_a_hidden_dense_layer_too_narrow_for_the_classes():
    from deeplocalize.checks.structure import narrow_limit
    from deeplocalize.trace import LayerInfo

    def net(units, out_units=10, act="softmax"):
        return [LayerInfo(name="h", class_name="Dense", index=0, activation="relu", n_params=650,
                          output_shape=[None, 64]),
                LayerInfo(name="neck", class_name="Dense", index=1, activation="relu", n_params=65,
                          output_shape=[None, units]),
                LayerInfo(name="out", class_name="Dense", index=2, activation=act, n_params=20,
                          output_shape=[None, out_units], is_output=True)]

    def meta(units=10, act="softmax", loss="sparse_categorical_crossentropy"):
        return {"output_layers": ["out"], "output_activations": [act], "output_shapes": [[None, units]],
                "loss": [{"name": loss, "from_logits": False}]}

    assert narrow_limit(10) == 2 and narrow_limit(3) == 1 and narrow_limit(100) == 25
    (f,) = preflight.check_model(meta(), net(1), CFG)
    assert (f.kind, f.severity, f.layer, f.root_cause) == ("narrow_layer", "info", "neck", "architecture")
    assert f.evidence == {"units": 1, "classes": 10} and "units=32" in f.suggestion
    assert [x.kind for x in preflight.check_model(meta(), net(2), CFG)] == ["narrow_layer"]
    assert preflight.check_model(meta(), net(3), CFG) == []  # wider than a quarter of the classes
    assert preflight.check_model(meta(2, "softmax"), net(1, 2), CFG) == []  # two classes: one unit can do
    # a regression head (an autoencoder's bottleneck is the point of it)
    assert preflight.check_model(meta(10, "linear", "mse"), net(1, act="linear"), CFG) == []


def _regression(loss, y_mean=0.3, y_sq=1.0, width=1.0, n=100, name="mean_squared_error"):
    return make_trace(n_steps=n, loss=loss, meta={"loss": [{"name": name}]},
                      steps={"y0_mean": np.full(n, y_mean), "y0_sq": np.full(n, y_sq), "y0_width": np.full(n, width)})


def test_no_better_than_mean_flags_a_regression_stopped_at_the_labels_variance():
    from deeplocalize.checks import progress

    falling = np.linspace(1.6, 1.0, 100)  # variance 1.0 - 0.3**2 = 0.91; the last quarter ~1.05
    (f,) = [f for f in progress.run_final(_regression(falling), CFG) if f.kind == "no_better_than_mean"]
    assert (f.severity, f.root_cause, f.layer) == ("warning", "training_config", "training_config")
    assert f.evidence["label_variance"] == pytest.approx(0.91) and "predicting the labels' mean" in f.message
    assert f.read_directly

    def kinds(trace, config=CFG):
        return [f.kind for f in progress.run_final(trace, config) if f.kind == "no_better_than_mean"]

    assert kinds(_regression(falling * 0.5)) == []  # well below the variance: it learned something
    assert kinds(_regression(np.full(100, 1.2))) == []  # flat on targets in scale: the trend checks judge it
    # stuck on targets in the thousands (mean 3e4, sd 8e3): their scale is named
    (big,) = [f for f in progress.run_final(_regression(np.full(100, 9.6e8), y_mean=3e4, y_sq=9.64e8), CFG)
              if f.kind == "no_better_than_mean"]
    assert (big.root_cause, big.layer) == ("data_preprocessing", "data") and "Standardize the targets" in big.suggestion
    assert kinds(_regression(falling, name="mean_absolute_error")) == []  # the variance is MSE's baseline only
    assert kinds(_regression(falling, width=3.0)) == []  # several targets: one variance is not their baseline
    assert kinds(_regression(falling), {**CFG, "mean_baseline_fraction": 1.5}) == []
    assert kinds(make_trace(n_steps=100, loss=falling, meta={"loss": [{"name": "mse"}]})) == []  # labels unseen


def test_a_run_that_stopped_while_learning_is_not_overruled_by_a_guess():
    from deeplocalize.diagnosis import diagnose
    from deeplocalize.findings import Finding

    unfinished = Finding(kind="no_better_than_mean", layer="training_config", root_cause="training_config",
                         severity="warning", step=99, epoch=4, message="still at the variance")
    d = diagnose(make_trace(), [unfinished], diagnoser="both",
                 predictor=lambda t: {"root_cause": "learning_rate", "layer": "optimizer", "confidence": 0.9})
    assert (d.root_cause, d.faulty_layer) == ("training_config", "training_config")


def test_memorized_flags_training_accuracy_up_while_validation_stays_at_chance():
    from deeplocalize.checks import progress

    def run(train, val, units=10, y_mean=4.5, loss="sparse_categorical_crossentropy"):
        epochs = [{"accuracy": a, "val_accuracy": v, "loss": 2.0, "val_loss": 2.3} for a, v in zip(train, val)]
        meta = {"output_layers": ["out"], "output_activations": ["softmax" if units > 1 else "sigmoid"],
                "output_shapes": [[None, units]], "loss": [{"name": loss}]}
        trace = make_trace(epochs=epochs, meta=meta, steps={"accuracy": np.full(100, train[-1]),
                                                            "y0_mean": np.full(100, y_mean)})
        return [f for f in progress.run_final(trace, CFG) if f.kind == "memorized"]

    (f,) = run([0.12, 0.2, 0.3, 0.4], [0.1, 0.09, 0.12, 0.1])
    assert (f.severity, f.root_cause, f.layer) == ("warning", "labels", "labels")
    assert f.evidence["chance"] == pytest.approx(0.1) and "never rose above chance" in f.message
    assert run([0.12, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.35]) == []  # validation follows: it generalizes
    assert run([0.1, 0.11, 0.12, 0.12], [0.1, 0.1, 0.1, 0.1]) == []  # nothing learned at all: other checks
    assert run([0.2, 0.4], [0.1, 0.1]) == []  # too few epochs to judge
    # one sigmoid unit: chance is the majority share of the 0/1 labels (here 80% ones)
    assert run([0.8, 0.9, 0.95, 0.99], [0.8, 0.81, 0.8, 0.82], units=1, y_mean=0.8)
    assert run([0.8, 0.9, 0.95, 0.99], [0.8, 0.81, 0.8, 0.82], units=1, y_mean=0.5) == []
    # several independent sigmoid labels: no single chance level to compare with
    assert run([0.12, 0.2, 0.3, 0.4], [0.1, 0.09, 0.12, 0.1], loss="binary_crossentropy") == []


def test_accuracy_stuck_while_the_loss_falls_from_far_above_a_uniform_guess_is_a_symptom():
    # far above: confident_wrong_factor (2) times a uniform guess's loss
    meta = {"loss": [{"name": "sparse_categorical_crossentropy"}], "output_shapes": [[None, 10]]}
    flat_accuracy = {"accuracy": 0.1 + 0.002 * np.sin(np.arange(200))}

    def stuck(loss):
        trace = make_trace(n_steps=200, loss=loss, steps=flat_accuracy, meta=meta)
        return [f for f in trends.run_all(trace, CFG, final=True) if f.kind == "accuracy_not_increasing"]

    assert stuck(np.linspace(20.0, 7.5, 200))  # still falling fast, but still 3x a uniform guess's 2.3
    assert stuck(np.linspace(2.3, 1.2, 200)) == []  # below a uniform guess: accuracy has not had time yet
    # an unlucky start 1.5x above a uniform guess, recovering fast: not yet a symptom
    assert stuck(np.linspace(4.6, 3.4, 200)) == []
    assert stuck(np.linspace(9.0, 5.5, 200))  # recovering as fast, but still 2.5x above: confidently wrong


def test_no_better_than_mean_wants_a_clear_margin_when_few_labels_were_seen():
    from deeplocalize.checks import progress

    def kinds(batch):  # the labels of one batch only (watched from outside the step): variance 0.91
        trace = _regression(np.linspace(1.6, 0.9, 100))
        for key in ("y0_mean", "y0_sq", "y0_width"):
            trace.steps[key][1:] = np.nan
        trace.steps["batch_size"] = np.full(100, float(batch))
        return [f.kind for f in progress.run_final(trace, CFG) if f.kind == "no_better_than_mean"]

    assert kinds(500) == ["no_better_than_mean"]  # last quarter ~0.99 against 0.9 x 0.91 x 1.13
    assert kinds(10) == []  # ... against 0.9 x 0.91 x 1.94: ten labels say little about their variance

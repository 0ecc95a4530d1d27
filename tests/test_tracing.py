"""The instrumented step is traced no more often than Keras's own, and what
it records stays what it recorded before its graph was made cheaper to build.

`tests/data/recorded_stats.npz` holds the statistics recorded by the probes
before their tracing cost was cut (issue 18), on the fixed-seed run of
`_recorded_run`: sampled and skipped steps, a non-finite step and the ones
after it, sampled weights, a sampled output gradient, a conv output whose
forward statistics use the batch's first examples. Regenerate it only when
the statistics are meant to change: ``python tests/test_tracing.py``.
"""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from deeplocalize import DeepLocalizeCallback
from deeplocalize.probes import step as probe_step
from deeplocalize.probes.forward_stats import FORWARD_STATS
from deeplocalize.trace import STAT_INDEX

GOLDEN = Path(__file__).parent / "data" / "recorded_stats.npz"


class NaNFrom(keras.layers.Layer):
    """Identity until training step ``k``, NaN from then on."""

    def __init__(self, k, **kwargs):
        super().__init__(**kwargs)
        self.k = k
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, name="calls")

    def call(self, x, training=None):
        if training:
            self.calls.assign_add(1.0)
        # (not x + 0.0: a sum continuing the BatchNormalization's is left unread, see probes.graph)
        return x + tf.where(self.calls > self.k, np.nan, 0.0)


def _recorded_run():
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.random((64, 26, 26, 1), dtype=np.float32)
    y = rng.integers(0, 3, size=64)
    model = keras.Sequential([
        keras.Input((26, 26, 1)),
        keras.layers.Conv2D(32, 3, activation="relu", name="conv"),  # 18,432 values an example: sampled
        keras.layers.MaxPooling2D(4, name="pool"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(16, activation="sigmoid", name="hidden"),  # an 18,432-value kernel: sampled
        keras.layers.BatchNormalization(name="norm"),
        NaNFrom(5, name="poison"),
        keras.layers.Dense(3, activation="softmax", name="out"),
    ])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    cb = DeepLocalizeCallback(verbose=0, halt="never", config={"dense_steps": 2, "probe_every": 2})
    model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0, callbacks=[cb])
    trace = cb.trace
    columns = {k: np.asarray(v, float) for k, v in trace.steps.items()}
    unread = {i: cb._probes.layers[i].name for i in cb._probes.unread}  # by layer index
    return np.asarray(trace.layer_stats, float), columns, unread


def test_recorded_statistics_are_unchanged():
    stats, columns, unread = _recorded_run()
    want = np.load(GOLDEN)
    np.testing.assert_array_equal(columns["step"], want["col_step"])  # the same steps recorded
    assert 5 in columns["step"] and columns["step"].size == 7  # 0, 1, 2, 4, then every step from the NaN on
    golden = want["layer_stats"]
    # After the NaN step the weights hold NaN; whether a fused conv + ReLU then passes NaN on or clips
    # it to 0 depends on the CPU's kernels (oneDNN on AVX-512 clips), so the forward statistics of
    # the steps after it are the platform's. Up to the NaN step, and every other statistic, must match.
    after_fault = int(np.argmax(columns["step"] >= 5)) + 1
    same = np.ones(golden.shape, bool)
    forward = [STAT_INDEX[n] for n in FORWARD_STATS]
    same[after_fault:, :, forward] = False
    # Made after the reference: the poison layer's ``x + ...`` continues the BatchNormalization's sum,
    # whose output is therefore left unread (probes.graph.continued_in_place), NaN: not computed.
    assert list(unread.values()) == ["norm"]
    cells = np.ix_(range(len(stats)), list(unread), forward)
    assert np.isnan(stats[cells]).all()
    same[cells] = False
    np.testing.assert_array_equal(np.isnan(stats)[same], np.isnan(golden)[same])
    np.testing.assert_allclose(stats[same], golden[same], rtol=1e-4, atol=1e-6, equal_nan=True)
    for name in ("loss", "lr", "batch_size", "x0_min", "x0_max", "x0_mean", "x0_std", "y0_mean", "y0_int_frac"):
        np.testing.assert_allclose(columns[name], want["col_" + name], rtol=2e-5, atol=1e-6, equal_nan=True)


def _counting(monkeypatch, model):
    """Counts of Python traces of Keras's own step and of the instrumented one."""
    counts = {"keras": 0, "probes": 0}
    own = type(model).train_step
    instrumented = probe_step.Probes._instrumented_step

    def keras_step(self, data):
        counts["keras"] += 1
        return own(self, data)

    def probes_step(self, data):
        counts["probes"] += 1
        return instrumented(self, data)

    monkeypatch.setattr(type(model), "train_step", keras_step)
    monkeypatch.setattr(probe_step.Probes, "_instrumented_step", probes_step)
    return counts


def _mlp():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_instrumented_step_is_traced_no_more_often_than_keras(monkeypatch):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 8)).astype("float32"), rng.integers(0, 2, size=100)  # last batch: 4 of 32

    plain = _mlp()
    counts = _counting(monkeypatch, plain)
    plain.fit(x, y, epochs=2, batch_size=32, verbose=0)
    keras_traces = counts["keras"]
    assert keras_traces >= 1

    watched = _mlp()
    counts = _counting(monkeypatch, watched)
    watched.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[DeepLocalizeCallback(verbose=0)])
    assert 1 <= counts["probes"] <= keras_traces
    assert counts["keras"] == 0  # the instrumented step stands in for Keras's, never beside it
    first = counts["probes"]

    cb = DeepLocalizeCallback(verbose=0)
    watched.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[cb])  # a second fit
    watched.fit(x, y, epochs=1, batch_size=32, verbose=0,
                callbacks=[DeepLocalizeCallback(verbose=0)])  # a new callback on the same model
    assert counts["probes"] == first
    assert cb.trace.n_steps == 4 and cb.diagnosis.status == "healthy"  # and it still records


if __name__ == "__main__":  # regenerate the reference (see the module docstring)
    stats, columns, _ = _recorded_run()
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, layer_stats=stats, **{"col_" + k: v for k, v in columns.items()})
    print(f"wrote {GOLDEN}: {stats.shape[0]} steps, steps {columns['step'].tolist()}")

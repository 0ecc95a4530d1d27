"""One configuration of the backend matrix per call: train with and without the callback.

Run as ``KERAS_BACKEND=jax python tests/backend_matrix.py sequential nan_twin ...``;
prints one JSON line per configuration (``tests/test_backends.py`` reads them).
Each run is seeded and tiny: a few dozen steps of a model of a few hundred
weights. A ``*_nan`` twin carries a layer that turns its output into NaN on
a known step (`Poison`), and is expected buggy there.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np

import keras
from keras import layers as L

from deeplocalize import DeepLocalizeCallback

N, EPOCHS, BATCH = 96, 2, 16  # 12 steps
POISON_STEP = 4


@keras.saving.register_keras_serializable("deeplocalize_tests")
class Poison(L.Layer):
    """Identity, except on training call number ``at`` (0-based): NaN."""

    def __init__(self, at=POISON_STEP, **kwargs):
        super().__init__(**kwargs)
        self.at = at

    def build(self, shape):
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, name="calls")

    def call(self, x, training=False):
        if not training:
            return x
        return x * keras.ops.where(self._due(), float("nan"), 1.0)

    def _due(self):
        """Whether this training call is call ``at`` (and count it)."""
        bad = keras.ops.equal(self.calls, float(self.at))
        self.calls.assign(self.calls + 1.0)
        return bad


def _data(kind="flat"):
    rng = np.random.RandomState(0)
    if kind == "seq":
        x = rng.randn(N, 6, 8).astype("float32")
        return x, (x[:, :, 0] > 0).astype("int32")
    x = rng.randn(N, 8).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("int32") + (x[:, 2] > 1).astype("int32")


def _compile(model, optimizer=None, **kwargs):
    model.compile(optimizer or keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                  metrics=["accuracy"], **kwargs)
    return model


def _mlp(poison=False, name="mlp"):
    extra = [Poison(name="poison")] if poison else []
    return keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu", name="hidden"), *extra,
                             L.Dense(3, activation="softmax", name="output")], name=name)


class Subclassed(keras.Model):
    """Output layer created first, a non-trainable variable of its own."""

    def __init__(self, poison=False):
        super().__init__()
        self.head = L.Dense(3, activation="softmax", name="head")
        self.hidden = L.Dense(16, activation="relu", name="hidden")
        self.poison = Poison(name="poison") if poison else None
        self.scale = keras.Variable(1.0, trainable=False, name="scale")

    def call(self, x, training=False):
        h = self.hidden(x) * self.scale
        if self.poison is not None:
            h = self.poison(h, training=training)
        return self.head(h)


class OwnStep(keras.Model):
    """A user's own train step: an L2 penalty, a step counter, an extra metric."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner
        self.steps_run = keras.Variable(0.0, trainable=False, name="steps_run")
        self.penalty_tracker = keras.metrics.Mean(name="penalty")

    def call(self, x, training=False):
        return self.inner(x, training=training)

    def train_step(self, *args):
        backend = keras.backend.backend()
        if backend == "jax":  # stateless: the counter lives in the state
            return self._jax_step(*args)
        self.steps_run.assign(self.steps_run + 1.0)
        x, y = args[0]
        if backend == "tensorflow":
            import tensorflow as tf

            with tf.GradientTape() as tape:
                loss, penalty = self._loss(x, y)
            grads = tape.gradient(loss, self.trainable_variables)
        else:
            self.zero_grad()
            loss, penalty = self._loss(x, y)
            loss.backward()
            grads = [v.value.grad for v in self.trainable_variables]
        self.optimizer.apply(grads, self.trainable_variables)
        self.penalty_tracker.update_state(penalty)
        return self.compute_metrics(x, y, self(x, training=False))

    def _loss(self, x, y):
        y_pred = self(x, training=True)
        penalty = 1e-3 * keras.ops.sum(keras.ops.square(self.inner.layers[-1].kernel))
        return self.compute_loss(x=x, y=y, y_pred=y_pred) + penalty, penalty

    def _jax_step(self, state, data):
        import jax

        trainable, non_trainable, opt_vars, metric_vars = state
        x, y = data

        def loss_fn(tv, ntv):
            y_pred, ntv = self.stateless_call(tv, ntv, x, training=True)
            kernel = tv[[id(v) for v in self.trainable_variables].index(id(self.inner.layers[-1].kernel))]
            penalty = 1e-3 * keras.ops.sum(keras.ops.square(kernel))
            return self.compute_loss(x=x, y=y, y_pred=y_pred) + penalty, (ntv, penalty)

        (loss, (non_trainable, _)), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable, non_trainable)
        trainable, opt_vars = self.optimizer.stateless_apply(opt_vars, grads, trainable)
        at = [id(v) for v in self.non_trainable_variables].index(id(self.steps_run))
        non_trainable = list(non_trainable)
        non_trainable[at] = non_trainable[at] + 1.0
        logs = {"loss": loss}
        return logs, (trainable, non_trainable, opt_vars, metric_vars)


def _functional_multi():
    a, b = keras.Input((8,), name="a"), keras.Input((4,), name="b")
    shared = L.Dense(8, activation="relu", name="shared")
    h = L.Concatenate()([shared(a), L.Dense(8, activation="tanh", name="side")(b)])
    cls = L.Dense(3, activation="softmax", name="cls")(h)
    reg = L.Dense(1, name="reg")(h)
    model = keras.Model({"a": a, "b": b}, {"cls": cls, "reg": reg})
    model.compile(keras.optimizers.Adam(1e-2), loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    x, y = _data()
    return model, ({"a": x, "b": x[:, :4]}, {"cls": y, "reg": x[:, :1]}), {}


def _two_cpus() -> None:
    """Split the CPU into two devices, before the backend starts (see `main`)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


def _diverging():
    """A regression whose learning rate is far too high: the loss overflows within a few steps."""
    model = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu"), L.Dense(1, name="output")])
    model.compile(keras.optimizers.SGD(50.0), "mse")
    x, _ = _data()
    return model, (x * 10, x[:, :1] * 100), {}


_STRATEGY = []  # one per process: a second one's collectives clash with the first's


def _distributed(config: str, poison: bool):
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if not _STRATEGY:
            _STRATEGY.append(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
        with _STRATEGY[0].scope():  # no Poison here: a mirrored variable cannot be assigned per replica
            return _diverging() if poison else (_compile(_mlp()), _data(), {})
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=keras.distribution.list_devices()))
    return _compile(_mlp(poison)), _data(), {}


def build(config: str):
    """``(model, (x, y), fit_kwargs)`` for ``config``, built seeded."""
    keras.utils.set_random_seed(0)
    poison = config.endswith("_nan")
    base = config[: -len("_nan")] if poison else config
    x, y = _data()
    if base == "sequential":
        return _compile(_mlp(poison)), (x, y), {}
    if base == "distributed":  # MirroredStrategy on TensorFlow, DataParallel on JAX, over two CPU devices
        return _distributed(base, poison)
    if base == "functional_multi":
        return _functional_multi()
    if base == "subclassed":
        return _compile(Subclassed(poison)), (x, y), {}
    if base == "own_step":
        return _compile(OwnStep(_mlp(poison))), (x, y), {}
    if base == "eager":
        return _compile(_mlp(poison), run_eagerly=True), (x, y), {}
    if base == "spe4":
        return _compile(_mlp(poison), steps_per_execution=4), (x, y), {}
    if base == "jit":
        return _compile(_mlp(poison), jit_compile=True), (x, y), {}
    if base == "grad_accum":
        return _compile(_mlp(poison), keras.optimizers.Adam(1e-2, gradient_accumulation_steps=4)), (x, y), {}
    if base == "ema":
        return _compile(_mlp(poison), keras.optimizers.Adam(1e-2, use_ema=True)), (x, y), {}
    if base == "sample_weights":
        return _compile(_mlp(poison)), (x, y), {"sample_weight": np.linspace(0.5, 1.5, N).astype("float32")}
    if base == "class_weights":
        return _compile(_mlp(poison)), (x, y), {"class_weight": {0: 1.0, 1: 2.0, 2: 3.0}}
    if base == "frozen":
        model = _mlp(poison)
        model.get_layer("hidden").trainable = False
        return _compile(model), (x, y), {}
    if base == "time_distributed":
        xs, ys = _data("seq")
        model = keras.Sequential([keras.Input((6, 8)), L.Dense(8, activation="relu", name="hidden"),
                                  L.TimeDistributed(L.Dense(2, activation="softmax"), name="per_step")])
        return _compile(model), (xs, ys), {}
    if base == "bidirectional":
        xs, _ = _data("seq")
        model = keras.Sequential([keras.Input((6, 8)), L.Bidirectional(L.LSTM(4), name="bilstm"),
                                  L.Dense(3, activation="softmax", name="output")])
        return _compile(model), (xs, y), {}
    if base == "nested_head":
        inp = keras.Input((8,))
        head = keras.Sequential([L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")], name="head")
        return _compile(keras.Model(inp, head(L.Dense(16, activation="relu", name="hidden")(inp)))), (x, y), {}
    if base == "residual_bn":  # BatchNormalization's per-unit shift, then a residual Add
        inp = keras.Input((8,))
        h = L.Dense(16, activation="relu", name="hidden")(inp)
        r = L.BatchNormalization(name="norm")(L.Dense(16, name="inner")(h))
        out = L.Dense(3, activation="softmax", name="output")(L.ReLU()(L.Add(name="residual")([h, r])))
        return _compile(keras.Model(inp, out)), (x, y), {}
    if base == "transformer":
        xs, _ = _data("seq")
        inp = keras.Input((6, 8))
        h = L.LayerNormalization(name="norm1")(inp + L.MultiHeadAttention(2, 4, name="attention")(inp, inp))
        h = L.LayerNormalization(name="norm2")(h + L.Dense(8, name="ffn")(L.Dense(16, activation="relu")(h)))
        out = L.Dense(3, activation="softmax", name="output")(L.GlobalAveragePooling1D()(h))
        return _compile(keras.Model(inp, out)), (xs, y), {}
    if base in ("mixed_bfloat16", "mixed_float16"):
        keras.mixed_precision.set_global_policy(base)
        try:
            model = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu", name="hidden"),
                                      *([Poison(name="poison")] if poison else []),
                                      L.Dense(3, name="logits"), L.Activation("softmax", dtype="float32")])
        finally:
            keras.mixed_precision.set_global_policy("float32")
        return _compile(model), (x, y), {}
    raise ValueError(f"unknown configuration {config!r}")


def _fit(model, data, kwargs, callbacks):
    keras.utils.set_random_seed(1)
    x, y = data
    return model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, callbacks=callbacks, **kwargs).history


def _refit(model, data, kwargs) -> str | None:
    try:
        _fit(model, data, kwargs, [])
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


def run(config: str) -> dict:
    """Train ``config`` without the callback, then with it; what happened."""
    started = time.time()
    plain, data, kwargs = build(config)
    history_plain = _fit(plain, data, kwargs, [])
    watched, data, kwargs = build(config)
    cb = DeepLocalizeCallback(verbose=0, halt="never")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = _fit(watched, data, kwargs, [cb])
    d = cb.diagnosis
    same_weights = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(plain.get_weights(), watched.get_weights()))
    same_history = set(history) == set(history_plain) and all(
        np.array_equal(history[k], history_plain[k], equal_nan=True) for k in history)
    # Usable afterwards, without the callback, as far as the plain model is
    # (a second fit with use_ema fails on JAX without the callback too).
    refit = {"plain": _refit(plain, data, kwargs), "watched": _refit(watched, data, kwargs)}
    problems = [f for f in d.findings if f.severity != "info"]
    nan = next((f for f in problems if f.kind in ("nan", "inf")), None)
    return {
        "config": config, "backend": keras.backend.backend(), "status": d.status,
        "observer": d.coverage.get("observer"), "why": d.coverage.get("why"),
        "forward_watched": not any("forward" in w for w in d.coverage.get("not_watched", [])),
        "same_weights": bool(same_weights), "same_history": bool(same_history),
        "history_keys": sorted(history), "steps_seen": d.steps_seen,
        "problems": [(f.kind, f.severity, f.layer, f.step) for f in problems],
        "nan": None if nan is None else {"layer": nan.layer, "step": nan.step, "detail": nan.detail},
        "refit_ok": refit["watched"] is None or refit["plain"] is not None, "refit": refit,
        "steps_run": float(keras.ops.convert_to_numpy(watched.steps_run)) if hasattr(watched, "steps_run") else None,
        "warnings": [str(w.message)[:300] for w in caught if "deeplocalize" in str(w.message)],
        "seconds": round(time.time() - started, 1),
    }


def main(configs: list[str]) -> None:
    if any(c.startswith("distributed") for c in configs):
        _two_cpus()  # JAX: XLA_FLAGS=--xla_force_host_platform_device_count=2 in the environment
    for config in configs:
        try:
            out = run(config)
        except Exception as exc:  # reported, not raised: the test says which configuration failed
            out = {"config": config, "backend": keras.backend.backend(), "error": f"{type(exc).__name__}: {exc}"[:800]}
        print("MATRIX " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

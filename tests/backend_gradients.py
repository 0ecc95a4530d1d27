"""Gradients watched from outside the step (JAX, PyTorch): one configuration per argument.

Run as ``KERAS_BACKEND=jax python tests/backend_gradients.py healthy nan_backward ...``;
prints one ``GRADIENTS {json}`` line per configuration (read by
``tests/test_backend_gradients.py``). A tiny seeded MLP trains without the
callback, then with it, then once more without it:

- ``healthy``: the first recorded step's gradient columns against the same
  gradients computed here in numpy from the initial weights and first batch;
- ``nan_backward``: a `GradPoison` layer, the identity forward, whose
  backward pass turns NaN on training call `POISON_STEP` (that of `tests/backend_matrix.py`);
- ``broken``: the weight-gradient reduction raises inside the step.
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
from tests.backend_matrix import POISON_STEP, Poison

N, BATCH = 64, 16


@keras.saving.register_keras_serializable("deeplocalize_tests")
class GradPoison(Poison):
    """Returns its input exactly; on training call ``at`` its gradient is NaN
    (``0 * sqrt(u)`` at ``u = 0``: 0 forward, 0/0 backward)."""

    def call(self, x, training=False):
        if not training:
            return x
        u = keras.ops.where(self._due(), x - x, 1.0 + x - x)
        return x + 0.0 * keras.ops.sqrt(u)


def build(poison: bool):
    keras.utils.set_random_seed(0)
    extra = [GradPoison(name="grad_poison")] if poison else []
    model = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu", name="hidden"), *extra,
                              L.Dense(3, activation="softmax", name="output")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    rng = np.random.RandomState(0)
    x = rng.randn(N, 8).astype("float32")
    y = ((x[:, 0] + x[:, 1] > 0).astype("int32") + (x[:, 2] > 1).astype("int32"))
    return model, x, y


def fit(model, x, y, callbacks):
    keras.utils.set_random_seed(1)
    return model.fit(x, y, epochs=2, batch_size=BATCH, shuffle=False, verbose=0, callbacks=callbacks).history


def reference(weights, x, y) -> dict:
    """Per layer, the norm of the first batch's weight gradients and of the
    gradient at its output, in float64 numpy: the output's is taken w.r.t.
    the softmax's logits where Keras computes the loss from them (PyTorch),
    else w.r.t. the normalized, clipped probabilities (JAX)."""
    w1, b1, w2, b2 = (np.asarray(w, np.float64) for w in weights)
    x, y = x[:BATCH].astype(np.float64), y[:BATCH]
    z1 = x @ w1 + b1
    h = np.maximum(z1, 0.0)
    z2 = h @ w2 + b2
    p = np.exp(z2 - z2.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(3)[y]
    dz2 = (p - onehot) / BATCH
    dh = dz2 @ w2.T
    dz1 = dh * (z1 > 0)
    at_output = dz2 if keras.backend.backend() == "torch" else (1.0 - onehot / p) / BATCH
    norm = np.linalg.norm
    return {"gw_norm": [float(np.sqrt(norm(x.T @ dz1) ** 2 + norm(dz1.sum(0)) ** 2)),
                        float(np.sqrt(norm(h.T @ dz2) ** 2 + norm(dz2.sum(0)) ** 2))],
            "grad_norm": [float(norm(dh)), float(norm(at_output))]}


def _same(a, b) -> bool:
    return all(np.array_equal(np.asarray(u), np.asarray(v), equal_nan=True) for u, v in zip(a, b))


def run(config: str) -> dict:
    started = time.time()
    poison = config == "nan_backward"
    plain, x, y = build(poison)
    history_plain = fit(plain, x, y, [])
    watched, x, y = build(poison)
    first_weights = watched.get_weights()
    if config == "broken":
        import deeplocalize.probes.backward as backward

        def fail(*args):
            raise RuntimeError("a reduction that fails")

        backward._weight_sums = fail
    cb = DeepLocalizeCallback(verbose=0, halt="never")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(watched, x, y, [cb])
    same = {"weights": _same(plain.get_weights(), watched.get_weights()),
            "history": history.keys() == history_plain.keys()
            and all(_same(history[k], history_plain[k]) for k in history)}
    # A later fit without the callback: as if the callback had never been there.
    later_plain, later = fit(plain, x, y, []), fit(watched, x, y, [])
    opt = watched.optimizer
    trace, d = cb.trace, cb.diagnosis
    frame = trace.to_frame()
    first = frame[frame["step"] == frame["step"].min()]
    problems = [f for f in d.findings if f.severity != "info"]
    nan = next((f for f in problems if f.kind in ("nan", "inf")), None)
    return {
        "config": config, "backend": keras.backend.backend(), "same": same,
        "later_same": _same(plain.get_weights(), watched.get_weights())
        and later.keys() == later_plain.keys() and all(_same(later[k], later_plain[k]) for k in later),
        "hooks_left": sorted(k for k in ("apply", "stateless_apply") if k in vars(opt))
        + [layer.name for layer in watched.layers if "call" in vars(layer)],
        "coverage": d.coverage, "watched": trace.meta["coverage"]["watched"],
        "first_step": {c: first[c].tolist() for c in ("grad_norm", "grad_nan", "grad_inf", "gw_norm", "gw_nan",
                                                        "gw_inf")},
        "finite": {c: bool(np.isfinite(frame[c]).all()) for c in ("grad_norm", "gw_norm")},
        "reference": reference(first_weights, x, y) if not poison else None,
        "layers": trace.layer_names, "status": d.status,
        "nan": None if nan is None else {"layer": nan.layer, "step": nan.step, "detail": nan.detail},
        "warnings": [str(w.message)[:300] for w in caught if "deeplocalize" in str(w.message)],
        "seconds": round(time.time() - started, 1),
    }


def main(configs: list[str]) -> None:
    for config in configs:
        try:
            out = run(config)
        except Exception as exc:  # reported, not raised: the test says which configuration failed
            out = {"config": config, "error": f"{type(exc).__name__}: {exc}"[:800]}
        print("GRADIENTS " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

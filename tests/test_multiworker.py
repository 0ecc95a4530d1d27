"""The callback under a two-process ``tf.distribute.MultiWorkerMirroredStrategy``
on localhost: two worker processes (TF_CONFIG with two free ports), each
training small seeded models inside ``strategy.scope()`` with and without
the callback. Asserts: no crash on either worker, the same final weights and
history with the callback as without, a status that is never a false
"healthy" (it watched steps, or it says "unchecked" with the reason), on
the chief a regression whose loss overflows to NaN found buggy, with the
NaN/Inf finding, and with the callback's defaults (halt on an error) both
workers stopping at the same step (no worker left waiting for the other).

Skipped, with the reason, where TensorFlow, free localhost ports or
subprocesses are not available. Run alone as a worker:
``python tests/test_multiworker.py worker INDEX PORT0 PORT1``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
N, EPOCHS, BATCH = 128, 2, 32  # global batch 32 over two workers: 4 steps an epoch


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("localhost", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# ---- the worker (runs in its own process) -------------------------------------------------------
def _models(keras, kind: str):
    import numpy as np

    rng = np.random.RandomState(0)
    x = rng.randn(N, 8).astype("float32")
    L = keras.layers
    if kind == "healthy":
        y = (x[:, 0] + x[:, 1] > 0).astype("int32")
        model = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu", name="hidden"),
                                  L.Dense(2, activation="softmax", name="output")])
        model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model, x, y
    # the NaN twin: a regression whose learning rate is far too high overflows within a few steps
    model = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu", name="hidden"),
                              L.Dense(1, name="output")])
    model.compile(keras.optimizers.SGD(50.0), "mse")
    return model, x * 10, x[:, :1] * 100


def _keras_ready(strategy):
    """Keras 3's ``fit`` does not run under MultiWorkerMirroredStrategy as it
    is (keras-team/keras#20585, open): before the first step it asks the
    strategy to reduce a whole (x, y) batch at once, and after each step to
    average the scalar logs along an axis 0 they do not have. Reducing each
    tensor alone, a scalar over the replicas, is the reduction meant. Applied
    to the runs with and without the callback alike."""
    import tensorflow as tf

    reduce = strategy.reduce

    def one(op, v, axis):
        rank = strategy.experimental_local_results(v)[0].shape.rank
        return reduce(op, v, axis=None if rank == 0 else axis)

    def each(op, value, axis=None):
        return tf.nest.map_structure(lambda v: one(op, v, axis), value)

    strategy.reduce = each
    return strategy


def _fit(keras, strategy, kind: str, callbacks):
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    with strategy.scope():
        model, x, y = _models(keras, kind)
    options = tf.data.Options()  # each worker reads its own half of every global batch
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).with_options(options)
    history = model.fit(data, epochs=EPOCHS, verbose=0, callbacks=callbacks)
    return model, history.history


def worker(index: int, ports: list[int]) -> None:
    """One worker of the cluster: prints ``MULTIWORKER {json}`` per model kind."""
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                                          "task": {"type": "worker", "index": index}})
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    import keras
    from deeplocalize import DeepLocalizeCallback

    strategy = _keras_ready(tf.distribute.MultiWorkerMirroredStrategy())
    for kind in ("healthy", "nan"):
        plain, history_plain = _fit(keras, strategy, kind, [])
        cb = DeepLocalizeCallback(verbose=0, halt="never", verify="never")
        watched, history = _fit(keras, strategy, kind, [cb])
        d = cb.diagnosis
        same_weights = all(np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)
                           for a, b in zip(plain.get_weights(), watched.get_weights()))
        same_history = set(history) == set(history_plain) and all(
            np.allclose(history[k], history_plain[k], rtol=1e-5, atol=1e-6, equal_nan=True) for k in history)
        problems = [f for f in d.findings if f.severity != "info"]
        print("MULTIWORKER " + json.dumps({
            "index": index, "kind": kind, "status": d.status, "unchecked_reason": d.unchecked_reason,
            "steps_seen": d.steps_seen, "observer": d.coverage.get("observer"), "why": d.coverage.get("why"),
            "same_weights": bool(same_weights), "same_history": bool(same_history),
            "loss": [float(v) for v in history["loss"]],
            "problems": [(f.kind, f.severity, f.layer, f.step) for f in problems],
        }), flush=True)
    # The defaults (halt on an error, verify="auto"): every worker decides alike and stops
    # at the same step; a worker left training alone would wait for the other forever.
    cb = DeepLocalizeCallback(verbose=0)
    _, history = _fit(keras, strategy, "nan", [cb])
    d = cb.diagnosis
    print("MULTIWORKER " + json.dumps({
        "index": index, "kind": "halted", "status": d.status, "unchecked_reason": d.unchecked_reason,
        "steps_seen": d.steps_seen, "stopped_training": d.stopped_training, "epochs": len(history["loss"]),
        "first_detection_step": d.first_detection_step,
    }), flush=True)


# ---- the test ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_worker_multiworker_mirrored_strategy_on_localhost():
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed here: MultiWorkerMirroredStrategy needs it")
    try:
        ports = _free_ports(2)
    except OSError as exc:
        pytest.skip(f"no free localhost ports for the two workers: {exc}")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
           "CUDA_VISIBLE_DEVICES": "-1"}
    env.pop("TF_CONFIG", None)
    cmd = [sys.executable, str(Path(__file__).resolve()), "worker"]
    try:
        procs = [subprocess.Popen(cmd + [str(i)] + [str(p) for p in ports], env=env, cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (0, 1)]
    except OSError as exc:
        pytest.skip(f"cannot start the worker processes: {exc}")
    outs = []
    try:
        for proc in procs:
            outs.append(proc.communicate(timeout=300))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    results = {}
    for i, (stdout, stderr) in enumerate(outs):
        assert procs[i].returncode == 0, f"worker {i} failed:\n{stderr[-3000:]}"
        for line in stdout.splitlines():
            if line.startswith("MULTIWORKER "):
                r = json.loads(line[len("MULTIWORKER "):])
                results[(r["index"], r["kind"])] = r
    assert set(results) == {(i, k) for i in (0, 1) for k in ("healthy", "nan", "halted")}, outs[0][1][-3000:]
    halted = [results.pop((i, "halted")) for i in (0, 1)]
    assert halted[0]["status"] == "buggy" and halted[0]["stopped_training"], halted[0]
    assert [(h["steps_seen"], h["epochs"], h["first_detection_step"]) for h in halted].count(
        (halted[0]["steps_seen"], halted[0]["epochs"], halted[0]["first_detection_step"])) == 2, halted
    for (index, kind), r in results.items():
        name = f"worker {index}, {kind}"
        assert r["same_weights"], f"{name}: the callback changed the weights"
        assert r["same_history"], f"{name}: the callback changed the history"
        if r["status"] == "unchecked":
            assert r["unchecked_reason"], f"{name}: unchecked without a reason"
        else:
            assert r["steps_seen"] > 0, f"{name}: {r['status']} after watching no step"
    healthy = results[(0, "healthy")]
    assert healthy["status"] in ("healthy", "unchecked"), healthy["problems"]
    assert healthy["status"] != "healthy" or not healthy["problems"], healthy["problems"]
    chief = results[(0, "nan")]
    assert any(v != v or v in (float("inf"), float("-inf")) for v in chief["loss"]), chief["loss"]  # the twin did blow up
    assert chief["status"] == "buggy", chief
    assert any(k in ("nan", "inf") for k, *_ in chief["problems"]), chief["problems"]


if __name__ == "__main__" and len(sys.argv) >= 5 and sys.argv[1] == "worker":
    worker(int(sys.argv[2]), [int(p) for p in sys.argv[3:5]])

"""Nothing slow is imported unless it is used: ``import deeplocalize`` stays
light, and a healthy fit with the callback needs neither scikit-learn (the
learned diagnoser), matplotlib (report plots) nor pandas (trace frames)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys, warnings
import deeplocalize
light = sorted(m for m in ("keras", "tensorflow", "sklearn", "matplotlib", "pandas", "joblib", "scipy")
               if m in sys.modules)
# Keras imports these itself when they are installed, and copes when they are
# not: blocked, any import of them by deeplocalize fails loudly instead.
for name in ("sklearn", "matplotlib", "pandas", "joblib"):
    sys.modules[name] = None
import keras
import numpy as np
from deeplocalize import DeepLocalizeCallback
from deeplocalize.learn import predict
keras.utils.set_random_seed(0)  # unseeded, 2 inits in 8 start below chance and stay there for the 24 steps
rng = np.random.default_rng(0)
x = rng.normal(size=(256, 8)).astype("float32")
y = (x[:, 0] > 0).astype("int32")
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(2, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
cb = DeepLocalizeCallback(verbose=1)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[cb])
print("RESULT " + json.dumps({
    "light": light, "status": cb.diagnosis.status, "steps": cb.trace.n_steps,
    "warnings": [str(w.message) for w in caught if "deeplocalize" in str(w.message)],
    "classifier_loaded": predict.is_loaded(),
    "outside_watchers": sorted(m for m in sys.modules if m in (
        "deeplocalize.probes.outside", "deeplocalize.probes.forward", "deeplocalize.probes.backward",
        "deeplocalize.probes.jax_step")),
}))
"""


def test_import_and_a_healthy_fit_load_nothing_slow():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stderr[-2000:]
    got = json.loads(lines[-1][len("RESULT "):])
    assert got["light"] == []  # import deeplocalize: no Keras, TensorFlow, sklearn, matplotlib, pandas
    assert got["warnings"] == []  # the callback never reached for a blocked module
    assert got["status"] == "healthy" and got["steps"] > 0
    assert not got["classifier_loaded"]
    assert got["outside_watchers"] == []  # TensorFlow's in-step probes watched it: the JAX/PyTorch observers stay unloaded
    assert "HEALTHY" in proc.stdout  # the console summary was printed without them

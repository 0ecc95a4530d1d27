"""Regenerate docs/example_report.html and docs/report.png (the README's screenshot).

A small regression on unscaled inputs and targets: the tanh layer saturates and
the first layer stops learning; the diagnosis blames the unscaled data. Run from
the repository root:

    python docs/make_example_report.py            # writes the HTML (and the trace, not committed)
    python docs/make_example_report.py --shot     # also the screenshot (needs Debian's chromium)
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

for key, value in {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                   "TF_CPP_MIN_LOG_LEVEL": "3"}.items():
    os.environ.setdefault(key, value)

import keras
import numpy as np

from deeplocalize import DeepLocalizeCallback

DOCS = Path(__file__).resolve().parent


def main(shot: bool) -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 6)).astype("float32") * 100.0  # the bug: never standardized
    y = (x @ rng.normal(size=6) * 10.0).astype("float32")
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(16, activation="relu", name="dense_in"),
         keras.layers.Dense(16, activation="relu", name="dense_mid"),
         keras.layers.Dense(8, activation="tanh", name="dense_tanh"),
         keras.layers.Dense(1, name="price")],
        name="house_prices",
    )
    model.compile(optimizer=keras.optimizers.SGD(0.001), loss="mse")
    cb = DeepLocalizeCallback()
    model.fit(x, y, epochs=5, batch_size=32, verbose=0, callbacks=[cb])
    trace_path = DOCS / "example_trace.npz"
    cb.trace.save(trace_path)
    cb.diagnosis.save(DOCS / "example_report.html", trace=cb.trace)
    if shot:
        profile = tempfile.mkdtemp()
        subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={DOCS / 'report.png'}",
             "--window-size=1200,1600", (DOCS / "example_report.html").as_uri()],
            check=True, capture_output=True, timeout=120,
        )


if __name__ == "__main__":
    main(shot="--shot" in sys.argv[1:])

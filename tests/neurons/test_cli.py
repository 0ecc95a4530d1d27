import json

import numpy as np
import pytest

from deeplocalize.neurons.__main__ import main


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, keras):
    d = tmp_path_factory.mktemp("cli")
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.random((80, 16), dtype=np.float32)
    y = (x[:, :8].sum(1) > x[:, 8:].sum(1)).astype(int)
    m = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(6, activation="relu"), keras.layers.Dense(2, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=3, verbose=0)
    m.save(d / "m.keras")
    np.savez(d / "data.npz", x=x, y=y)
    bad = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8), keras.layers.BatchNormalization(name="bn1"),
                            keras.layers.Dense(2, activation="softmax")])
    bad.save(d / "bad.keras")
    return d


@pytest.mark.parametrize("method", ["deepfault", "npsbfl-mga", "deepsensor"])
def test_cli_end_to_end(tiny, method, capsys):
    out = tiny / method
    rc = main([str(tiny / "m.keras"), "--data", str(tiny / "data.npz"), "--method", method,
               "--k", "3", "--seeds", "5", "--distance", "0.1", "--out", str(out)])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["seeds"] == 5 and summary["mean_linf"] <= 0.1 + 1e-6
    csv = (out / "suspicious.csv").read_text().splitlines()
    assert csv[0].startswith("layer,site,neuron") and len(csv) > 1
    with np.load(out / "synthesized.npz") as f:
        assert f["x"].shape == (5, 16) and np.abs(f["x"] - f["seeds"]).max() <= 0.1 + 1e-6
    assert (out / "grid.png").exists()  # 16 features = a 4x4 image


def test_cli_unsupported_layer_and_bad_measure(tiny, capsys):
    rc = main([str(tiny / "bad.keras"), "--data", str(tiny / "data.npz"), "--method", "npsbfl-ga",
               "--out", str(tiny / "bad")])
    assert rc == 2 and "bn1" in capsys.readouterr().err
    rc = main([str(tiny / "m.keras"), "--data", str(tiny / "data.npz"), "--measure", "jaccard",
               "--out", str(tiny / "bad2")])
    assert rc == 2 and "jaccard" in capsys.readouterr().err

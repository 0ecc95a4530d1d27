import numpy as np

from deeplocalize.neurons import deepsensor as ds
from deeplocalize.neurons._chain import forward


def _loss(model, x, y):
    p = np.asarray(forward(model, x)[1])
    return -np.log(p[np.arange(len(y)), y])


def test_shapley_efficiency(dense_model, conv_model, xy_dense, xy_conv):
    # sampled permutation Shapley values of a layer add up exactly to the loss change
    for model, (x, y) in ((dense_model, xy_dense), (conv_model, xy_conv)):
        x, y = x[:5], y[:5]
        table = ds.shapley_values(model, x, y, delta=0.2, n_permutations=3, seed=4)
        rng = np.random.default_rng(4)
        noisy = np.clip(x + rng.uniform(-0.2, 0.2, x.shape), 0, 1).astype(np.float32)
        change = (_loss(model, noisy, y) - _loss(model, x, y)).mean()
        for s, g in table.groupby("site"):
            assert abs(g["shapley"].sum() - change) < 1e-4 + 1e-3 * abs(change)
        assert (table["scale"] > 0).all()


def test_excitable_ranked_by_shapley():
    import pandas as pd

    t = pd.DataFrame({"site": [0, 0, 1], "neuron": [0, 1, 0], "shapley": [0.2, -0.1, 0.5], "scale": 1.0})
    assert ds.excitable_neurons(t, 2)[["site", "neuron"]].values.tolist() == [[1, 0], [0, 0]]

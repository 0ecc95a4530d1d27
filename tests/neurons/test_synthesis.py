import numpy as np
import pandas as pd
import pytest

from deeplocalize.neurons import deepsensor as ds
from deeplocalize.neurons._chain import site_values
from deeplocalize.neurons.synthesis import gradient_ascent, mga, project, random_selection
from deeplocalize.neurons.spectra import neuron_table

SEL = pd.DataFrame({"site": [0, 0, 1], "neuron": [1, 3, 2]})


def _check_bounds(new, seeds, d):
    assert new.shape == seeds.shape
    assert np.abs(new - seeds).max() <= d + 1e-6
    assert new.min() >= 0.0 and new.max() <= 1.0


def test_project():
    got = project(np.array([1.5, -0.3, 0.55]), np.array([0.95, 0.05, 0.5]), 0.1)
    np.testing.assert_allclose(got, [1.0, 0.0, 0.55], atol=1e-7)


@pytest.mark.parametrize("iterations", [1, 3])
def test_gradient_ascent_bound_range_and_effect(dense_model, xy_dense, iterations):
    seeds = xy_dense[0][:16]
    new = gradient_ascent(dense_model, seeds, SEL, step_size=50.0, distance=0.05, iterations=iterations)
    _check_bounds(new, seeds, 0.05)
    assert np.abs(new - seeds).max() > 0.04  # it moved up to the bound
    before = [np.asarray(v) for v in site_values(dense_model, seeds, pre=True)[0]]
    after = [np.asarray(v) for v in site_values(dense_model, new, pre=True)[0]]
    gain = sum((a[:, n] - b[:, n]).sum(1) for (s, n), a, b in
               [((0, [1, 3]), after[0], before[0]), ((1, [2]), after[1], before[1])])
    assert (gain > 0).all()


def test_mga_bound_and_range_on_conv(conv_model, xy_conv):
    seeds = xy_conv[0][:6]
    new = mga(conv_model, seeds, pd.DataFrame({"site": [0, 1, 2], "neuron": [0, 1, 2]}),
              lr=0.05, iterations=4, distance=0.08)
    _check_bounds(new, seeds, 0.08)
    assert np.abs(new - seeds).max() > 0.07


def test_mga_unbounded_can_go_further(dense_model, xy_dense):
    seeds = xy_dense[0][:4]
    new = mga(dense_model, seeds, SEL, lr=0.05, iterations=5, distance=None)
    assert np.abs(new - seeds).max() > 0.1 and new.min() >= 0 and new.max() <= 1


def test_deepsensor_generate_bound(dense_model, xy_dense):
    x, y = xy_dense
    table = ds.shapley_values(dense_model, x[:8], y[:8], n_permutations=3)
    top = ds.excitable_neurons(table, 4)
    new, n = ds.generate(dense_model, x[:8], top, distance=0.07, steps=5)
    _check_bounds(new, x[:8], 0.07)
    assert n.shape == (8,) and (n >= 0).all() and (n <= 4).all()


def test_random_selection_avoids_selected(dense_model):
    table = neuron_table(dense_model)
    rnd = random_selection(table, SEL, 0)
    assert rnd.groupby("site").size().tolist() == [2, 1]
    assert not set(zip(rnd.site, rnd.neuron)) & set(zip(SEL.site, SEL.neuron))

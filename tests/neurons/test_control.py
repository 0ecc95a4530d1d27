"""Both fault-detection-rate definitions and the random-control statistic on hand-made data."""

import numpy as np
import pandas as pd
import pytest

from deeplocalize.neurons.control import (fdr_misclassified, fdr_path, path_covered, permutation_p,
                                          random_draws, spread)


def test_fdr_i_is_the_misclassification_rate():
    assert fdr_misclassified([3, 1, 2, 0], [3, 0, 0, 0]) == 0.5
    assert np.isnan(fdr_misclassified([], []))
    with pytest.raises(ValueError, match="shape"):
        fdr_misclassified([1, 2], [1])


def test_fdr_ii_counts_failing_inputs_that_cover_the_path_in_every_layer():
    # two sites: site 0 has 3 neurons, site 1 has 2; the path marks neurons 0, 2 of site 0 and 1 of site 1
    masks = [np.tile([1.0, 0.0, 1.0], (5, 1)), np.tile([0.0, 1.0], (5, 1))]
    active = [np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]], bool),
              np.array([[0, 1], [0, 1], [1, 0], [0, 1], [0, 1]], bool)]
    # row 0: site 0 via neuron 0, site 1 via neuron 1 -> covered; row 1: neuron 1 is off-path -> not;
    # row 2: site 1's path neuron off -> not; row 3: covered; row 4: nothing on site 0 -> not
    assert path_covered(active, masks).tolist() == [True, False, False, True, False]
    predicted, labels = [9, 9, 9, 0, 9], [0, 0, 0, 0, 0]  # rows 0, 1, 2, 4 fail
    assert fdr_path(active, masks, predicted, labels) == 0.25  # of 4 failing, only row 0 covers
    assert fdr_path(np.concatenate(active, 1), masks, predicted, labels) == 0.25
    assert np.isnan(fdr_path(active, masks, labels, labels))  # nothing fails


def test_sites_off_the_path_do_not_count():
    masks = [np.zeros((2, 2)), np.array([[1.0], [1.0]])]
    active = [np.zeros((2, 2), bool), np.array([[True], [False]])]
    assert path_covered(active, masks).tolist() == [True, False]


def test_permutation_p_is_the_one_sided_rank():
    assert permutation_p(0.9, [0.1] * 19) == 0.05
    assert permutation_p(0.5, [0.1, 0.2, 0.6]) == 0.5
    assert permutation_p(0.2, [0.2, 0.2, 0.1]) == 0.75  # ties count against the selection
    assert permutation_p(0.0, [0.3, 0.5]) == 1.0
    assert permutation_p(0.5, [np.nan, 0.1]) == 0.5  # NaN draws are dropped
    assert np.isnan(permutation_p(np.nan, [0.1]))


def test_spread_summarises_the_draws():
    s = spread([0.1, 0.2, 0.3, np.nan])
    assert s["mean"] == pytest.approx(0.2) and s["sd"] == pytest.approx(0.1)
    assert s["p5"] == pytest.approx(0.11) and s["p95"] == pytest.approx(0.29)


def test_random_draws_keep_counts_per_site_and_avoid_the_selection():
    table = pd.DataFrame({"site": [0] * 6 + [1] * 3, "neuron": list(range(6)) + list(range(3))})
    like = pd.DataFrame({"site": [0, 0, 1, 1], "neuron": [0, 1, 0, 1]})
    draws = random_draws(table, like, 30, 0)
    assert len(draws) == 30
    for d in draws:
        assert d.groupby("site").size().tolist() == [2, 2]
        assert not ({(0, 0), (0, 1)} & set(zip(d.site, d.neuron)))
    # site 1 has one free neuron for two places: the draw falls back to all of site 1
    assert {tuple(sorted(d[d.site == 1].neuron)) for d in draws} <= {(0, 1), (0, 2), (1, 2)}
    assert len({tuple(sorted(d[d.site == 0].neuron)) for d in draws}) > 1  # draws differ

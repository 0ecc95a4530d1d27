import numpy as np
import pandas as pd
import pytest

from deeplocalize.neurons.paths import candidates, coverage, critical_mask, path_spectra, pathway


def test_critical_mask_by_hand():
    rel = np.array([[0.1, 0.6, 0.3, -0.5], [0.0, 0.0, 0.0, -1.0], [0.25, 0.25, 0.25, 0.25]])
    got = critical_mask(rel, alpha=0.9)
    assert got.tolist() == [[False, True, True, False], [False] * 4, [True, True, True, True]]
    assert critical_mask(rel[:1], alpha=0.95).tolist() == [[True, True, True, False]]
    assert critical_mask(rel[:1], alpha=0.5).tolist() == [[False, True, False, False]]


def test_candidates_fall_back_to_argmax_per_layer():
    cdp = np.array([[1, 0, 0, 1], [1, 0, 1, 0], [0, 1, 1, 1]], bool)
    failed = np.array([True, True, False])
    cand, freq = candidates(cdp, failed, np.array([0, 0, 1, 1]), beta=0.9)
    assert freq.tolist() == [1.0, 0.0, 0.5, 0.5]
    assert cand.tolist() == [True, False, True, False]
    with pytest.raises(ValueError, match="misclassified"):
        candidates(cdp, np.zeros(3, bool), np.array([0, 0, 1, 1]))


def test_pathway_is_top_k_per_layer(dense_model, xy_dense):
    x, y = xy_dense
    spec = path_spectra(dense_model, x, y, alpha=0.9, beta=0.3)
    assert {"freq", "candidate", "af"} <= set(spec.columns)
    path = pathway(dense_model, x, y, measure="ochiai", k=2, spectra=spec)
    assert path.groupby("site").size().max() <= 2
    assert set(path["site"]) == {0, 1}
    assert spec.loc[path.index, "candidate"].all()
    # the selected neurons are the best-scored candidates of their layer
    for s, g in path.groupby("site"):
        from deeplocalize.neurons.measures import rank
        best = rank(spec[spec.candidate & (spec.site == s)], "ochiai")["score"].max()
        assert g["score"].max() == pytest.approx(best)


def test_coverage():
    t = pd.DataFrame({"site": [0, 0, 1, 1], "neuron": [0, 1, 0, 1]})
    act = np.array([[1, 0, 0, 1], [0, 0, 1, 1], [1, 1, 0, 0]], bool)
    share, covered = coverage(act, t, t.iloc[[0, 1, 3]])
    assert share.tolist() == pytest.approx([2 / 3, 1 / 3, 2 / 3])
    assert covered.tolist() == [True, False, False]

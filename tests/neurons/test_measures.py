import numpy as np
import pandas as pd
import pytest

from deeplocalize.neurons.measures import barinel, dstar, ochiai, rank, score, tarantula, top_k

# af, nf, as, ns
CASES = {
    "mixed": (2, 1, 1, 3),
    "no_failures": (0, 0, 2, 1),
    "never_active": (0, 3, 0, 2),
    "all_zero": (0, 0, 0, 0),
    "only_failing": (2, 0, 0, 3),
}
EXPECTED = {  # hand-computed
    "tarantula": {"mixed": 8 / 11, "no_failures": 0, "never_active": 0, "all_zero": 0, "only_failing": 1},
    "ochiai": {"mixed": 2 / 3, "no_failures": 0, "never_active": 0, "all_zero": 0, "only_failing": 1},
    "dstar": {"mixed": 4.0, "no_failures": 0, "never_active": 0, "all_zero": 0, "only_failing": np.inf},
    "barinel": {"mixed": 2 / 3, "no_failures": 0, "never_active": 0, "all_zero": 0, "only_failing": 1},
}
FUNCS = {"tarantula": tarantula, "ochiai": ochiai, "dstar": dstar, "barinel": barinel}


@pytest.mark.parametrize("measure", list(FUNCS))
@pytest.mark.parametrize("case", list(CASES))
def test_measure_by_hand(measure, case):
    got = float(FUNCS[measure](*CASES[case]))
    assert not np.isnan(got)
    assert got == pytest.approx(EXPECTED[measure][case])


def test_dstar_star_is_configurable():
    assert float(dstar(2, 1, 1, 3, star=2)) == pytest.approx(2.0)
    assert float(dstar(3, 1, 2, 0, star=1)) == pytest.approx(1.0)


def test_vectorised_score_matches_scalar_and_rejects_unknown():
    df = pd.DataFrame([dict(zip(("af", "nf", "as", "ns"), v)) for v in CASES.values()])
    for m, f in FUNCS.items():
        np.testing.assert_allclose(score(df, m), [f(*v) for v in CASES.values()])
    with pytest.raises(ValueError, match="choose one of"):
        score(df, "jaccard")


def test_top_k_global_and_per_layer():
    df = pd.DataFrame({"layer": ["a", "a", "a", "b", "b"], "af": [3, 2, 0, 1, 0], "nf": [0, 1, 3, 2, 3],
                       "as": [0, 0, 0, 0, 0], "ns": [5, 5, 5, 5, 5]})
    ranked = rank(df, "ochiai")
    assert top_k(ranked, 2).index.tolist() == [0, 1]
    per = top_k(ranked, 1, per_layer=True)
    assert per["layer"].tolist() == ["a", "b"] and per.index.tolist() == [0, 3]
    with pytest.raises(ValueError):
        top_k(ranked, 0)

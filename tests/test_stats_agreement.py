"""Cohen's kappa: hand-computed tables, statsmodels and scikit-learn references, tidy tables."""

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa

from reconstudy.stats import cohens_kappa, kappa_from_table, kappa_table

# 5-level Likert table, rows rater A (1..5), columns rater B; n = 20, 13 on the diagonal,
# all 7 disagreements one category apart. Margins: rows 3,5,6,4,2; columns 3,5,6,3,3.
LIKERT = np.array(
    [
        [2, 1, 0, 0, 0],
        [1, 3, 1, 0, 0],
        [0, 1, 4, 1, 0],
        [0, 0, 1, 2, 1],
        [0, 0, 0, 0, 2],
    ]
)


def ratings_from_table(table, categories):
    a, b = [], []
    for i, j in itertools.product(range(len(categories)), repeat=2):
        a += [categories[i]] * int(table[i, j])
        b += [categories[j]] * int(table[i, j])
    return np.array(a), np.array(b)


def test_seed003_style_2x2_by_hand():
    # lesion present/absent, rater 1 vs rater 2: p_o = 85/100, p_e = (25*30 + 75*70)/100^2 = 0.6
    res = kappa_from_table([[20, 5], [10, 65]])
    assert res["p_observed"] == pytest.approx(0.85)
    assert res["p_expected"] == pytest.approx(0.6)
    assert res["kappa"] == pytest.approx(0.625)
    assert res["ci_low"] < 0.625 < res["ci_high"]


def test_perfect_agreement_on_unbalanced_2x2():
    # seed 003 inter-method PRLs: the same 37 of 433 lesions called PRL under both methods -> kappa 1
    res = kappa_from_table([[37, 0], [0, 396]])
    assert res["kappa"] == pytest.approx(1.0)
    assert res["se"] == pytest.approx(0.0, abs=1e-12)


def test_likert_5_level_by_hand():
    a, b = ratings_from_table(LIKERT, [1, 2, 3, 4, 5])
    cats = [1, 2, 3, 4, 5]
    # unweighted: p_o = 13/20, p_e = (9+25+36+12+6)/400 = 88/400 -> (0.65-0.22)/0.78 = 43/78
    assert cohens_kappa(a, b, categories=cats)["kappa"] == pytest.approx(43 / 78)
    # linear: observed disagreement 7*(1/4)/20; expected sum r_i c_j |i-j| = 550 -> 550/(4*400);
    # 1 - (7/80)/(550/1600) = 1 - 14/55
    assert cohens_kappa(a, b, weights="linear", categories=cats)["kappa"] == pytest.approx(41 / 55)
    # quadratic: observed 7/(16*20); expected sum r_i c_j (i-j)^2 = 1208 -> 1 - 140/1208 = 267/302
    assert cohens_kappa(a, b, weights="quadratic", categories=cats)["kappa"] == pytest.approx(267 / 302)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_statsmodels_and_sklearn(weights, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 6, 120)
    b = np.clip(a + rng.integers(-1, 2, 120) * (rng.random(120) < 0.5), 1, 5)
    ours = cohens_kappa(a, b, weights=weights, categories=[1, 2, 3, 4, 5])
    table = np.zeros((5, 5))
    np.add.at(table, (a - 1, b - 1), 1)
    ref = sm_kappa(table, wt=weights) if weights else sm_kappa(table)
    assert ours["kappa"] == pytest.approx(ref.kappa)
    assert ours["kappa"] == pytest.approx(cohen_kappa_score(a, b, weights=weights))
    assert ours["se"] == pytest.approx(ref.std_kappa)
    assert ours["z"] == pytest.approx(ref.z_value)
    assert (ours["ci_low"], ours["ci_high"]) == pytest.approx((ref.kappa_low, ref.kappa_upp))


def test_likert_table_matches_statsmodels_se():
    for weights in (None, "linear", "quadratic"):
        ours = kappa_from_table(LIKERT, weights)
        ref = sm_kappa(LIKERT, wt=weights) if weights else sm_kappa(LIKERT)
        assert ours["se"] == pytest.approx(ref.std_kappa)


def test_bootstrap_ci_is_reproducible_and_brackets_kappa():
    a, b = ratings_from_table(LIKERT * 5, [1, 2, 3, 4, 5])
    r1 = cohens_kappa(a, b, weights="quadratic", n_boot=500, seed=[3, 1])
    r2 = cohens_kappa(a, b, weights="quadratic", n_boot=500, seed=[3, 1])
    assert r1["boot_low"] == r2["boot_low"] and r1["boot_high"] == r2["boot_high"]
    assert r1["boot_low"] < r1["kappa"] < r1["boot_high"]
    # the bootstrap and analytic intervals describe the same sampling variability
    assert r1["boot_high"] - r1["boot_low"] == pytest.approx(r1["ci_high"] - r1["ci_low"], rel=0.35)


def test_unused_category_changes_weighted_kappa_only_through_scale():
    # with categories given, an unused top level still sets the (k-1) weight scale
    a, b = [1, 2, 2, 3], [1, 2, 3, 3]
    assert cohens_kappa(a, b, weights="linear", categories=[1, 2, 3, 4, 5])["kappa"] == pytest.approx(
        cohen_kappa_score(a, b, weights="linear", labels=[1, 2, 3, 4, 5])
    )


def test_kappa_table_inter_rater_and_inter_method():
    rng = np.random.default_rng(4)
    rows = []
    for lesion in range(60):
        truth = rng.random() < 0.3
        for rater, method in itertools.product(["R1", "R2"], ["CR", "DLR"]):
            call = truth if rng.random() < 0.9 else not truth
            rows.append({"lesion": lesion, "rater": rater, "method": method, "prl": int(call)})
    df = pd.DataFrame(rows)
    inter_rater = kappa_table(df, rating="prl", item="lesion", between="rater", by=["method"])
    assert list(inter_rater["method"]) == ["CR", "DLR"]
    sub = df[df.method == "CR"].pivot(index="lesion", columns="rater", values="prl")
    assert inter_rater.iloc[0]["kappa"] == pytest.approx(cohen_kappa_score(sub["R1"], sub["R2"]))
    inter_method = kappa_table(
        df, rating="prl", item="lesion", between="method", by=["rater"], weights=[None, "linear"]
    )
    assert len(inter_method) == 4 and set(inter_method["weights"]) == {"none", "linear"}


def test_malformed_inputs_raise():
    with pytest.raises(ValueError, match="paired"):
        cohens_kappa([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="unknown categories"):
        cohens_kappa([1, 2, 6], [1, 2, 3], categories=[1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="missing"):
        cohens_kappa([1, np.nan, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="weights"):
        cohens_kappa([1, 2, 3], [1, 2, 3], weights="cubic")
    df = pd.DataFrame({"lesion": [1, 2, 1], "rater": ["a", "a", "b"], "prl": [1, 0, 1]})
    with pytest.raises(ValueError, match="not rated under both"):
        kappa_table(df, rating="prl", item="lesion", between="rater")
    assert np.isnan(cohens_kappa([1, 1, 1], [1, 1, 1])["kappa"])  # no variation: undefined

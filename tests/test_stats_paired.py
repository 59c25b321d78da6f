"""Wilcoxon signed-rank, paired t-tests and multiplicity corrections against references."""

import itertools

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from reconstudy.stats import adjust_pvalues, compare_to_reference, paired_ttest, wilcoxon_signed_rank


def brute_force_p(d, alternative="two-sided"):
    """Enumerate all 2^n sign flips of the non-zero |d| mid-ranks (independent of the DP)."""
    d = np.asarray(d, float)
    d = d[d != 0]
    ranks = stats.rankdata(np.abs(d))
    t_obs = ranks[d > 0].sum()
    totals = np.array(
        [
            sum(r for r, s in zip(ranks, signs, strict=True) if s)
            for signs in itertools.product([0, 1], repeat=len(ranks))
        ]
    )
    le, ge = np.mean(totals <= t_obs + 1e-9), np.mean(totals >= t_obs - 1e-9)
    return {"less": le, "greater": ge, "two-sided": min(1.0, 2 * min(le, ge))}[alternative]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_exact_matches_scipy_without_ties(seed, alternative):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=18), rng.normal(size=18) + 0.4
    ours = wilcoxon_signed_rank(x, y, alternative=alternative, method="exact")
    ref = stats.wilcoxon(x, y, alternative=alternative, method="exact")
    assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert ours["statistic"] == pytest.approx(ref.statistic)


@pytest.mark.parametrize("correction", [False, True])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_normal_approximation_matches_scipy_with_ties(correction, alternative):
    rng = np.random.default_rng(7)
    x, y = rng.integers(1, 6, 80), rng.integers(1, 6, 80)
    ours = wilcoxon_signed_rank(x, y, alternative=alternative, method="approx", correction=correction)
    ref = stats.wilcoxon(x, y, alternative=alternative, method="asymptotic", correction=correction)
    assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-10)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_exact_with_ties_and_zeros_matches_full_enumeration(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.integers(1, 6, 12), rng.integers(1, 6, 12)  # Likert scores: ties and zeros
    for alternative in ("two-sided", "greater", "less"):
        ours = wilcoxon_signed_rank(x, y, alternative=alternative)
        assert ours["test"] == "wilcoxon-exact" and "method" not in ours
        assert ours["p"] == pytest.approx(brute_force_p(x - y, alternative), abs=1e-12)
    # scipy's default for n <= 13 with ties is an exhaustive permutation test: the same null
    assert wilcoxon_signed_rank(x, y)["p"] == pytest.approx(stats.wilcoxon(x, y).pvalue, abs=1e-12)


def test_hand_computed_untied():
    # d = 1, 2, -3, 4, 5: ranks 1..5, W+ = 12, W- = 3; P(T+ >= 12) = 5/32 under H0
    res = wilcoxon_signed_rank([1, 2, -3, 4, 5], [0, 0, 0, 0, 0])
    assert (res["w_plus"], res["w_minus"], res["statistic"]) == (12, 3, 3)
    assert res["p"] == pytest.approx(10 / 32)
    assert res["rank_biserial"] == pytest.approx(9 / 15)
    z = (12 - 7.5) / np.sqrt(55 / 4)
    assert res["z"] == pytest.approx(z)
    assert res["effect_r"] == pytest.approx(z / np.sqrt(5))


def test_hand_computed_tied():
    # d = 1, 1, -1, 2: mid-ranks 2, 2, 2, 4; W+ = 8 of 10; 4 of 16 sign patterns give T+ >= 8
    res = wilcoxon_signed_rank([2, 3, 1, 5], [1, 2, 2, 3])
    assert (res["w_plus"], res["w_minus"]) == (8, 2)
    assert res["p"] == pytest.approx(0.5)
    assert wilcoxon_signed_rank([2, 3, 1, 5], [1, 2, 2, 3], alternative="greater")["p"] == pytest.approx(0.25)


def test_rank_biserial_matches_pingouin():
    rng = np.random.default_rng(11)
    x, y = rng.integers(1, 6, 40), rng.integers(1, 6, 40)
    ref = pg.wilcoxon(x, y)
    assert wilcoxon_signed_rank(x, y)["rank_biserial"] == pytest.approx(ref["RBC"].iloc[0])


def test_pratt_zero_method_matches_scipy():
    rng = np.random.default_rng(12)
    x, y = rng.integers(1, 6, 60), rng.integers(1, 6, 60)
    ours = wilcoxon_signed_rank(x, y, zero_method="pratt", method="approx")
    assert ours["p"] == pytest.approx(stats.wilcoxon(x, y, zero_method="pratt", method="asymptotic").pvalue)


def test_paired_ttest_matches_scipy():
    rng = np.random.default_rng(5)
    x = rng.normal(0.85, 0.02, 20)
    y = x - rng.normal(0.017, 0.017, 20)
    ours = paired_ttest(x, y)
    ref = stats.ttest_rel(x, y)
    ci = ref.confidence_interval()
    assert ours["t"] == pytest.approx(ref.statistic)
    assert ours["p"] == pytest.approx(ref.pvalue)
    assert (ours["ci_low"], ours["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert ours["test"] == "paired-t" and "method" not in ours
    assert ours["cohen_dz"] == pytest.approx(np.mean(x - y) / np.std(x - y, ddof=1))


@pytest.mark.parametrize("method,sm", [("fdr_bh", "fdr_bh"), ("bonferroni", "bonferroni"), ("holm", "holm")])
def test_adjust_pvalues_matches_statsmodels(method, sm):
    p = np.array([0.001, 0.04, 0.03, 0.2, 0.04, 0.8, 0.0003, 0.5])
    assert adjust_pvalues(p, method) == pytest.approx(multipletests(p, method=sm)[1])


def test_bh_hand_computed():
    # m = 4: 0.01*4/1=0.04, 0.02*4/2=0.04, 0.03*4/3=0.04, 0.5*4/4=0.5
    assert adjust_pvalues([0.03, 0.01, 0.5, 0.02], "fdr_bh") == pytest.approx([0.04, 0.04, 0.5, 0.04])


def reader_study(seed=0, n_cases=15):
    rng = np.random.default_rng(seed)
    rows = []
    shifts = {"CS R=4": 0, "DL R=6": 0.6, "DL R=12": -1.0}
    for reader, case, (method, shift) in itertools.product(
        ["r1", "r2", "r3"], range(n_cases), shifts.items()
    ):
        score = int(np.clip(np.rint(3.5 + shift + rng.normal(0, 0.8)), 1, 5))
        rows.append(
            {
                "reader": reader,
                "case": f"c{case:02d}",
                "method": method,
                "criterion": "quality",
                "score": score,
            }
        )
    return pd.DataFrame(rows)


def test_compare_to_reference_per_reader_and_pooled():
    df = reader_study()
    per_reader = compare_to_reference(
        df, value="score", condition="method", reference="CS R=4", subject="case", by=["reader", "criterion"]
    )
    assert len(per_reader) == 3 * 2
    one = per_reader[(per_reader.reader == "r2") & (per_reader.method == "DL R=6")].iloc[0]
    sub = df[df.reader == "r2"].pivot(index="case", columns="method", values="score")
    assert one["p"] == pytest.approx(wilcoxon_signed_rank(sub["DL R=6"], sub["CS R=4"])["p"])
    pooled = compare_to_reference(
        df,
        value="score",
        condition="method",
        reference="CS R=4",
        subject=["reader", "case"],
        by=["criterion"],
        correction="fdr_bh",
    )
    assert len(pooled) == 2 and set(pooled["n_pairs"]) == {45}
    assert pooled["p_adj"].to_numpy() == pytest.approx(multipletests(pooled["p"], method="fdr_bh")[1])
    assert (pooled.set_index("method").loc["DL R=12", "effect_r"]) < 0
    # the condition column 'method' holds the reconstructions; the test's name is in 'test'
    assert set(pooled["test"]) == {"wilcoxon-exact"} and set(pooled["method"]) == {"DL R=6", "DL R=12"}


def test_ttests_with_bh_match_pingouin():
    rng = np.random.default_rng(3)
    rows = [
        {"subject": s, "image": im, "dice": 0.8 + 0.01 * k + rng.normal(0, 0.02)}
        for s in range(20)
        for k, im in enumerate(["3T", "unet", "gan"])
    ]
    df = pd.DataFrame(rows)
    ours = compare_to_reference(
        df,
        value="dice",
        condition="image",
        reference="3T",
        subject="subject",
        test="ttest",
        correction="fdr_bh",
    )
    ref = pg.pairwise_tests(df, dv="dice", within="image", subject="subject", padjust="fdr_bh")
    ref = (
        ref[ref["B"] == "3T"].set_index("A")
        if (ref["B"] == "3T").any()
        else ref[ref["A"] == "3T"].set_index("B")
    )
    for row in ours.itertuples():
        assert abs(row.t) == pytest.approx(abs(ref.loc[row.image, "T"]))
        assert row.p == pytest.approx(ref.loc[row.image, "p_unc"])


def test_malformed_inputs_raise():
    with pytest.raises(ValueError, match="equal length"):
        wilcoxon_signed_rank([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="missing or non-finite"):
        wilcoxon_signed_rank([1, np.nan, 3], [1, 2, 2])
    with pytest.raises(ValueError, match="all paired differences are zero"):
        wilcoxon_signed_rank([1, 2], [1, 2])
    with pytest.raises(ValueError, match="alternative"):
        paired_ttest([1, 2, 3], [2, 3, 5], alternative="bigger")
    df = reader_study(n_cases=5)
    with pytest.raises(ValueError, match="duplicate"):
        compare_to_reference(
            pd.concat([df, df.iloc[:1]]),
            value="score",
            condition="method",
            reference="CS R=4",
            subject="case",
            by=["reader"],
        )
    with pytest.raises(ValueError, match="unpaired"):
        compare_to_reference(
            df.iloc[1:], value="score", condition="method", reference="CS R=4", subject="case", by=["reader"]
        )
    with pytest.raises(ValueError, match="not found"):
        compare_to_reference(
            df, value="score", condition="method", reference="GRAPPA", subject="case", by=["reader"]
        )

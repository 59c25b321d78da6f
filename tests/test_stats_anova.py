"""Repeated-measures ANOVA and post-hoc tests against statsmodels and pingouin."""

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.anova import AnovaRM
from statsmodels.stats.multicomp import pairwise_tukeyhsd

from reconstudy.stats import posthoc_paired, posthoc_tukey, rm_anova


def rankings(seed=0, n_raters=9):
    """Raters (subjects) giving a mean rank to each image type (seed 004's survey design)."""
    rng = np.random.default_rng(seed)
    offsets = {"3T": 4.4, "7T": 2.8, "unet": 2.5, "gan": 1.7}
    rows = [
        {"rater": f"r{i}", "image": im, "rank": mu + rng.normal(0, 0.8) + 0.3 * (i % 3)}
        for i in range(n_raters)
        for im, mu in offsets.items()
    ]
    return pd.DataFrame(rows)


def long_from(y):
    return pd.DataFrame(
        [{"s": i, "c": f"c{j}", "y": v} for i, row in enumerate(y) for j, v in enumerate(row)]
    )


def test_hand_computed_anova_and_tukey():
    # grand mean 3, SS_cond 6, SS_subj 14/3, SS_tot 12, SS_err 4/3, F = 3 / (1/3) = 9 on (2, 4) df
    df = long_from([[1, 2, 3], [2, 3, 5], [3, 4, 4]])
    res = rm_anova(df, dv="y", within="c", subject="s").iloc[0]
    assert res["ss"] == pytest.approx(6) and res["ss_error"] == pytest.approx(4 / 3)
    assert res["F"] == pytest.approx(9) and (res["df1"], res["df2"]) == (2, 4)
    assert res["p"] == pytest.approx(5.5**-2)  # F(2, d) tail: (1 + 2F/d)^(-d/2)
    tukey = posthoc_tukey(df, dv="y", within="c", subject="s").set_index(["level_a", "level_b"])
    # MS_err = 1/3, n = 3 -> se = 1/3; c0 vs c2 differ by 2 -> q = 6
    assert tukey.loc[("c0", "c2"), "q"] == pytest.approx(6)
    assert tukey.loc[("c0", "c2"), "p_adj"] == pytest.approx(stats.studentized_range.sf(6, 3, 4))
    # the test's name is in 'test', so a reconstruction column called 'method' survives joins
    paired = posthoc_paired(long_from([[1, 2, 4], [2, 3, 5], [3, 5, 4]]), dv="y", within="c", subject="s")
    anova = rm_anova(df, dv="y", within="c", subject="s")
    for table, name in ((anova, "rm-anova"), (tukey, "tukey-hsd-within")):
        assert set(table["test"]) == {name} and "method" not in table.columns
    assert set(paired["test"]) == {"paired-t"} and "method" not in paired.columns


def test_rm_anova_matches_statsmodels_and_pingouin():
    df = rankings()
    ours = rm_anova(df, dv="rank", within="image", subject="rater").iloc[0]
    sm = AnovaRM(df, "rank", "rater", within=["image"]).fit().anova_table.iloc[0]
    assert ours["F"] == pytest.approx(sm["F Value"]) and ours["p"] == pytest.approx(sm["Pr > F"])
    ref = pg.rm_anova(df, dv="rank", within="image", subject="rater", correction=True, detailed=True).iloc[0]
    assert ours["F"] == pytest.approx(ref["F"])
    assert ours["eps_gg"] == pytest.approx(ref["eps"])
    assert ours["p_gg"] == pytest.approx(ref["p_GG_corr"])
    assert ours["ges"] == pytest.approx(ref["ng2"])


def test_aggregate_mean_matches_statsmodels_aggregate():
    df = pd.concat([rankings(1).assign(case=1), rankings(2).assign(case=2)])
    with pytest.raises(ValueError, match="aggregate"):
        rm_anova(df, dv="rank", within="image", subject="rater")
    ours = rm_anova(df, dv="rank", within="image", subject="rater", aggregate="mean").iloc[0]
    sm = AnovaRM(df, "rank", "rater", within=["image"], aggregate_func="mean").fit().anova_table.iloc[0]
    assert ours["F"] == pytest.approx(sm["F Value"])


def test_tukey_between_matches_statsmodels():
    df = rankings(3)
    ours = posthoc_tukey(df, dv="rank", within="image", subject="rater", error="between")
    ref = pairwise_tukeyhsd(df["rank"], df["image"])
    ref_df = pd.DataFrame(ref._results_table.data[1:], columns=ref._results_table.data[0])
    merged = ours.merge(ref_df, left_on=["level_a", "level_b"], right_on=["group1", "group2"])
    assert len(merged) == 6
    assert merged["diff"].to_numpy() == pytest.approx(merged["meandiff"].astype(float).to_numpy(), abs=1e-4)
    assert merged["p_adj"].to_numpy() == pytest.approx(merged["p-adj"].astype(float).to_numpy(), abs=1e-4)
    assert merged["ci_low"].to_numpy() == pytest.approx(merged["lower"].astype(float).to_numpy(), abs=1e-4)


def test_tukey_within_matches_two_way_ols_contrasts():
    # the repeated-measures error term equals the residual of y ~ subject + condition
    df = rankings(4)
    ours = posthoc_tukey(df, dv="rank", within="image", subject="rater", error="within")
    fit = smf.ols("Q('rank') ~ C(rater) + C(image)", data=df).fit()
    k, dof = 4, fit.df_resid
    for row in ours.itertuples():
        names = fit.params.index
        contrast = np.zeros(len(names))
        for level, sign in ((row.level_b, 1), (row.level_a, -1)):
            name = f"C(image)[T.{level}]"
            if name in names:
                contrast[list(names).index(name)] += sign
        t = fit.t_test(contrast)
        q = abs(float(np.squeeze(t.tvalue))) * np.sqrt(2)
        assert row.df == dof
        assert row.q == pytest.approx(q)
        assert row.p_adj == pytest.approx(stats.studentized_range.sf(q, k, dof))


def test_bonferroni_posthoc_matches_pingouin():
    df = rankings(5)
    ours = posthoc_paired(df, dv="rank", within="image", subject="rater", correction="bonferroni")
    ref = pg.pairwise_tests(df, dv="rank", within="image", subject="rater", padjust="bonf")
    merged = ours.merge(ref, left_on=["level_a", "level_b"], right_on=["A", "B"])
    assert len(merged) == 6
    assert merged["t"].to_numpy() == pytest.approx(merged["T"].to_numpy())
    assert merged["p_adj"].to_numpy() == pytest.approx(merged["p_corr"].to_numpy())


def test_unbalanced_or_malformed_raise():
    df = rankings(6)
    with pytest.raises(ValueError, match="unbalanced"):
        rm_anova(df.iloc[1:], dv="rank", within="image", subject="rater")
    bad = df.copy()
    bad.loc[0, "rank"] = np.nan
    with pytest.raises(ValueError, match="missing"):
        rm_anova(bad, dv="rank", within="image", subject="rater")
    with pytest.raises(ValueError, match="error"):
        posthoc_tukey(df, dv="rank", within="image", subject="rater", error="pooled")
    with pytest.raises(ValueError, match="at least 2 levels"):
        rm_anova(df[df.image == "3T"], dv="rank", within="image", subject="rater")

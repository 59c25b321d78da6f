"""One-way repeated-measures ANOVA with Tukey and Bonferroni post-hoc comparisons.

Seed 004 asks raters to rank image types (3T, 7T, synthetic 7T, ...) and tests whether the
mean rank differs across image types with a repeated-measures ANOVA (image type within
rater), followed by Tukey (and Bonferroni-corrected) pairwise comparisons.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from reconstudy.stats._validate import check_alpha, require_columns, require_no_missing
from reconstudy.stats.multiple import adjust_pvalues
from reconstudy.stats.paired import paired_ttest


def subject_by_condition(
    table: pd.DataFrame, *, dv: str, within: str, subject: str, aggregate: str | None = None
) -> pd.DataFrame:
    """Balanced subject x condition matrix of ``dv``.

    Args:
        aggregate: None (each subject must have exactly one row per condition) or 'mean'
            (average repeated rows, e.g. a rater ranking several cases per image type).
    """
    require_columns(table, [dv, within, subject], "ANOVA table")
    require_no_missing(table, [dv, within, subject], "ANOVA table")
    counts = table.groupby([subject, within]).size()
    if aggregate is None and (counts > 1).any():
        dup = counts[counts > 1].index[:10].tolist()
        raise ValueError(
            f"several rows per ({subject}, {within}) e.g. {dup}; pass aggregate='mean' to average them"
        )
    if aggregate not in (None, "mean"):
        raise ValueError(f"aggregate must be None or 'mean', got {aggregate!r}")
    wide = table.groupby([subject, within])[dv].mean().unstack(within)
    incomplete = wide.isna().any(axis=1)
    if incomplete.any():
        raise ValueError(
            f"unbalanced design: {subject}(s) {wide.index[incomplete][:10].tolist()} lack some "
            f"{within} level(s); repeated-measures ANOVA needs every level for every {subject}"
        )
    if wide.shape[1] < 2:
        raise ValueError(f"need at least 2 levels of {within!r}, got {list(wide.columns)}")
    if wide.shape[0] < 2:
        raise ValueError(f"need at least 2 {subject}s, got {wide.shape[0]}")
    return wide


def _sums_of_squares(y: np.ndarray) -> dict:
    n, k = y.shape
    grand = y.mean()
    ss_cond = n * ((y.mean(0) - grand) ** 2).sum()
    ss_subj = k * ((y.mean(1) - grand) ** 2).sum()
    ss_total = ((y - grand) ** 2).sum()
    ss_err = ss_total - ss_cond - ss_subj
    return {
        "n": n,
        "k": k,
        "ss_cond": ss_cond,
        "ss_subj": ss_subj,
        "ss_err": ss_err,
        "df_cond": k - 1,
        "df_err": (n - 1) * (k - 1),
    }


def greenhouse_geisser_epsilon(y: np.ndarray) -> float:
    """Greenhouse–Geisser epsilon from the double-centred covariance of the k conditions.

    ``eps = tr(S)^2 / ((k - 1) tr(S S))``, 1/(k-1) <= eps <= 1, 1 under sphericity.
    """
    k = y.shape[1]
    cov = np.cov(y, rowvar=False)
    centre = np.eye(k) - np.ones((k, k)) / k
    s = centre @ cov @ centre
    denom = (k - 1) * np.trace(s @ s)
    return float(np.trace(s) ** 2 / denom) if denom > 0 else 1.0


def rm_anova(
    table: pd.DataFrame, *, dv: str, within: str, subject: str, aggregate: str | None = None
) -> pd.DataFrame:
    """One-way repeated-measures ANOVA.

    With the n x k matrix ``y`` (subjects x conditions): ``SS_cond = n sum_j (ybar_.j - ybar)^2``,
    ``SS_subj = k sum_i (ybar_i. - ybar)^2``, ``SS_err = SS_tot - SS_cond - SS_subj``,
    ``F = (SS_cond / (k-1)) / (SS_err / ((n-1)(k-1)))``. Assumes normal residuals and
    sphericity; the Greenhouse–Geisser corrected p (``p_gg``) relaxes the latter.

    Returns:
        one row: source, n_subjects, n_levels, ss, ss_error, df1, df2, ms, ms_error, F, p,
        eps_gg, p_gg, partial_eta2 (SS_cond / (SS_cond + SS_err)), ges (generalised eta squared,
        SS_cond / (SS_cond + SS_subj + SS_err)), test.

    References:
        Greenhouse SW, Geisser S. On methods in the analysis of profile data. Psychometrika
        1959;24:95-112. Bakeman R. Recommended effect size statistics for repeated measures
        designs. Behav Res Methods 2005;37:379-384.
    """
    wide = subject_by_condition(table, dv=dv, within=within, subject=subject, aggregate=aggregate)
    y = wide.to_numpy(float)
    s = _sums_of_squares(y)
    if s["ss_err"] <= 0:
        raise ValueError("zero residual variance: the F ratio is undefined (identical profiles?)")
    ms, ms_err = s["ss_cond"] / s["df_cond"], s["ss_err"] / s["df_err"]
    f = ms / ms_err
    eps = greenhouse_geisser_epsilon(y)
    return pd.DataFrame(
        [
            {
                "source": within,
                "n_subjects": s["n"],
                "n_levels": s["k"],
                "ss": s["ss_cond"],
                "ss_error": s["ss_err"],
                "df1": s["df_cond"],
                "df2": s["df_err"],
                "ms": ms,
                "ms_error": ms_err,
                "F": f,
                "p": stats.f.sf(f, s["df_cond"], s["df_err"]),
                "eps_gg": eps,
                "p_gg": stats.f.sf(f, s["df_cond"] * eps, s["df_err"] * eps),
                "partial_eta2": s["ss_cond"] / (s["ss_cond"] + s["ss_err"]),
                "ges": s["ss_cond"] / (s["ss_cond"] + s["ss_subj"] + s["ss_err"]),
                "test": "rm-anova",
            }
        ]
    )


def _pairs(levels):
    return [(a, b) for i, a in enumerate(levels) for b in levels[i + 1 :]]


def posthoc_tukey(
    table: pd.DataFrame,
    *,
    dv: str,
    within: str,
    subject: str,
    error: str = "within",
    alpha: float = 0.05,
    aggregate: str | None = None,
) -> pd.DataFrame:
    """Tukey HSD comparisons of all pairs of conditions.

    ``q = |ybar_a - ybar_b| / sqrt(MS / n)`` referred to the studentized range distribution
    with k means and the error degrees of freedom; simultaneous CIs
    ``diff +/- q_{1-alpha}(k, df) sqrt(MS / n)``.

    Args:
        error: 'within' uses the repeated-measures error term (MS_err, (n-1)(k-1) df), which
            removes between-subject variation; 'between' uses the one-way pooled within-group
            variance (N - k df), i.e. the classic independent-groups Tukey HSD.

    Returns:
        one row per pair: level_a, level_b, mean_a, mean_b, diff (b - a, as statsmodels),
        se, q, df, p_adj, ci_low, ci_high, reject, test.

    References:
        Tukey JW. The problem of multiple comparisons. Princeton 1953 (unpublished notes);
        Maxwell SE, Delaney HD. Designing Experiments and Analyzing Data, 2nd ed., ch. 11-13.
    """
    alpha = check_alpha(alpha)
    wide = subject_by_condition(table, dv=dv, within=within, subject=subject, aggregate=aggregate)
    y = wide.to_numpy(float)
    n, k = y.shape
    if error == "within":
        s = _sums_of_squares(y)
        ms, df = s["ss_err"] / s["df_err"], s["df_err"]
    elif error == "between":
        ms, df = ((y - y.mean(0)) ** 2).sum() / (n * k - k), n * k - k
    else:
        raise ValueError(f"error must be 'within' or 'between', got {error!r}")
    se = np.sqrt(ms / n)
    q_crit = stats.studentized_range.ppf(1 - alpha, k, df)
    means = dict(zip(wide.columns, y.mean(0), strict=True))
    rows = []
    for a, b in _pairs(list(wide.columns)):
        diff = means[b] - means[a]
        q = abs(diff) / se
        p = float(stats.studentized_range.sf(q, k, df))
        rows.append(
            {
                "level_a": a,
                "level_b": b,
                "mean_a": means[a],
                "mean_b": means[b],
                "diff": diff,
                "se": se,
                "q": q,
                "df": df,
                "p_adj": min(1.0, p),
                "ci_low": diff - q_crit * se,
                "ci_high": diff + q_crit * se,
                "reject": p < alpha,
                "test": f"tukey-hsd-{error}",
            }
        )
    return pd.DataFrame(rows)


def posthoc_paired(
    table: pd.DataFrame,
    *,
    dv: str,
    within: str,
    subject: str,
    correction: str = "bonferroni",
    alpha: float = 0.05,
    aggregate: str | None = None,
) -> pd.DataFrame:
    """Paired t-tests between all pairs of conditions with a multiplicity correction.

    Returns:
        one row per pair: level_a, level_b and the :func:`paired_ttest` columns (x = level_a,
        y = level_b), plus p_adj, correction and reject.
    """
    wide = subject_by_condition(table, dv=dv, within=within, subject=subject, aggregate=aggregate)
    rows = []
    for a, b in _pairs(list(wide.columns)):
        rows.append({"level_a": a, "level_b": b, **paired_ttest(wide[a], wide[b], alpha=alpha)})
    out = pd.DataFrame(rows)
    out["p_adj"] = adjust_pvalues(out["p"].to_numpy(), correction)
    out["correction"] = correction
    out["reject"] = out["p_adj"] < alpha
    return out

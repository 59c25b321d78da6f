"""Paired comparisons of two conditions: Wilcoxon signed-rank and paired t-tests.

Reader studies (seeds 000 and 003) compare Likert scores of the same cases under two
reconstructions; segmentation studies (seed 004) compare Dice of the same subjects under
two image types. Both are paired designs; these functions return one tidy row per comparison.

The Wilcoxon test here computes its exact null distribution by dynamic programming over the
(mid-)ranks actually observed, so it stays exact with tied scores, which are the rule on a
5-point scale (scipy's ``method='exact'`` assumes untied ranks).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from reconstudy.stats._validate import (
    check_alpha,
    paired_vectors,
    require_columns,
    require_no_missing,
    require_unique,
)
from reconstudy.stats.multiple import adjust_pvalues

EXACT_MAX_N = 50
_ALTERNATIVES = ("two-sided", "greater", "less")


def _signed_rank_null(ranks: np.ndarray) -> tuple[np.ndarray, int]:
    """Null distribution of ``T+ = sum(s_i * r_i)`` for independent fair signs ``s_i``.

    Ranks are mid-ranks (multiples of 1/2), so doubled ranks are integers and the
    distribution is a polynomial product ``prod_i (1 + z^{2 r_i}) / 2`` built one rank at a time.

    Returns:
        probabilities over ``2*T+ = 0 .. sum(2 r_i)`` and the scale factor (2).
    """
    doubled = np.rint(2 * ranks).astype(np.int64)
    dist = np.zeros(int(doubled.sum()) + 1)
    dist[0] = 1.0
    top = 0
    for r in doubled:
        dist[r : top + r + 1] += dist[: top + 1].copy()
        dist[: top + r + 1] *= 0.5
        top += r
    return dist, 2


def wilcoxon_signed_rank(
    x,
    y,
    *,
    alternative: str = "two-sided",
    zero_method: str = "wilcox",
    method: str = "auto",
    correction: bool = False,
) -> dict:
    """Wilcoxon signed-rank test of paired samples, with effect sizes.

    The differences ``d_i = x_i - y_i`` are ranked by ``|d_i|`` (mid-ranks for ties).
    ``T+ = sum_{d_i > 0} r_i``; under H0 (differences symmetric about 0) each rank carries a
    positive sign with probability 1/2, so ``E[T+] = sum r_i / 2`` and ``Var[T+] = sum r_i^2 / 4``
    (this conditional variance already contains the tie correction).

    Args:
        x, y: paired observations (same length, finite).
        alternative: 'two-sided', 'greater' (x tends to exceed y) or 'less'.
        zero_method: 'wilcox' drops zero differences before ranking; 'pratt' ranks them and
            then drops them (Pratt 1959).
        method: 'exact' (null distribution enumerated over the observed ranks, ties included),
            'approx' (normal approximation) or 'auto' (exact when at most 50 non-zero pairs).
        correction: continuity correction of 0.5 in the normal approximation.

    Returns:
        dict with n_pairs, n (non-zero differences), w_plus, w_minus, statistic (min of the two
        for two-sided tests, else w_plus, as scipy), z, p, test, effect_r (= z / sqrt(n),
        Rosenthal 1991), rank_biserial ((w_plus - w_minus) / (w_plus + w_minus), Kerby 2014),
        median_diff.

    References:
        Wilcoxon F. Individual comparisons by ranking methods. Biometrics Bull 1945;1:80-83.
        Pratt JW. Remarks on zeros and ties in the Wilcoxon signed rank procedures. JASA 1959.
        Kerby DS. The simple difference formula. Compr Psychol 2014;3:11.IT.3.1.
    """
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    if zero_method not in ("wilcox", "pratt"):
        raise ValueError(f"zero_method must be 'wilcox' or 'pratt', got {zero_method!r}")
    if method not in ("auto", "exact", "approx"):
        raise ValueError(f"method must be 'auto', 'exact' or 'approx', got {method!r}")
    x, y = paired_vectors(x, y)
    d = x - y
    nonzero = d != 0
    if zero_method == "wilcox":
        ranks = stats.rankdata(np.abs(d[nonzero]))
    else:
        ranks = stats.rankdata(np.abs(d))[nonzero]
    d_nz = d[nonzero]
    n = int(d_nz.size)
    base = {"n_pairs": int(d.size), "n": n, "median_diff": float(np.median(d))}
    if n == 0:
        raise ValueError("all paired differences are zero; the signed-rank test is undefined")
    w_plus = float(ranks[d_nz > 0].sum())
    w_minus = float(ranks[d_nz < 0].sum())
    mean = ranks.sum() / 2.0
    sd = np.sqrt((ranks**2).sum() / 4.0)
    z = (w_plus - mean) / sd if sd > 0 else 0.0
    if method == "auto":
        method = "exact" if n <= EXACT_MAX_N else "approx"
    if method == "exact":
        dist, scale = _signed_rank_null(ranks)
        t = int(round(scale * w_plus))
        p_le, p_ge = dist[: t + 1].sum(), dist[t:].sum()
        p = {"less": p_le, "greater": p_ge, "two-sided": min(1.0, 2 * min(p_le, p_ge))}[alternative]
    else:
        zc = z
        if correction and sd > 0:
            shift = 0.5 / sd
            if alternative == "greater":
                zc = z - shift
            elif alternative == "less":
                zc = z + shift
            else:
                zc = np.sign(z) * max(abs(z) - shift, 0.0)
        p = {
            "less": stats.norm.cdf(zc),
            "greater": stats.norm.sf(zc),
            "two-sided": min(1.0, 2 * stats.norm.sf(abs(zc))),
        }[alternative]
    statistic = min(w_plus, w_minus) if alternative == "two-sided" else w_plus
    return {
        **base,
        "w_plus": w_plus,
        "w_minus": w_minus,
        "statistic": float(statistic),
        "z": float(z),
        "p": float(p),
        "test": f"wilcoxon-{method}",
        "alternative": alternative,
        "effect_r": float(z / np.sqrt(n)),
        "rank_biserial": float((w_plus - w_minus) / (w_plus + w_minus)),
    }


def paired_ttest(x, y, *, alpha: float = 0.05, alternative: str = "two-sided") -> dict:
    """Student's paired t-test of ``x - y`` with a CI on the mean difference and Cohen's d_z.

    ``t = mean(d) / (sd(d) / sqrt(n))`` with ``n - 1`` degrees of freedom; ``d_z = mean(d) / sd(d)``.
    Assumes the differences are roughly normal (or n large enough for the CLT).

    Returns:
        dict with n, mean_x, mean_y, mean_diff, sd_diff, t, df, p, ci_low, ci_high (two-sided
        1 - alpha interval of the mean difference), cohen_dz, test.
    """
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    alpha = check_alpha(alpha)
    x, y = paired_vectors(x, y)
    if x.size < 2:
        raise ValueError("paired t-test needs at least 2 pairs")
    d = x - y
    n = d.size
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0:
        raise ValueError("all paired differences are identical; the t statistic is undefined")
    se = sd / np.sqrt(n)
    t = mean / se
    df = n - 1
    p = {
        "two-sided": 2 * stats.t.sf(abs(t), df),
        "greater": stats.t.sf(t, df),
        "less": stats.t.cdf(t, df),
    }[alternative]
    half = stats.t.ppf(1 - alpha / 2, df) * se
    return {
        "n": int(n),
        "mean_x": float(x.mean()),
        "mean_y": float(y.mean()),
        "mean_diff": mean,
        "sd_diff": sd,
        "t": float(t),
        "df": int(df),
        "p": float(p),
        "ci_low": mean - half,
        "ci_high": mean + half,
        "cohen_dz": mean / sd,
        "test": "paired-t",
        "alternative": alternative,
    }


def _pairs_for(table, *, value, condition, subject, a, b):
    wide = table.pivot(index=subject, columns=condition, values=value)
    for cond in (a, b):
        if cond not in wide.columns:
            raise ValueError(
                f"condition {cond!r} not found in column {condition!r}; have {list(wide.columns)}"
            )
    missing = wide[[a, b]].isna().any(axis=1)
    if missing.any():
        raise ValueError(
            f"unpaired observations: {int(missing.sum())} {subject} value(s) lack a score for "
            f"{a!r} or {b!r}, e.g. {wide.index[missing][:10].tolist()}; every case needs both"
        )
    return wide[a].to_numpy(float), wide[b].to_numpy(float)


def compare_to_reference(
    table: pd.DataFrame,
    *,
    value: str,
    condition: str,
    reference,
    subject: str | Sequence[str],
    by: Sequence[str] = (),
    test: str = "wilcoxon",
    correction: str | None = None,
    **test_kwargs,
) -> pd.DataFrame:
    """Compare every condition with ``reference`` within each ``by`` group, one row per comparison.

    Args:
        table: tidy rows, one per (subject, condition, *by) observation.
        value: column holding the score (Likert rating, Dice, ...).
        condition: column naming the reconstruction/method.
        reference: the condition every other one is compared with (e.g. 'CS R=4').
        subject: column(s) identifying a pair, e.g. 'case' per reader, or ['reader', 'case']
            to pool readers (each reader x case pair is then one observation).
        by: grouping columns (e.g. ['criterion'] or ['reader', 'criterion']).
        test: 'wilcoxon' or 'ttest'.
        correction: None, 'fdr_bh', 'bonferroni' or 'holm' over all rows of the result.
        **test_kwargs: passed to :func:`wilcoxon_signed_rank` or :func:`paired_ttest`.

    Returns:
        DataFrame with the ``by`` columns, the condition column, reference and the test's columns
        (x is the condition, y the reference, so positive effects mean "higher than the
        reference"; the test's name is in ``test``, never ``method``, so that a condition column
        called 'method' survives), plus p_adj and correction when ``correction`` is given.
    """
    subject = [subject] if isinstance(subject, str) else list(subject)
    by = list(by)
    require_columns(table, [value, condition, *subject, *by], "paired table")
    require_no_missing(table, [value, condition, *subject, *by], "paired table")
    require_unique(table, [*by, *subject, condition], "paired table")
    if reference not in set(table[condition]):
        raise ValueError(f"reference {reference!r} not found in column {condition!r}")
    fn = {"wilcoxon": wilcoxon_signed_rank, "ttest": paired_ttest}.get(test)
    if fn is None:
        raise ValueError(f"test must be 'wilcoxon' or 'ttest', got {test!r}")
    work = table.assign(_pair=table[subject].astype(str).agg("|".join, axis=1))
    rows = []
    groups = work.groupby(by, sort=True) if by else [((), work)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        for cond in sorted(set(group[condition]) - {reference}, key=str):
            x, y = _pairs_for(group, value=value, condition=condition, subject="_pair", a=cond, b=reference)
            res = fn(x, y, **test_kwargs)
            rows.append({**dict(zip(by, key, strict=True)), condition: cond, "reference": reference, **res})
    out = pd.DataFrame(rows)
    if correction is not None and len(out):
        out["p_adj"] = adjust_pvalues(out["p"].to_numpy(), correction)
        out["correction"] = correction
    return out

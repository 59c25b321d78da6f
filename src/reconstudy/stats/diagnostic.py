"""Sensitivity and specificity of a reader's binary findings against a consensus.

Seed 003 scores each rater's lesion classification (PRL yes/no, central vein sign yes/no)
against a consensus reached with a third rater: sensitivity = TP / (TP + FN), specificity =
TN / (TN + FP). Intervals are Wilson score intervals, which stay inside [0, 1] and keep
near-nominal coverage for proportions close to 0 or 1 (the usual case here).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from reconstudy.stats._validate import check_alpha, require_columns, require_no_missing, require_unique


def wilson_interval(successes: int, total: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    ``(p + z^2/(2n) -/+ z sqrt(p(1-p)/n + z^2/(4n^2))) / (1 + z^2/n)`` with ``z = Phi^-1(1 - alpha/2)``.
    Returns (nan, nan) when ``total`` is 0.

    References:
        Wilson EB. Probable inference, the law of succession, and statistical inference.
        JASA 1927;22:209-212. Brown LD, Cai TT, DasGupta A. Interval estimation for a binomial
        proportion. Stat Sci 2001;16:101-133.
    """
    alpha = check_alpha(alpha)
    if total < 0 or successes < 0 or successes > total:
        raise ValueError(f"need 0 <= successes <= total, got {successes} of {total}")
    if total == 0:
        return float("nan"), float("nan")
    z = stats.norm.ppf(1 - alpha / 2)
    p = successes / total
    denom = 1 + z**2 / total
    centre = (p + z**2 / (2 * total)) / denom
    half = z * np.sqrt(p * (1 - p) / total + z**2 / (4 * total**2)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def _as_binary(values, positive, name: str) -> np.ndarray:
    s = pd.Series(np.asarray(values, dtype=object).ravel())
    if s.isna().any():
        raise ValueError(f"{name}: missing values at position(s) {np.flatnonzero(s.isna())[:10].tolist()}")
    if positive is None:
        levels = set(s)
        if not levels <= {True, False}:
            raise ValueError(
                f"{name}: values {sorted(levels, key=str)} are not boolean/0-1; pass positive=<the "
                "category that counts as a finding>"
            )
        return s.astype(bool).to_numpy()
    return (s == positive).to_numpy()


def sensitivity_specificity(predicted, truth, *, positive=None, alpha: float = 0.05) -> dict:
    """Sensitivity, specificity, PPV and NPV of ``predicted`` against ``truth``.

    Args:
        predicted: a reader's findings per item.
        truth: the consensus (reference standard) per item.
        positive: the value meaning "finding present"; None for boolean/0-1 input.
        alpha: 1 - confidence level of the Wilson intervals.

    Returns:
        dict with n, tp, fp, tn, fn, sensitivity, sens_ci_low, sens_ci_high, specificity,
        spec_ci_low, spec_ci_high, ppv, npv, accuracy, method. A proportion whose denominator is
        zero (e.g. no positives in the consensus) is NaN.
    """
    pred = _as_binary(predicted, positive, "predicted")
    true = _as_binary(truth, positive, "truth")
    if pred.size != true.size:
        raise ValueError(f"predicted and truth must be paired: got {pred.size} and {true.size} items")
    tp = int((pred & true).sum())
    fp = int((pred & ~true).sum())
    tn = int((~pred & ~true).sum())
    fn = int((~pred & true).sum())

    def ratio(a, b):
        return a / b if b else float("nan")

    s_lo, s_hi = wilson_interval(tp, tp + fn, alpha)
    c_lo, c_hi = wilson_interval(tn, tn + fp, alpha)
    return {
        "n": int(pred.size),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "sensitivity": ratio(tp, tp + fn),
        "sens_ci_low": s_lo,
        "sens_ci_high": s_hi,
        "specificity": ratio(tn, tn + fp),
        "spec_ci_low": c_lo,
        "spec_ci_high": c_hi,
        "ppv": ratio(tp, tp + fp),
        "npv": ratio(tn, tn + fn),
        "accuracy": (tp + tn) / pred.size,
        "ci_method": "wilson",
    }


def diagnostic_table(
    findings: pd.DataFrame,
    consensus: pd.DataFrame,
    *,
    finding: str,
    item: str | Sequence[str],
    by: Sequence[str] = (),
    consensus_by: Sequence[str] = (),
    positive=None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Sensitivity/specificity for each ``by`` group (e.g. reader x method x characteristic).

    Args:
        findings: tidy rows (item, by..., finding).
        consensus: rows (item, consensus_by..., finding): the reference per item.
        finding: column with the finding in both tables.
        item: column(s) identifying the item (lesion).
        by: grouping columns of ``findings``.
        consensus_by: columns shared by both tables that the consensus also depends on
            (e.g. 'characteristic'); must be a subset of ``by``.
        positive, alpha: as in :func:`sensitivity_specificity`.
    """
    item = [item] if isinstance(item, str) else list(item)
    by, consensus_by = list(by), list(consensus_by)
    if not set(consensus_by) <= set(by):
        raise ValueError(f"consensus_by {consensus_by} must be a subset of by {by}")
    require_columns(findings, [finding, *item, *by], "findings")
    require_columns(consensus, [finding, *item, *consensus_by], "consensus")
    require_no_missing(findings, [finding, *item, *by], "findings")
    require_no_missing(consensus, [finding, *item, *consensus_by], "consensus")
    require_unique(findings, [*item, *by], "findings")
    require_unique(consensus, [*item, *consensus_by], "consensus")
    merged = findings.merge(
        consensus[[*item, *consensus_by, finding]].rename(columns={finding: "_truth"}),
        on=[*item, *consensus_by],
        how="left",
    )
    lost = merged["_truth"].isna()
    if lost.any():
        keys = merged.loc[lost, [*item, *consensus_by]].drop_duplicates().head(10).to_dict("records")
        raise ValueError(f"{int(lost.sum())} finding(s) have no consensus entry, e.g. {keys}")
    rows = []
    groups = merged.groupby(by, sort=True) if by else [((), merged)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        res = sensitivity_specificity(group[finding], group["_truth"], positive=positive, alpha=alpha)
        rows.append({**dict(zip(by, key, strict=True)), **res})
    return pd.DataFrame(rows)

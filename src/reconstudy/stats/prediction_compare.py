"""Compare diagnosis prediction between feature sources (reconstructions) repetition by repetition.

Seed 004 (Figure 6) predicts the diagnosis from the regional volumes of each image type and
compares the models: accuracy box plots per image type and, per feature, the deviation of the
mean importance from the models trained on the reference images. Here the sources are the
segmentations of each reconstruction (and the phantom's true labels as an upper bound).

Every source is run with the same study seed, the same subjects in the same order and the same
labels, so repetition ``r`` uses the same folds and forest seeds for every source
(:func:`reconstudy.stats.prediction.repetition_seeds`); only the features differ. The
comparison is therefore paired by repetition: for source s and reference ref,

    d_r = v_r(s) - v_r(ref),   r = 0 .. N-1,

where v is a score or a feature's impurity importance. Two intervals describe d:

* ``ci_low``/``ci_high``: the alpha/2 and 1 - alpha/2 quantiles of d_r over repetitions, i.e. how
  much the difference varies with the random splits and forests (the spread seed 004's box plots
  show);
* ``boot_low``/``boot_high``: a percentile bootstrap (resampling repetitions) of the mean of d_r,
  i.e. the Monte Carlo precision of the mean difference for this cohort. It narrows as 1/sqrt(N)
  and says whether the forests use the feature differently *on this cohort*; it does not account
  for drawing another cohort (the subjects are fixed), so it is not a population interval.

References:
    Breiman L. Random forests. Mach Learn 2001;45:5-32.
    Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall 1993 (ch. 13).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from reconstudy.stats.prediction import SCORES

REQUIRED = ("source", "repetition", "metric", "feature", "value")


def _paired_wide(runs: pd.DataFrame, metric_mask, *, reference: str) -> tuple[pd.DataFrame, list[str]]:
    """Values pivoted to (repetition) x (source, feature), checked for pairing."""
    missing = [c for c in REQUIRED if c not in runs.columns]
    if missing:
        raise ValueError(f"runs table lacks columns {missing}; gather the chunks with their 'source' column")
    part = runs[metric_mask(runs["metric"])].assign(feature=lambda t: t["feature"].fillna("").astype(str))
    sources = list(dict.fromkeys(part["source"].astype(str)))
    if reference not in sources:
        raise ValueError(f"reference source {reference!r} not in the runs table's sources {sources}")
    reps = {s: set(part.loc[part["source"] == s, "repetition"]) for s in sources}
    unpaired = [s for s in sources if reps[s] != reps[reference]]
    if unpaired:
        raise ValueError(
            f"sources {unpaired} were run for other repetitions than {reference!r}; every source needs the "
            "same repetitions (and seed) so that differences are paired"
        )
    if part.duplicated(["source", "repetition", "metric", "feature"]).any():
        raise ValueError("runs table has duplicate (source, repetition, metric, feature) rows")
    wide = part.pivot_table(
        index="repetition", columns=["source", "metric", "feature"], values="value", aggfunc="first"
    )
    return wide, sources


def _boot_means(diffs: np.ndarray, *, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap means of each column of ``diffs`` (repetitions x items): (n_boot, items)."""
    n = diffs.shape[0]
    rng = np.random.default_rng([int(seed), n, int(n_boot)])
    # resampling weights (how often each repetition is drawn), one row per bootstrap sample:
    # W @ D / n is the resampled mean without materialising n_boot x n x items values
    weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)])
    return weights @ np.nan_to_num(diffs) / n


def _differences(
    wide: pd.DataFrame, sources, *, reference, items, alpha, n_boot, seed
) -> list[dict]:
    """Rows of paired differences of each (source != reference, item) against the reference."""
    lo, hi = alpha / 2, 1 - alpha / 2
    ref = wide[[(reference, *item) for item in items]].to_numpy(float)
    rows = []
    for source in sources:
        if source == reference:
            continue
        values = wide[[(source, *item) for item in items]].to_numpy(float)
        d = values - ref
        boot = _boot_means(d, n_boot=n_boot, seed=seed) if n_boot else None
        for j, (metric, feature) in enumerate(items):
            rows.append(
                {
                    "source": source,
                    "reference": reference,
                    "metric": metric,
                    "feature": feature,
                    "n_repetitions": int(d.shape[0]),
                    "mean_source": float(values[:, j].mean()),
                    "mean_reference": float(ref[:, j].mean()),
                    "diff_mean": float(d[:, j].mean()),
                    "diff_sd": float(d[:, j].std(ddof=1)) if d.shape[0] > 1 else np.nan,
                    "ci_low": float(np.quantile(d[:, j], lo)),
                    "ci_high": float(np.quantile(d[:, j], hi)),
                    "boot_low": float(np.quantile(boot[:, j], lo)) if boot is not None else np.nan,
                    "boot_high": float(np.quantile(boot[:, j], hi)) if boot is not None else np.nan,
                    "frac_higher": float((d[:, j] > 0).mean()),
                }
            )
    return rows


def _check(alpha: float, n_boot: int) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if int(n_boot) < 0:
        raise ValueError(f"n_boot must be >= 0 (0 = no bootstrap), got {n_boot}")


def score_table(
    runs: pd.DataFrame,
    *,
    reference: str,
    order: Sequence[str] | None = None,
    alpha: float = 0.05,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Accuracy and balanced accuracy per source, and their paired difference from the reference.

    Args:
        runs: gathered repetitions of every source (:func:`~reconstudy.stats.prediction.gather`
            output plus a ``source`` column).
        reference: the source the others are compared with (e.g. the fully sampled reference).
        order: sources in the order of the rows (default: order of appearance).
        alpha: 1 - coverage of the intervals.
        n_boot: bootstrap samples of the mean difference (0 skips ``boot_low``/``boot_high``).
        seed: seed of the bootstrap.

    Returns:
        one row per (source, metric): n_repetitions, mean, sd, median, ci_low, ci_high (percentile
        interval over repetitions), then diff_mean, diff_sd, diff_ci_low, diff_ci_high,
        diff_boot_low, diff_boot_high, frac_higher (share of repetitions where the source scores
        higher than the reference); the difference columns are NaN on the reference's rows.

    Raises:
        ValueError: a missing column, an unknown reference, or sources with different repetitions.
    """
    _check(alpha, n_boot)
    wide, sources = _paired_wide(runs, lambda m: m.isin(SCORES), reference=reference)
    sources = _ordered(sources, order)
    items = [(m, "") for m in SCORES]
    diffs = {
        (r["source"], r["metric"]): r
        for r in _differences(
            wide, sources, reference=reference, items=items, alpha=alpha, n_boot=n_boot, seed=seed
        )
    }
    rows = []
    for source in sources:
        for metric in SCORES:
            v = wide[(source, metric, "")].to_numpy(float)
            d = diffs.get((source, metric), {})
            rows.append(
                {
                    "source": source,
                    "metric": metric,
                    "n_repetitions": int(v.size),
                    "mean": float(v.mean()),
                    "sd": float(v.std(ddof=1)) if v.size > 1 else np.nan,
                    "median": float(np.median(v)),
                    "ci_low": float(np.quantile(v, alpha / 2)),
                    "ci_high": float(np.quantile(v, 1 - alpha / 2)),
                    "diff_mean": d.get("diff_mean", np.nan),
                    "diff_sd": d.get("diff_sd", np.nan),
                    "diff_ci_low": d.get("ci_low", np.nan),
                    "diff_ci_high": d.get("ci_high", np.nan),
                    "diff_boot_low": d.get("boot_low", np.nan),
                    "diff_boot_high": d.get("boot_high", np.nan),
                    "frac_higher": d.get("frac_higher", np.nan),
                }
            )
    return pd.DataFrame(rows)


def importance_differences(
    runs: pd.DataFrame,
    *,
    reference: str,
    order: Sequence[str] | None = None,
    alpha: float = 0.05,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per feature, each source's impurity importance minus the reference's, paired by repetition.

    Args:
        runs, reference, order, alpha, n_boot, seed: as :func:`score_table`.

    Returns:
        one row per (source != reference, feature), features in decreasing mean importance of the
        reference: n_repetitions, mean_source, mean_reference, diff_mean, diff_sd, ci_low,
        ci_high (percentile interval of the per-repetition difference), boot_low, boot_high
        (bootstrap interval of the mean difference), frac_higher, ``consistent`` (the range over
        repetitions lies on one side of 0: the sign held in at least 1 - alpha/2 of the
        repetitions) and ``boot_excludes_zero`` (the bootstrap interval of the mean lies on one
        side of 0; with many repetitions even tiny differences do, so read it with diff_mean).

    Raises:
        ValueError: as :func:`score_table`, or the sources have different feature sets.
    """
    _check(alpha, n_boot)
    wide, sources = _paired_wide(runs, lambda m: m == "importance", reference=reference)
    sources = _ordered(sources, order)
    features = {s: {f for (src, _, f) in wide.columns if src == s} for s in sources}
    odd = [s for s in sources if features[s] != features[reference]]
    if odd:
        raise ValueError(f"sources {odd} have other features than {reference!r}; use one feature set")
    ranked = wide[reference].mean().droplevel("metric").sort_values(ascending=False, kind="stable")
    items = [("importance", f) for f in ranked.index]
    out = pd.DataFrame(
        _differences(wide, sources, reference=reference, items=items, alpha=alpha, n_boot=n_boot, seed=seed),
        columns=[
            "source", "reference", "metric", "feature", "n_repetitions", "mean_source", "mean_reference",
            "diff_mean", "diff_sd", "ci_low", "ci_high", "boot_low", "boot_high", "frac_higher",
        ],
    )  # fmt: skip
    out["consistent"] = (out["ci_low"] > 0) | (out["ci_high"] < 0)
    out["boot_excludes_zero"] = (out["boot_low"] > 0) | (out["boot_high"] < 0)
    return out.drop(columns="metric")


def _ordered(sources: list[str], order: Sequence[str] | None) -> list[str]:
    if order is None:
        return sources
    unknown = [s for s in order if s not in sources]
    if unknown:
        raise ValueError(f"order names sources {unknown} that are not in the runs table ({sources})")
    return list(order) + [s for s in sources if s not in order]

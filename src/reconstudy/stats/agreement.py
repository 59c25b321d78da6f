"""Cohen's kappa for two raters (or two methods read by one rater), with confidence intervals.

Seed 003 reports inter-rater agreement (two raters, same reconstruction) and inter-method
agreement (one rater, two reconstructions) as Cohen's kappa on lesion-wise classifications.
For ordinal Likert scores the weighted kappas give partial credit to near misses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from reconstudy.stats._validate import check_alpha, require_columns, require_no_missing, require_unique

WEIGHTS = (None, "linear", "quadratic")


def confusion_table(a, b, categories: Sequence | None = None) -> tuple[np.ndarray, list]:
    """Counts ``n_ij`` of items rated category i by rater a and j by rater b.

    Args:
        a, b: ratings of the same items (equal length, no missing values).
        categories: the ordered category list; required to be exhaustive (an unknown rating
            raises). Defaults to the sorted union of observed ratings.
    """
    a = pd.Series(np.asarray(a, dtype=object).ravel())
    b = pd.Series(np.asarray(b, dtype=object).ravel())
    if a.size != b.size:
        raise ValueError(f"ratings must be paired: got {a.size} and {b.size} items")
    if a.size == 0:
        raise ValueError("no ratings given")
    for name, s in (("first", a), ("second", b)):
        bad = s.isna()
        if bad.any():
            raise ValueError(
                f"{name} rater has missing ratings at position(s) {np.flatnonzero(bad)[:10].tolist()}"
            )
    if categories is None:
        categories = sorted(set(a) | set(b))
    categories = list(categories)
    if len(set(categories)) != len(categories):
        raise ValueError(f"categories contain duplicates: {categories}")
    index = {c: i for i, c in enumerate(categories)}
    for name, s in (("first", a), ("second", b)):
        unknown = sorted(set(s) - set(index), key=str)
        if unknown:
            raise ValueError(f"{name} rater used unknown categories {unknown}; allowed are {categories}")
    k = len(categories)
    table = np.zeros((k, k))
    np.add.at(table, (a.map(index).to_numpy(int), b.map(index).to_numpy(int)), 1)
    return table, categories


def disagreement_weights(k: int, weights: str | None) -> np.ndarray:
    """Disagreement weights ``v_ij``: 0/1 (unweighted), ``|i-j|/(k-1)`` or ``(i-j)^2/(k-1)^2``."""
    i, j = np.indices((k, k))
    if weights is None:
        return (i != j).astype(float)
    if k < 2:
        return np.zeros((k, k))
    if weights == "linear":
        return np.abs(i - j) / (k - 1)
    if weights == "quadratic":
        return (i - j) ** 2 / (k - 1) ** 2
    raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}")


def kappa_from_table(table, weights: str | None = None, *, alpha: float = 0.05) -> dict:
    """Cohen's (weighted) kappa of a k x k table, with its large-sample standard error.

    With proportions ``p_ij``, margins ``p_i.``, ``p_.j`` and agreement weights
    ``w_ij = 1 - v_ij``: ``p_o = sum w_ij p_ij``, ``p_e = sum w_ij p_i. p_.j`` and
    ``kappa = (p_o - p_e) / (1 - p_e)``. The variance (Fleiss, Cohen & Everitt 1969) is

        var = [sum_ij p_ij (w_ij - (wbar_i. + wbar_.j)(1 - kappa))^2 - (kappa - p_e (1 - kappa))^2]
              / (n (1 - p_e)^2),

    with ``wbar_i. = sum_j p_.j w_ij`` and ``wbar_.j = sum_i p_i. w_ij``; the null variance
    (kappa = 0) uses ``p_i. p_.j`` in place of ``p_ij`` and gives the z test.

    Returns:
        dict with n, n_categories, p_observed, p_expected, kappa, se, ci_low, ci_high (Wald,
        clipped to [-1, 1]), z, p (H0: kappa = 0), weights. kappa is NaN when p_e = 1 (both
        raters used a single, identical category: agreement beyond chance is undefined).

    References:
        Cohen J. A coefficient of agreement for nominal scales. Educ Psychol Meas 1960;20:37-46.
        Cohen J. Weighted kappa. Psychol Bull 1968;70:213-220.
        Fleiss JL, Cohen J, Everitt BS. Large sample standard errors of kappa and weighted kappa.
        Psychol Bull 1969;72:323-327.
    """
    alpha = check_alpha(alpha)
    table = np.asarray(table, dtype=float)
    if table.ndim != 2 or table.shape[0] != table.shape[1]:
        raise ValueError(f"agreement table must be square, got shape {table.shape}")
    if (table < 0).any() or not np.isfinite(table).all():
        raise ValueError("agreement table must hold non-negative finite counts")
    n = table.sum()
    if n == 0:
        raise ValueError("agreement table is empty")
    k = table.shape[0]
    w = 1.0 - disagreement_weights(k, weights)
    p = table / n
    row, col = p.sum(1), p.sum(0)
    expected = np.outer(row, col)
    po, pe = float((w * p).sum()), float((w * expected).sum())
    out = {
        "n": int(round(n)),
        "n_categories": k,
        "p_observed": po,
        "p_expected": pe,
        "weights": weights or "none",
    }
    if np.isclose(pe, 1.0):
        nan = float("nan")
        return {**out, "kappa": nan, "se": nan, "ci_low": nan, "ci_high": nan, "z": nan, "p": nan}
    kappa = (po - pe) / (1 - pe)
    wbar_row = w @ col  # wbar_i. = sum_j p_.j w_ij
    wbar_col = row @ w  # wbar_.j = sum_i p_i. w_ij
    spread = wbar_row[:, None] + wbar_col[None, :]
    var = ((p * (w - spread * (1 - kappa)) ** 2).sum() - (kappa - pe * (1 - kappa)) ** 2) / (
        n * (1 - pe) ** 2
    )
    var0 = ((expected * (w - spread) ** 2).sum() - pe**2) / (n * (1 - pe) ** 2)
    se, se0 = float(np.sqrt(max(var, 0.0))), float(np.sqrt(max(var0, 0.0)))
    half = stats.norm.ppf(1 - alpha / 2) * se
    z = kappa / se0 if se0 > 0 else float("nan")
    return {
        **out,
        "kappa": float(kappa),
        "se": se,
        "ci_low": float(max(-1.0, kappa - half)),
        "ci_high": float(min(1.0, kappa + half)),
        "z": float(z),
        "p": float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else float("nan"),
    }


def cohens_kappa(
    a,
    b,
    *,
    weights: str | None = None,
    categories: Sequence | None = None,
    alpha: float = 0.05,
    n_boot: int = 0,
    seed: int | Sequence[int] = 0,
) -> dict:
    """Cohen's kappa of two paired rating vectors, with analytic and optional bootstrap CIs.

    Args:
        a, b: ratings of the same items by two raters (or by one rater under two methods).
        weights: None (nominal), 'linear' or 'quadratic' (ordinal scales; needs ordered
            ``categories``, e.g. [1, 2, 3, 4, 5], so that unused levels still count).
        categories: ordered list of allowed categories.
        alpha: 1 - confidence level.
        n_boot: if > 0, also a percentile bootstrap CI over items (boot_low, boot_high),
            resampling items with ``numpy.random.default_rng(seed)``.
        seed: int or sequence of ints for the bootstrap generator.

    Returns:
        the dict of :func:`kappa_from_table` plus ci_method (and boot_low/boot_high/n_boot).
    """
    table, cats = confusion_table(a, b, categories)
    res = kappa_from_table(table, weights, alpha=alpha)
    res["ci_method"] = "fleiss-cohen-everitt"
    if n_boot:
        if n_boot < 100:
            raise ValueError(f"n_boot={n_boot} is too small for a percentile interval; use >= 1000")
        idx_a = pd.Series(np.asarray(a, dtype=object).ravel()).map({c: i for i, c in enumerate(cats)})
        idx_b = pd.Series(np.asarray(b, dtype=object).ravel()).map({c: i for i, c in enumerate(cats)})
        ia, ib = idx_a.to_numpy(int), idx_b.to_numpy(int)
        rng = np.random.default_rng(seed)
        k, m = len(cats), ia.size
        kappas = np.empty(n_boot)
        for r in range(n_boot):
            pick = rng.integers(0, m, m)
            t = np.bincount(ia[pick] * k + ib[pick], minlength=k * k).reshape(k, k)
            kappas[r] = kappa_from_table(t, weights, alpha=alpha)["kappa"]
        kappas = kappas[np.isfinite(kappas)]
        res["boot_low"], res["boot_high"] = np.quantile(kappas, [alpha / 2, 1 - alpha / 2]).tolist()
        res["n_boot"] = int(n_boot)
        res["ci_method"] = "fleiss-cohen-everitt; percentile bootstrap"
    return res


def kappa_table(
    ratings: pd.DataFrame,
    *,
    rating: str,
    item: str | Sequence[str],
    between: str,
    pairs: Sequence[tuple] | None = None,
    by: Sequence[str] = (),
    weights: Sequence[str | None] = (None,),
    categories: Sequence | None = None,
    alpha: float = 0.05,
    n_boot: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """Kappa for every pair of levels of ``between`` within each ``by`` group.

    Inter-rater agreement: ``between='reader', by=['method', 'criterion']``.
    Inter-method agreement: ``between='method', by=['reader', 'criterion']``.

    Args:
        ratings: tidy rows (item, between, by..., rating), one per rating.
        rating: column with the category/score.
        item: column(s) identifying the rated thing (case, lesion).
        between: column whose levels are compared (reader or method).
        pairs: which (level_a, level_b) pairs to compare; default all pairs.
        by: grouping columns.
        weights: kappa variants to compute (rows are repeated per variant).
        categories, alpha, n_boot, seed: as in :func:`cohens_kappa`; each bootstrap uses
            ``default_rng([seed, row number])``.

    Returns:
        one row per (by..., level_a, level_b, weights) with the kappa columns.
    """
    item = [item] if isinstance(item, str) else list(item)
    by = list(by)
    cols = [rating, between, *item, *by]
    require_columns(ratings, cols, "ratings")
    require_no_missing(ratings, cols, "ratings")
    require_unique(ratings, [*by, *item, between], "ratings")
    work = ratings.assign(_item=ratings[item].astype(str).agg("|".join, axis=1))
    rows = []
    groups = work.groupby(by, sort=True) if by else [((), work)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        wide = group.pivot(index="_item", columns=between, values=rating)
        levels = list(wide.columns)
        todo = pairs if pairs is not None else [(x, y) for i, x in enumerate(levels) for y in levels[i + 1 :]]
        for la, lb in todo:
            for lev in (la, lb):
                if lev not in wide.columns:
                    raise ValueError(
                        f"{between}={lev!r} has no ratings in group {dict(zip(by, key, strict=True))}"
                    )
            both = wide[[la, lb]]
            missing = both.isna().any(axis=1)
            if missing.any():
                raise ValueError(
                    f"{int(missing.sum())} item(s) not rated under both {la!r} and {lb!r} "
                    f"(e.g. {both.index[missing][:10].tolist()}); agreement needs every item rated twice"
                )
            for wt in weights:
                res = cohens_kappa(
                    both[la],
                    both[lb],
                    weights=wt,
                    categories=categories,
                    alpha=alpha,
                    n_boot=n_boot,
                    seed=[seed, len(rows)],
                )
                rows.append(
                    {
                        **dict(zip(by, key, strict=True)),
                        "level_a": la,
                        "level_b": lb,
                        "between": between,
                        **res,
                    }
                )
    return pd.DataFrame(rows)

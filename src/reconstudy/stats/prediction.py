"""Random-forest diagnosis prediction with repeated stratified cross-validation.

Seed 004 predicts the clinical diagnosis from regional volumes plus age and sex with a random
forest, scored by 10-fold cross-validated accuracy and balanced accuracy, repeated 1,000 times
to give confidence bands, and reports per-feature importances.

Each repetition ``r`` draws its own fold assignment and forest seeds from
``numpy.random.default_rng([seed, r])``, so a repetition's result depends only on
``(seed, r)``: running repetitions 0-999 in one job or as ten chunks of 100 on a cluster gives
identical tables, and :func:`gather` stitches the chunks back together.

scikit-learn is imported inside the functions that fit forests, so ``import reconstudy.stats``
(Wilcoxon, kappa, tables, ...) works without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from reconstudy.progress import Progress

COLUMNS = ["seed", "repetition", "metric", "feature", "value"]
SCORES = ("accuracy", "balanced_accuracy")


def check_design(
    features: pd.DataFrame, labels, *, n_splits: int = 10
) -> tuple[np.ndarray, np.ndarray, list]:
    """Validate a feature table and labels; return (X, y, feature names).

    Raises:
        ValueError: non-DataFrame features, non-numeric or missing feature values, lengths that
            differ, missing labels, fewer than 2 classes, or a class with fewer members than folds.
    """
    if not isinstance(features, pd.DataFrame):
        raise ValueError(
            f"features must be a pandas DataFrame with named columns, got {type(features).__name__}"
        )
    if features.shape[1] == 0:
        raise ValueError("features: no feature columns given")
    labels = pd.Series(np.asarray(labels, dtype=object).ravel())
    if len(labels) != len(features):
        raise ValueError(f"features has {len(features)} rows but labels has {len(labels)}; they must match")
    non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise ValueError(
            f"features {non_numeric} are not numeric; encode categories first, e.g. "
            "encode_categories(df, {'sex': {'F': 0, 'M': 1}}) (CLI: --encode 'sex=F:0,M:1')"
        )
    missing = features.isna().sum()
    if missing.any():
        bad = missing[missing > 0].to_dict()
        raise ValueError(f"features have missing values (column: count) {bad}; drop or impute those rows")
    if labels.isna().any():
        raise ValueError(f"labels have {int(labels.isna().sum())} missing value(s); drop those rows first")
    counts = labels.value_counts()
    if len(counts) < 2:
        raise ValueError(f"labels have {len(counts)} class(es) {counts.index.tolist()}; need at least 2")
    if n_splits < 2:
        raise ValueError(f"n_splits must be >= 2, got {n_splits}")
    if counts.min() < n_splits:
        raise ValueError(
            f"class {counts.idxmin()!r} has only {counts.min()} member(s) but {n_splits}-fold stratified CV "
            "needs at least one per fold; use fewer folds or merge classes (CLI: --folds, --positive)"
        )
    X = features.to_numpy(dtype=float)
    if not np.isfinite(X).all():
        raise ValueError("features contain infinite values")
    return X, labels.astype(str).to_numpy(), [str(c) for c in features.columns]


def repetition_seeds(seed: int, repetition: int, n_splits: int) -> tuple[int, np.ndarray]:
    """Fold-shuffle seed and per-fold forest seeds for one repetition (from ``(seed, repetition)``)."""
    rng = np.random.default_rng([int(seed), int(repetition)])
    draws = rng.integers(0, 2**31 - 1, size=n_splits + 1)
    return int(draws[0]), draws[1:]


def _one_repetition(X, y, names, *, seed, repetition, n_splits, forest_params) -> list[dict]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold

    cv_seed, forest_seeds = repetition_seeds(seed, repetition, n_splits)
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=cv_seed)
    predicted = np.empty_like(y)
    importances = np.zeros(len(names))
    for fold, (train, test) in enumerate(folds.split(X, y)):
        forest = RandomForestClassifier(random_state=int(forest_seeds[fold]), n_jobs=1, **forest_params)
        forest.fit(X[train], y[train])
        predicted[test] = forest.predict(X[test])
        importances += forest.feature_importances_ / n_splits
    rows = [
        {
            "seed": seed,
            "repetition": repetition,
            "metric": "accuracy",
            "feature": "",
            "value": accuracy_score(y, predicted),
        },
        {
            "seed": seed,
            "repetition": repetition,
            "metric": "balanced_accuracy",
            "feature": "",
            "value": balanced_accuracy_score(y, predicted),
        },
    ]
    rows += [
        {"seed": seed, "repetition": repetition, "metric": "importance", "feature": f, "value": v}
        for f, v in zip(names, importances, strict=True)
    ]
    return rows


def run_repetitions(
    features: pd.DataFrame,
    labels,
    *,
    reps: Iterable[int],
    seed: int,
    n_splits: int = 10,
    n_estimators: int = 100,
    max_features: str | float | int = "sqrt",
    min_samples_leaf: int = 1,
    class_weight: str | None = None,
) -> pd.DataFrame:
    """Repeated stratified k-fold cross-validation of a random-forest classifier.

    For each repetition r: folds from ``StratifiedKFold(shuffle=True)`` and one forest per fold
    (``n_jobs=1``), all seeded from ``default_rng([seed, r])``. Every sample is predicted once
    by the forest that did not see it; accuracy and balanced accuracy (mean per-class recall)
    are computed on these pooled out-of-fold predictions. Importances are the forests'
    impurity-based (mean decrease in impurity) importances averaged over folds; they favour
    continuous, high-cardinality features and describe the model, not causal relevance.

    Args:
        features: numeric feature table (regional volumes, age, sex coded 0/1, ...).
        labels: class per row (diagnosis); any hashable values, compared as strings.
        reps: repetition indices to run, e.g. ``range(0, 100)`` for the first chunk.
        seed: study seed; results depend only on (seed, repetition).
        n_splits: folds per repetition.
        n_estimators, max_features, min_samples_leaf, class_weight: forest settings.

    Returns:
        tidy long table with columns seed, repetition, metric ('accuracy', 'balanced_accuracy',
        'importance'), feature ('' for the two scores) and value.

    References:
        Breiman L. Random forests. Mach Learn 2001;45:5-32.
        Brodersen KH et al. The balanced accuracy and its posterior distribution. ICPR 2010.
    """
    X, y, names = check_design(features, labels, n_splits=n_splits)
    reps = [int(r) for r in reps]
    if not reps:
        raise ValueError("reps is empty; pass e.g. range(0, 100)")
    if len(set(reps)) != len(reps) or min(reps) < 0:
        raise ValueError("reps must be distinct non-negative integers")
    params = {
        "n_estimators": int(n_estimators),
        "max_features": max_features,
        "min_samples_leaf": int(min_samples_leaf),
        "class_weight": class_weight,
    }
    progress = Progress(total=len(reps), label="random-forest CV repetitions", unit="repetition")
    rows = []
    for r in reps:
        rows += _one_repetition(
            X, y, names, seed=int(seed), repetition=r, n_splits=n_splits, forest_params=params
        )
        progress.advance(1)
    return pd.DataFrame(rows, columns=COLUMNS)


def gather(chunks: Sequence[pd.DataFrame], *, expected: int | Iterable[int] | None = None) -> pd.DataFrame:
    """Concatenate chunk tables from :func:`run_repetitions` into one, checked and sorted.

    Args:
        chunks: tables (or TSV paths) of disjoint repetition ranges run with the same seed.
        expected: the number of repetitions N (then repetitions must be exactly 0..N-1) or the
            collection of repetition indices that must be present.

    Raises:
        ValueError: mixed seeds, a repetition present in two chunks, or missing repetitions.
    """
    frames = []
    for c in chunks:
        frame = pd.read_csv(c, sep="\t", keep_default_na=False) if not isinstance(c, pd.DataFrame) else c
        missing = set(COLUMNS) - set(frame.columns)
        if missing:
            raise ValueError(f"chunk lacks columns {sorted(missing)}; was it written by run_repetitions?")
        frames.append(frame[COLUMNS])
    if not frames:
        raise ValueError("no chunks to gather")
    seeds = sorted({int(s) for f in frames for s in f["seed"].unique()})
    if len(seeds) != 1:
        raise ValueError(f"chunks were run with different seeds {seeds}; rerun them with one seed")
    owner: dict[int, int] = {}
    for i, f in enumerate(frames):
        for r in f["repetition"].unique():
            if int(r) in owner:
                raise ValueError(f"repetition {int(r)} appears in chunks {owner[int(r)]} and {i}")
            owner[int(r)] = i
    out = pd.concat(frames, ignore_index=True)
    out["feature"] = out["feature"].fillna("").astype(str)
    if expected is not None:
        want = set(range(expected)) if isinstance(expected, int) else {int(r) for r in expected}
        have = set(owner)
        if have != want:
            raise ValueError(
                f"gathered repetitions differ from those expected: missing {sorted(want - have)[:10]}, "
                f"unexpected {sorted(have - want)[:10]}"
            )
    return out.sort_values(["repetition", "metric", "feature"], kind="stable").reset_index(drop=True)


def summarise(runs: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Mean, SD and percentile interval over repetitions of every metric (and importance).

    Returns:
        one row per (metric, feature): n_repetitions, mean, sd, median, ci_low, ci_high
        (the alpha/2 and 1 - alpha/2 quantiles across repetitions), interval.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    g = runs.groupby(["metric", "feature"], sort=False)["value"]
    out = g.agg(n_repetitions="count", mean="mean", sd="std", median="median").reset_index()
    out["ci_low"] = g.quantile(alpha / 2).to_numpy()
    out["ci_high"] = g.quantile(1 - alpha / 2).to_numpy()
    out["interval"] = f"percentile {100 * (1 - alpha):g}% over repetitions"
    return out

"""Input checks shared by the statistics modules.

Every public statistic rejects malformed input with a ``ValueError`` that names the argument
and the fix, rather than returning NaN or silently dropping rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd


def as_finite_vector(values, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D float array; raise if it is empty, not 1-D or not finite."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: expected numbers, could not convert ({err})") from err
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: is empty; pass at least one observation")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(
            f"{name}: {bad.size} missing or non-finite value(s) at position(s) {bad[:10].tolist()}; "
            "drop or impute them before the test"
        )
    return arr


def paired_vectors(x, y, x_name: str = "x", y_name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Two finite 1-D arrays of equal length (one value per pair)."""
    x = as_finite_vector(x, x_name)
    y = as_finite_vector(y, y_name)
    if x.shape != y.shape:
        raise ValueError(
            f"{x_name} and {y_name} must be paired observations of equal length, got {x.size} and {y.size}"
        )
    return x, y


def require_columns(df: pd.DataFrame, columns: Iterable[str], what: str = "table") -> None:
    """Raise naming the missing columns and the columns that exist."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{what}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; columns present are {list(df.columns)}")


def require_no_missing(df: pd.DataFrame, columns: Sequence[str], what: str = "table") -> None:
    """Raise listing the rows that have missing values in ``columns``."""
    mask = df[list(columns)].isna().any(axis=1)
    if mask.any():
        rows = df.index[mask].tolist()
        raise ValueError(
            f"{what}: {int(mask.sum())} row(s) with missing values in {list(columns)} "
            f"(index {rows[:10]}{' ...' if len(rows) > 10 else ''}); drop or impute them first"
        )


def require_unique(df: pd.DataFrame, keys: Sequence[str], what: str = "table") -> None:
    """Raise listing duplicated key combinations (e.g. a reader rating a case twice)."""
    dup = df.duplicated(list(keys), keep=False)
    if dup.any():
        rows = df.loc[dup, list(keys)].drop_duplicates().head(10).to_dict("records")
        raise ValueError(f"{what}: duplicate rows for {list(keys)}: {rows}; keep one row per combination")


def check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return alpha

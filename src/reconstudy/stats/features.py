"""From a plain table (one row per subject) to a numeric feature table and class labels.

Used by ``reconstudy predict`` and by the workflow's prediction rule: pick feature columns,
code categorical ones with an explicit mapping (unknown categories raise rather than being
silently dropped), and derive a binary label from an expression such as ``CDR>0``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

_OPS = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_EXPR = re.compile(r"^\s*(?P<col>.+?)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<val>.+?)\s*$")


def read_table(path) -> pd.DataFrame:
    """Read a TSV (``.tsv``/``.txt``) or CSV (``.csv``) table; 'N/A', 'NA' and '' are missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"table {path} does not exist")
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    return pd.read_csv(path, sep=sep, na_values=["N/A", "NA", "n/a", ""])


def encode_categories(table: pd.DataFrame, mappings: Mapping[str, Mapping]) -> pd.DataFrame:
    """Replace categorical columns by numeric codes, e.g. ``{'M/F': {'F': 0, 'M': 1}}``.

    Raises:
        ValueError: a column is absent, or holds a category that its mapping does not list
            (missing values are kept as missing, to be dropped or rejected later).
    """
    out = table.copy()
    for col, mapping in mappings.items():
        if col not in out.columns:
            raise ValueError(f"cannot encode column {col!r}: not in table (columns {list(out.columns)})")
        present = set(out[col].dropna())
        unknown = sorted(present - set(mapping), key=str)
        if unknown:
            raise ValueError(
                f"column {col!r} has categories {unknown} missing from its mapping {dict(mapping)}; "
                "add them to the mapping"
            )
        out[col] = out[col].map(dict(mapping)).astype(float)
    return out


def parse_encoding(spec: str) -> tuple[str, dict]:
    """Parse ``'M/F=F:0,M:1'`` into ``('M/F', {'F': 0.0, 'M': 1.0})``."""
    col, sep, body = spec.rpartition("=")
    if not sep or not col or not body:
        raise ValueError(f"encoding {spec!r} must look like COLUMN=CAT:CODE,CAT:CODE (e.g. 'M/F=F:0,M:1')")
    mapping = {}
    for item in body.split(","):
        cat, sep, code = item.rpartition(":")
        if not sep or not cat:
            raise ValueError(f"encoding {spec!r}: item {item!r} must be CAT:CODE")
        try:
            mapping[cat.strip()] = float(code)
        except ValueError as err:
            raise ValueError(f"encoding {spec!r}: code {code!r} is not a number") from err
    return col.strip(), mapping


def positive_labels(table: pd.DataFrame, expression: str) -> pd.Series:
    """Boolean labels from ``'COLUMN OP VALUE'`` (OP one of > >= < <= == !=), e.g. ``'CDR>0'``.

    VALUE is compared as a number when it parses as one, else as a string. Rows whose column is
    missing give a missing label (pd.NA) so that the caller decides to drop or reject them.
    """
    m = _EXPR.match(expression)
    if not m:
        raise ValueError(f"positive expression {expression!r} must look like COLUMN>VALUE, e.g. 'CDR>0'")
    col, op, raw = m["col"], m["op"], m["val"].strip("'\"")
    if col not in table.columns:
        raise ValueError(
            f"positive expression {expression!r}: column {col!r} not in table {list(table.columns)}"
        )
    try:
        value = float(raw)
        series = pd.to_numeric(table[col], errors="raise")
    except ValueError:
        if op not in ("==", "!="):
            raise ValueError(
                f"positive expression {expression!r}: {op} needs a numeric column and value"
            ) from None
        value, series = raw, table[col]
    labels = _OPS[op](series, value).astype(object)
    labels[series.isna()] = pd.NA
    return labels


def design_from_table(
    table: pd.DataFrame,
    *,
    label: str,
    features: Sequence[str],
    positive: str | None = None,
    encode: Mapping[str, Mapping] | None = None,
    drop_missing: bool = False,
) -> tuple[pd.DataFrame, pd.Series, dict]:
    """Features and labels from a subject table, with a record of what was done.

    Args:
        table: one row per subject.
        label: the column holding the diagnosis (or the column used by ``positive``).
        features: feature column names.
        positive: optional expression making a binary label (e.g. 'CDR>0'); otherwise the
            ``label`` column's values are the classes.
        encode: categorical codings passed to :func:`encode_categories`.
        drop_missing: drop rows with a missing label or feature (counted in the record);
            if False such rows raise.

    Returns:
        (features, labels, record) where record holds n_rows_in, n_dropped, n_used, classes.
    """
    wanted = [label, *features]
    absent = [c for c in wanted if c not in table.columns]
    if absent:
        raise ValueError(f"columns {absent} not in table; available: {list(table.columns)}")
    if len(set(features)) != len(features):
        raise ValueError(f"features listed twice: {list(features)}")
    if label in features:
        raise ValueError(f"label column {label!r} is also listed as a feature")
    work = encode_categories(table, encode or {})
    y = positive_labels(work, positive) if positive else work[label].astype(object)
    missing = work[list(features)].isna().any(axis=1) | pd.isna(y)
    if missing.any() and not drop_missing:
        per_col = work.loc[missing, [label, *features]].isna().sum()
        per_col = per_col[per_col > 0].to_dict()
        raise ValueError(
            f"{int(missing.sum())} row(s) have a missing label or feature ({per_col}); "
            "pass drop_missing=True (CLI: --drop-missing) to exclude them"
        )
    keep = ~missing
    X = work.loc[keep, list(features)].reset_index(drop=True)
    y = y[keep].reset_index(drop=True)
    record = {
        "n_rows_in": int(len(table)),
        "n_dropped": int(missing.sum()),
        "n_used": int(keep.sum()),
        "classes": {str(k): int(v) for k, v in y.astype(str).value_counts().sort_index().items()},
    }
    return X, y, record

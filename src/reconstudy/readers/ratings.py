"""Completed ratings: read, validate against the packet, un-blind with the key.

Readers return tidy CSVs with one row per score: ``reader, case, criterion, score`` (a
``source`` column, e.g. ``simulated``, is carried through when present). Validation collects
every problem before raising, so one error message lists all offending rows with their file
and line number and says how to fix each kind:

* a score that is not an integer 1–5;
* a case ID that is not in the key, or a criterion that is not in the packet;
* an empty reader ID;
* the same (reader, case, criterion) more than once;
* a reader without a score for some (case, criterion) of the packet.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from reconstudy.readers.criteria import SCORES, parse_criteria

RATING_COLUMNS = ["reader", "case", "criterion", "score"]
OPTIONAL_COLUMNS = ["source"]
UNBLINDED_COLUMNS = ["subject", "method", "R", "label", "reader", "criterion", "score", "case"]
MAX_LISTED = 50


def read_key(path) -> tuple[pd.DataFrame, dict]:
    """A packet key (``<packet>_key.tsv``) and its JSON sidecar (``{}`` if absent)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no such key file (it is written next to the packet as <packet>_key.tsv)"
        )
    key = pd.read_csv(path, sep="\t", dtype={"case": str, "subject": str, "method": str, "label": str})
    missing = [c for c in ("case", "subject", "method", "R") if c not in key.columns]
    if missing:
        raise ValueError(f"{path}: key lacks column(s) {missing}; use the key written by export_packet")
    if key["case"].duplicated().any():
        raise ValueError(
            f"{path}: case IDs repeat in the key: {sorted(key.loc[key['case'].duplicated(), 'case'])}"
        )
    sidecar_path = path.with_suffix(".json")
    sidecar = json.loads(sidecar_path.read_text()) if sidecar_path.exists() else {}
    return key, sidecar


def _load(sources) -> pd.DataFrame:
    """Concatenate rating files (or one DataFrame) with ``where_file`` and ``where_line`` for messages."""
    if isinstance(sources, pd.DataFrame):
        frame = sources.astype({c: str for c in ("reader", "case", "criterion") if c in sources}).copy()
        frame["where_file"], frame["where_line"] = "<table>", range(2, len(frame) + 2)
        return frame
    if isinstance(sources, (str, Path)):
        sources = [sources]
    frames = []
    for source in sources:
        source = Path(source)
        if not source.exists():
            raise FileNotFoundError(f"{source}: no such ratings file")
        frame = pd.read_csv(source, dtype=str, keep_default_na=False, skipinitialspace=True)
        frame.columns = [str(c).strip().lower() for c in frame.columns]
        missing = [c for c in RATING_COLUMNS if c not in frame.columns]
        unknown = [c for c in frame.columns if c not in RATING_COLUMNS + OPTIONAL_COLUMNS]
        if missing or unknown:
            raise ValueError(
                f"{source}: the header must be {','.join(RATING_COLUMNS)} (optionally source); "
                f"missing {missing or 'none'}, unexpected {unknown or 'none'}. "
                "Export the CSV from the rating form."
            )
        frame["where_file"], frame["where_line"] = str(source), range(2, len(frame) + 2)
        frames.append(frame)
    if not frames:
        raise ValueError("no ratings files given")
    return pd.concat(frames, ignore_index=True)


def _where(row) -> str:
    return f"{row.where_file}:{row.where_line}"


def validate_ratings(frame: pd.DataFrame, case_ids: Iterable[str], criteria) -> pd.DataFrame:
    """Check loaded ratings; return them typed (score int) or raise one ValueError listing all problems."""
    case_ids = set(map(str, case_ids))
    criterion_ids = [c.id for c in parse_criteria(criteria)]
    frame = frame.copy()
    for column in ("reader", "case", "criterion"):
        frame[column] = frame[column].astype(str).str.strip()
    score_text = frame["score"].astype(str).str.strip()
    numeric = pd.to_numeric(score_text, errors="coerce")
    problems: dict[str, list[str]] = {}

    def add(kind, text):
        problems.setdefault(kind, []).append(text)

    for row, value, text in zip(frame.itertuples(), numeric, score_text):
        if not (pd.notna(value) and float(value).is_integer() and int(value) in SCORES):
            add(
                "score",
                f"{_where(row)}: score {text!r} (reader {row.reader}, case {row.case}, {row.criterion})",
            )
        if row.case not in case_ids:
            add("case", f"{_where(row)}: case {row.case!r}")
        if row.criterion not in criterion_ids:
            add("criterion", f"{_where(row)}: criterion {row.criterion!r}")
        if not row.reader or row.reader == "nan":
            add("reader", f"{_where(row)}: empty reader")
    duplicated = frame.duplicated(["reader", "case", "criterion"], keep=False)
    for (reader, case, criterion), group in frame[duplicated].groupby(
        ["reader", "case", "criterion"], sort=True
    ):
        rows = ", ".join(f"{_where(r)} (score {r.score})" for r in group.itertuples())
        add("duplicate", f"reader {reader}, case {case}, {criterion}: {rows}")
    expected = pd.MultiIndex.from_product([sorted(case_ids), criterion_ids], names=["case", "criterion"])
    for reader, group in frame.groupby("reader", sort=True):
        present = pd.MultiIndex.from_frame(group[["case", "criterion"]])
        absent = expected.difference(present)
        if len(absent):
            cases = sorted({case for case, _ in absent})
            shown = ", ".join(cases[:20]) + (", ..." if len(cases) > 20 else "")
            add(
                "missing",
                f"reader {reader}: {len(absent)} score(s) missing over {len(cases)} case(s): {shown}",
            )

    if problems:
        fixes = {
            "score": "scores must be whole numbers 1-5 (1 = very poor ... 5 = very good): correct these rows",
            "case": f"case IDs must come from this packet's key ({len(case_ids)} cases): "
            "check the reader rated this packet, not another one",
            "criterion": f"criteria must be one of {criterion_ids}: "
            "fix the spelling or the study's reading.criteria",
            "reader": "every row needs the reader ID: fill in the reader column",
            "duplicate": "each reader rates each (case, criterion) once: "
            "delete all but the reader's final score",
            "missing": "every reader rates every case on every criterion: reopen the form "
            "(scores are kept in the "
            "browser), finish the cases listed and export again",
        }
        lines = [f"invalid ratings ({sum(map(len, problems.values()))} problem(s)):"]
        for kind, items in problems.items():
            lines.append(f"- {fixes[kind]}:")
            lines += [f"    {item}" for item in items[:MAX_LISTED]]
            if len(items) > MAX_LISTED:
                lines.append(f"    ... and {len(items) - MAX_LISTED} more")
        raise ValueError("\n".join(lines))
    frame["score"] = numeric.astype(int)
    columns = RATING_COLUMNS + [c for c in OPTIONAL_COLUMNS if c in frame.columns]
    return frame[columns].reset_index(drop=True)


def read_ratings(sources, *, key, criteria=None) -> pd.DataFrame:
    """Read and validate rating CSVs (or a DataFrame) against a packet's key and criteria.

    Args:
        sources: a CSV path, several paths (e.g. one per reader) or a DataFrame.
        key: the key table or its path; criteria default to those in the key's sidecar.
        criteria: the packet's criteria (see :func:`reconstudy.readers.criteria.parse_criteria`).

    Returns:
        Tidy ratings ``reader, case, criterion, score`` (+ ``source``), score as int.
    """
    if isinstance(key, (str, Path)):
        key, sidecar = read_key(key)
        if criteria is None and sidecar.get("criteria"):
            criteria = sidecar["criteria"]
    return validate_ratings(_load(sources), key["case"], criteria)


def unblind(ratings: pd.DataFrame, key) -> pd.DataFrame:
    """Join validated ratings to the key: ``subject, method, R, label, reader, criterion, score, case``.

    Rows keep the reading order of the key; a ``source`` column is kept when present.
    """
    if isinstance(key, (str, Path)):
        key, _ = read_key(key)
    unknown = sorted(set(ratings["case"]) - set(key["case"]))
    if unknown:
        raise ValueError(
            f"ratings name cases that the key does not have: {unknown[:20]}; use this packet's key"
        )
    key = key.copy()
    if "label" not in key:
        key["label"] = [m if pd.isna(r) else f"{m} R={r:g}" for m, r in zip(key["method"], key["R"])]
    table = ratings.merge(key, on="case", how="left", validate="many_to_one")
    columns = UNBLINDED_COLUMNS + [c for c in OPTIONAL_COLUMNS if c in table.columns]
    if "order" in table:
        table = table.sort_values(["order", "reader"], kind="stable")
    return table[columns].reset_index(drop=True)

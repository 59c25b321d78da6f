"""Prediction features per subject: regional volumes (SynthSeg layout) plus age and sex.

The volumes come either from the phantom's true label map (``desc-truth_dseg``,
:func:`volume_features`: the upper bound, no segmentation error) or from the segmentation of
one reconstruction (:func:`segmentation_features`, reading the per-subject volume tables that
the workflow's ``segment`` rule writes). Both give exactly the columns of a SynthSeg volumes
CSV (:mod:`reconstudy.segment.volumes`), one row per (source, subject). Volumes are in mm³;
``sex`` is coded F = 0, M = 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from reconstudy.io.nifti import load_image
from reconstudy.segment.volumes import STRUCTURE_COLUMNS, TIV, volumes_row

SEX_CODES = {"F": 0, "M": 1}


def volume_features(
    label_maps: Mapping[str, str], sheet: pd.DataFrame, *, source: str = "truth"
) -> pd.DataFrame:
    """One row per subject: subject, group, age, sex (0/1), total intracranial and every structure.

    Args:
        label_maps: subject → label map (NIfTI, FreeSurfer values).
        sheet: cohort sheet with ``subject``, ``group``, ``age`` and ``sex`` columns.
        source: where the labels come from (``truth`` or a reconstruction), stored in ``source``.

    Raises:
        ValueError: a subject lacks age or sex, or sex is not F/M.
    """
    volumes = {}
    for subject, path in label_maps.items():
        labels, affine = load_image(path)
        volumes[str(subject)] = volumes_row(labels.astype(int), affine, subject)
    return _with_demographics(volumes, sheet, source)


def _with_demographics(volumes: Mapping[str, Mapping], sheet: pd.DataFrame, source: str) -> pd.DataFrame:
    """Rows subject, source, group, age, sex (0/1), volumes; checks the sheet's age and sex."""
    sheet = sheet.astype({"subject": str}).set_index("subject")
    rows, problems = [], []
    for subject, row in volumes.items():
        if subject not in sheet.index:
            problems.append(f"subject {subject} is not in the sheet")
            continue
        info = sheet.loc[subject]
        age, sex = info.get("age"), str(info.get("sex", "")).strip().upper()
        if pd.isna(age) or sex not in SEX_CODES:
            problems.append(f"subject {subject}: age={age!r}, sex={info.get('sex')!r}")
            continue
        rows.append(
            {
                "subject": subject,
                "group": info["group"],
                "age": float(age),
                "sex": SEX_CODES[sex],
                **{c: float(row[c]) for c in (TIV, *STRUCTURE_COLUMNS)},
            }
        )
    if problems:
        raise ValueError(
            "the cohort sheet needs a numeric age and sex F or M for every subject used for prediction; "
            "fix: " + "; ".join(problems)
        )
    table = pd.DataFrame(rows, columns=["subject", "group", "age", "sex", TIV, *STRUCTURE_COLUMNS])
    table.insert(1, "source", source)
    return table


def segmentation_features(
    volume_tables: Mapping[str, object], sheet: pd.DataFrame, *, R: float, rec: str, source: str
) -> pd.DataFrame:
    """Features from the segmentation of one reconstruction: the rows of ``(R, rec)``.

    Args:
        volume_tables: subject → that subject's volume table (TSV path or DataFrame) as the
            workflow's ``segment`` rule writes it: one row per segmented image with ``R``
            (1 = the fully sampled reference), ``rec`` and SynthSeg's volume columns.
        sheet: cohort sheet with ``subject``, ``group``, ``age`` and ``sex`` columns.
        R, rec: the reconstruction whose segmentation gives the volumes.
        source: the name stored in the ``source`` column (e.g. ``reference`` or ``R8_cs``).

    Returns:
        the columns of :func:`volume_features`, one row per subject.

    Raises:
        ValueError: a table lacks the image (the message names the subject and the table), holds
            it twice, or lacks a volume column; a subject lacks age or sex.
    """
    volumes, problems = {}, []
    for subject, table in volume_tables.items():
        name = table if not isinstance(table, pd.DataFrame) else f"volumes of {subject}"
        if not isinstance(table, pd.DataFrame):
            table = pd.read_csv(table, sep="\t", dtype={"subject": str})
        missing = [c for c in ("R", "rec", TIV, *STRUCTURE_COLUMNS) if c not in table.columns]
        if missing:
            raise ValueError(f"{name}: lacks columns {missing[:5]}; was it written by the segment rule?")
        rows = table[np.isclose(table["R"].astype(float), float(R)) & (table["rec"] == rec)]
        if len(rows) != 1:
            problems.append(f"{name} has {len(rows)} rows for R={float(R):g} rec={rec}")
            continue
        volumes[str(subject)] = rows.iloc[0]
    if problems:
        raise ValueError(
            "every subject needs exactly one segmentation of each predicting image; rerun the segment "
            "rule with this image in segmentation.recons/accelerations: " + "; ".join(problems)
        )
    return _with_demographics(volumes, sheet, source)


def feature_columns(include: Sequence[str] = ("volumes", "age", "sex")) -> list[str]:
    """Feature names: every SynthSeg structure (and total intracranial), then age and sex."""
    cols = []
    if "volumes" in include:
        cols += [TIV, *STRUCTURE_COLUMNS]
    cols += [c for c in ("age", "sex") if c in include]
    return cols

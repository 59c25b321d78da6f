"""Prediction features per subject: regional volumes (SynthSeg layout) plus age and sex.

Until segmentation of the reconstructions runs in the workflow, the volumes come from the
phantom's true label map (``desc-truth_dseg``): the columns are exactly those of a SynthSeg
volumes CSV (:mod:`reconstudy.segment.volumes`), so a segmentation-based table drops in
unchanged. Volumes are in mm³; ``sex`` is coded F = 0, M = 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
    sheet = sheet.astype({"subject": str}).set_index("subject")
    rows, problems = [], []
    for subject, path in label_maps.items():
        labels, affine = load_image(path)
        row = volumes_row(labels.astype(int), affine, subject)
        info = sheet.loc[str(subject)]
        age, sex = info.get("age"), str(info.get("sex", "")).strip().upper()
        if pd.isna(age) or sex not in SEX_CODES:
            problems.append(f"subject {subject}: age={age!r}, sex={info.get('sex')!r}")
            continue
        rows.append(
            {"subject": str(subject), "group": info["group"], "age": float(age), "sex": SEX_CODES[sex], **row}
        )
    if problems:
        raise ValueError(
            "the cohort sheet needs a numeric age and sex F or M for every subject used for prediction; "
            "fix: " + "; ".join(problems)
        )
    table = pd.DataFrame(rows, columns=["subject", "group", "age", "sex", TIV, *STRUCTURE_COLUMNS])
    table.insert(1, "source", source)
    return table


def feature_columns(include: Sequence[str] = ("volumes", "age", "sex")) -> list[str]:
    """Feature names: every SynthSeg structure (and total intracranial), then age and sex."""
    cols = []
    if "volumes" in include:
        cols += [TIV, *STRUCTURE_COLUMNS]
    cols += [c for c in ("age", "sex") if c in include]
    return cols

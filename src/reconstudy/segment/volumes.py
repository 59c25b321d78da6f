"""Regional volumes in SynthSeg's CSV layout (FreeSurfer structure names, mm³).

SynthSeg's ``--vol`` file has one row per image: ``subject`` (the input path), then
``total intracranial`` (every non-background voxel, CSF included), then one column per
segmented structure in increasing FreeSurfer label order, named as in :data:`labels.CSV_NAMES`
('left hippocampus', 'brain-stem', ...); with ``--parc`` cortical parcels follow. Volumes are
voxel counts times the voxel volume |det A| of the label map's affine A.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from reconstudy.io.atomic import atomic_path
from reconstudy.segment import labels as L

TIV = "total intracranial"
STRUCTURE_COLUMNS = [L.CSV_NAMES[int(v)] for v in L.LABELS[1:]]
COLUMNS = ["subject", TIV, *STRUCTURE_COLUMNS]


def voxel_volume_mm3(affine) -> float:
    return float(abs(np.linalg.det(np.asarray(affine, float)[:3, :3])))


def volumes_row(labels: np.ndarray, affine, subject: str) -> dict:
    """One row of the table for a label map (FreeSurfer values; other labels are folded first)."""
    folded = L.fold_labels(np.asarray(labels))
    counts = np.bincount(folded.ravel().astype(np.int64), minlength=int(L.LABELS.max()) + 1)
    voxel = voxel_volume_mm3(affine)
    row = {"subject": str(subject), TIV: float(counts[1:].sum() * voxel)}
    for value in L.LABELS[1:]:
        row[L.CSV_NAMES[int(value)]] = float(counts[value] * voxel)
    return row


def volumes_table(rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=COLUMNS)


def write_volumes_csv(path, table: pd.DataFrame, *, sidecar: dict | None = None) -> Path:
    """Write the table as SynthSeg writes it (comma-separated, 3 decimals) and a JSON sidecar."""
    path = Path(path)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: volumes table lacks columns {missing}")
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.3f")
    meta = {
        "Description": "Regional volumes in SynthSeg's CSV layout (FreeSurfer structure names).",
        "Units": "mm^3",
        "Columns": {TIV: "all non-background voxels (CSF included)", "subject": "input image"},
    }
    meta.update(sidecar or {})
    json_path = path.with_suffix(".json")
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    return path


def read_volumes_csv(path) -> pd.DataFrame:
    """Read a SynthSeg volumes CSV (``mri_synthseg --vol``, or ours) and check its layout.

    Raises:
        FileNotFoundError: no file.
        ValueError: the header is not ``subject, total intracranial, <structure names>`` or a
            value is not a non-negative number; the message names the file and the column.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no volumes CSV")
    try:
        table = pd.read_csv(path)
    except Exception as err:  # pandas raises several parser errors
        raise ValueError(f"{path}: not a readable CSV ({err})") from err
    table.columns = [str(c).strip() for c in table.columns]
    if list(table.columns[:2]) != ["subject", TIV]:
        raise ValueError(
            f"{path}: expected SynthSeg's header starting 'subject,{TIV}', got {list(table.columns[:2])}"
        )
    unknown = [c for c in STRUCTURE_COLUMNS if c not in table.columns]
    if unknown:
        raise ValueError(
            f"{path}: missing SynthSeg structure columns {unknown[:5]} (use mri_synthseg 2.0, not --v1)"
        )
    for column in table.columns[1:]:
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().any() or (values < 0).any():
            raise ValueError(f"{path}: column '{column}' must hold non-negative volumes in mm^3")
        table[column] = values.astype(float)
    return table


def tidy_volumes(table: pd.DataFrame) -> pd.DataFrame:
    """Wide SynthSeg table -> tidy rows (subject, structure, label, volume_mm3)."""
    label_of = {name: value for value, name in L.CSV_NAMES.items()}
    long = table.melt(id_vars="subject", var_name="structure", value_name="volume_mm3")
    long["label"] = long["structure"].map(label_of).astype("Int64")
    return long[["subject", "structure", "label", "volume_mm3"]]

"""Per-structure χ statistics, as QSMxT's analysis tables: one row per label."""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["label", "name", "voxels", "mean_ppm", "median_ppm", "sd_ppm"]


def roi_table(
    chi_ppm, labels, names: dict | None = None, mask=None, include_zero: bool = False
) -> pd.DataFrame:
    """Voxel count, mean, median and sample SD of χ (ppm) per label (tidy, one row per label).

    Args:
        chi_ppm: χ map ``(z, y, x)``.
        labels: integer label map on the same grid (e.g. FreeSurfer/SynthSeg labels).
        names: optional ``{label: name}``.
        mask: optional bool mask (e.g. the QSM mask): voxels outside are ignored.
        include_zero: also report label 0 (background).
    """
    chi = np.asarray(chi_ppm, dtype=np.float64)
    labels = np.asarray(labels)
    if chi.shape != labels.shape:
        raise ValueError(f"χ shape {chi.shape} differs from the label map's {labels.shape}")
    valid = np.isfinite(chi) if mask is None else (np.asarray(mask, bool) & np.isfinite(chi))
    rows = []
    for label in np.unique(labels[valid]):
        if label == 0 and not include_zero:
            continue
        values = chi[valid & (labels == label)]
        rows.append(
            {
                "label": int(label),
                "name": (names or {}).get(int(label), str(int(label))),
                "voxels": int(values.size),
                "mean_ppm": float(values.mean()),
                "median_ppm": float(np.median(values)),
                "sd_ppm": float(values.std(ddof=1)) if values.size > 1 else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)

"""Voxel-wise errors of a quantitative map against a reference, and ROI means.

Seed 003 compares QSM from accelerated 3D-EPI with GRE-based QSM by MAE (ppb), RMSE (as a
percentage of the reference norm, as in the QSM challenge) and per-ROI mean differences in
basal-ganglia and brain-stem nuclei.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def _mask_for(estimate: np.ndarray, reference: np.ndarray, mask) -> np.ndarray:
    if estimate.shape != reference.shape:
        raise ValueError(f"estimate shape {estimate.shape} differs from reference shape {reference.shape}")
    if mask is None:
        mask = np.ones(reference.shape, bool)
    mask = np.asarray(mask)
    if mask.shape != reference.shape:
        raise ValueError(f"mask shape {mask.shape} differs from map shape {reference.shape}")
    if mask.dtype != bool:
        if not np.isin(mask, (0, 1)).all():
            raise ValueError("mask must be boolean or 0/1; threshold a probability map first")
        mask = mask.astype(bool)
    if not mask.any():
        raise ValueError("mask selects no voxels")
    for name, arr in (("estimate", estimate), ("reference", reference)):
        bad = ~np.isfinite(arr[mask])
        if bad.any():
            raise ValueError(f"{name} has {int(bad.sum())} non-finite voxel(s) inside the mask")
    return mask


def map_errors(estimate, reference, mask=None, *, scale: float = 1.0, unit: str = "") -> dict:
    """MAE, RMSE, bias and relative RMSE of ``estimate`` against ``reference`` inside ``mask``.

    With ``e = estimate - reference`` over the N mask voxels: ``MAE = mean|e|``,
    ``RMSE = sqrt(mean e^2)``, ``bias = mean e`` and ``RMSE% = 100 ||e||_2 / ||reference||_2``
    (the normalised RMSE of the QSM reconstruction challenges).

    Args:
        estimate, reference: maps of equal shape (e.g. chi in ppm, (z, y, x)).
        mask: boolean region (e.g. brain mask); the whole array if None.
        scale: multiply absolute errors by this (e.g. 1000 to report ppm maps in ppb).
        unit: unit label of the scaled errors, stored in the ``unit`` column.

    Returns:
        dict with n_voxels, mae, rmse, bias, rmse_percent, unit.

    References:
        Langkammer C et al. Quantitative susceptibility mapping: report from the 2016
        reconstruction challenge. Magn Reson Med 2018;79:1661-1673.
    """
    estimate = np.asarray(estimate, dtype=float)
    reference = np.asarray(reference, dtype=float)
    mask = _mask_for(estimate, reference, mask)
    e = estimate[mask] - reference[mask]
    ref_norm = np.linalg.norm(reference[mask])
    return {
        "n_voxels": int(mask.sum()),
        "mae": float(np.mean(np.abs(e)) * scale),
        "rmse": float(np.sqrt(np.mean(e**2)) * scale),
        "bias": float(np.mean(e) * scale),
        "rmse_percent": float(100 * np.linalg.norm(e) / ref_norm) if ref_norm > 0 else float("nan"),
        "unit": unit,
    }


def roi_means(image, labels, names: Mapping[int, str] | None = None, *, scale: float = 1.0) -> pd.DataFrame:
    """Mean, SD and voxel count of ``image`` in each labelled region.

    Args:
        image: quantitative map.
        labels: integer label map of the same shape; 0 is background and skipped.
        names: optional label -> structure name; labels not in ``names`` are skipped when given,
            and a name whose label is absent raises.
        scale: multiply values (e.g. 1000 for ppb).

    Returns:
        one row per region: label, structure, n_voxels, mean, sd.
    """
    image = np.asarray(image, dtype=float)
    labels = np.asarray(labels)
    if image.shape != labels.shape:
        raise ValueError(f"image shape {image.shape} differs from label shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.mod(labels, 1) == 0):
            raise ValueError("labels must be integers (a segmentation), not a continuous map")
        labels = labels.astype(np.int64)
    present = sorted(int(v) for v in np.unique(labels) if v != 0)
    if names is not None:
        absent = [k for k in names if k not in present]
        if absent:
            raise ValueError(f"labels {absent} ({[names[k] for k in absent]}) are not in the label map")
        present = [k for k in present if k in names]
    rows = []
    for lab in present:
        vals = image[labels == lab]
        if not np.isfinite(vals).all():
            raise ValueError(f"image has non-finite values inside label {lab}")
        rows.append(
            {
                "label": lab,
                "structure": names[lab] if names else str(lab),
                "n_voxels": int(vals.size),
                "mean": float(vals.mean() * scale),
                "sd": float(vals.std(ddof=1) * scale) if vals.size > 1 else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=["label", "structure", "n_voxels", "mean", "sd"])


def roi_differences(
    estimate, reference, labels, names: Mapping[int, str] | None = None, *, scale: float = 1.0
) -> pd.DataFrame:
    """ROI means of ``estimate`` and ``reference`` side by side with their difference.

    Returns:
        one row per region: label, structure, n_voxels, mean_estimate, mean_reference,
        diff (estimate - reference), sd_estimate, sd_reference.
    """
    est = roi_means(estimate, labels, names, scale=scale)
    ref = roi_means(reference, labels, names, scale=scale)
    out = est.rename(columns={"mean": "mean_estimate", "sd": "sd_estimate"})
    out["mean_reference"] = ref["mean"].to_numpy()
    out["sd_reference"] = ref["sd"].to_numpy()
    out["diff"] = out["mean_estimate"] - out["mean_reference"]
    return out[
        [
            "label",
            "structure",
            "n_voxels",
            "mean_estimate",
            "mean_reference",
            "diff",
            "sd_estimate",
            "sd_reference",
        ]
    ]

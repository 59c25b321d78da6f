"""Scoring reconstructions of a cohort: per-subject metric rows and the group summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sstats

from reconstudy.io.nifti import load_image
from reconstudy.metrics import image_metrics
from reconstudy.resources import resource_path
from reconstudy.stats.multiple import adjust_pvalues

METRICS = ("psnr", "ssim", "nmse", "nrmse")


def score_reconstruction(image, reference, mask, normalise="none") -> dict[str, float]:
    """Metrics of one magnitude reconstruction; multi-echo images are scored per echo and averaged."""
    image, reference = np.asarray(image), np.asarray(reference)
    if image.shape != reference.shape:
        raise ValueError(f"reconstruction shape {image.shape} differs from the reference {reference.shape}")
    if image.ndim == 3:
        return image_metrics(image, reference, mask, normalise)
    per_echo = [image_metrics(i, r, mask, normalise) for i, r in zip(image, reference)]
    return {name: float(np.mean([m[name] for m in per_echo])) for name in per_echo[0]}


def score_subject(subject, recons: dict, references: dict, mask_path, normalise="none") -> pd.DataFrame:
    """One tidy row per (acquisition, R, method) of one subject.

    Args:
        recons: ``{(acq, R, rec): magnitude NIfTI path}``.
        references: ``{acq: magnitude NIfTI path of the fully sampled reference}``.
        mask_path: brain mask NIfTI on the same grid.
    """
    mask, mask_affine = load_image(mask_path)
    mask = mask.astype(bool)
    rows = []
    for acq, ref_path in references.items():
        reference, ref_affine = load_image(ref_path)
        if not np.allclose(ref_affine, mask_affine, atol=1e-3) or reference.shape[-3:] != mask.shape:
            raise ValueError(f"{ref_path}: grid differs from the brain mask {mask_path}")
        for (r_acq, R, rec), path in recons.items():
            if r_acq != acq:
                continue
            image, _ = load_image(path)
            row = {"subject": subject, "acq": acq, "R": float(R), "rec": rec}
            row.update(score_reconstruction(image, reference, mask, normalise))
            rows.append(row)
    return pd.DataFrame(rows)


def _adjust_family(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg over the tests that were run (NaN entries stay NaN)."""
    p = np.asarray(p_values, float)
    out = np.full_like(p, np.nan)
    tested = ~np.isnan(p)
    if tested.any():
        out[tested] = adjust_pvalues(p[tested], "fdr_bh")
    return out


def group_summary(
    table: pd.DataFrame, reference_rec: str, reference_R=None, *, metrics=METRICS, by: str = "acq"
) -> pd.DataFrame:
    """Mean ± sd per (``by``, metric, rec, R) and a paired Wilcoxon test against the reference.

    The reference is method ``reference_rec`` at ``reference_R`` (or at the same R when None);
    pairs are matched by subject. p-values are exact for small samples without ties
    (``scipy.stats.wilcoxon``) and Benjamini–Hochberg adjusted within each (``by``, metric).

    Args:
        by: the column that separates families of comparisons (``acq`` for image metrics,
            ``qsm`` for QSM methods).
    """
    missing = {"subject", by, "R", "rec"} - set(table.columns)
    if missing:
        raise ValueError(f"metrics table lacks columns {sorted(missing)}")
    if reference_rec not in set(table["rec"]):
        raise ValueError(
            f"statistics.reference_rec={reference_rec!r} is not among the methods in the table "
            f"({sorted(set(table['rec']))}); choose one of them in the config"
        )
    long = table.melt(id_vars=["subject", by, "R", "rec"], value_vars=[m for m in metrics if m in table])
    rows = []
    for (family, metric, rec, R), group in long.groupby([by, "variable", "rec", "R"], sort=True):
        ref_R = R if reference_R is None else float(reference_R)
        same_family = (long[by] == family) & (long.variable == metric)
        ref = long[same_family & (long.rec == reference_rec) & (long.R == ref_R)]
        paired = group.merge(ref[["subject", "value"]], on="subject", suffixes=("", "_ref"))
        values = group["value"].to_numpy(float)
        row = {
            by: family,
            "metric": metric,
            "rec": rec,
            "R": R,
            "n": len(values),
            "mean": float(np.mean(values)),
            "sd": float(np.std(values, ddof=1)) if len(values) > 1 else np.nan,
            "reference": f"{reference_rec} R={ref_R:g}",
            "n_pairs": len(paired),
            "median_difference": np.nan,
            "wilcoxon_W": np.nan,
            "p_value": np.nan,
        }
        is_reference = rec == reference_rec and R == ref_R
        if not is_reference and len(paired) > 0:
            diff = paired["value"] - paired["value_ref"]
            row["median_difference"] = float(np.median(diff))
            if np.any(diff != 0):
                test = sstats.wilcoxon(paired["value"], paired["value_ref"], zero_method="wilcox")
                row["wilcoxon_W"], row["p_value"] = float(test.statistic), float(test.pvalue)
        rows.append(row)
    summary = pd.DataFrame(rows)
    summary["p_fdr"] = np.nan
    for _, index in summary.groupby([by, "metric"]).groups.items():
        summary.loc[index, "p_fdr"] = _adjust_family(summary.loc[index, "p_value"].to_numpy())
    summary["mean_sd"] = [
        f"{m:.4g} ± {s:.2g}" if np.isfinite(s) else f"{m:.4g}" for m, s in zip(summary["mean"], summary["sd"])
    ]
    return summary


def structure_names() -> dict[int, str]:
    """FreeSurfer label -> structure name, from the shipped tissue table."""
    table = pd.read_csv(resource_path("tissue_properties.tsv"), sep="\t")
    return dict(zip(table["label"].astype(int), table["name"]))


def score_qsm_subject(
    subject, maps: dict, truth_path, labels_path, mask_path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """QSM-challenge metrics and per-structure χ of every χ map of one subject against truth.

    All maps are scored in one common mask: the brain mask intersected with the support of
    every map (each QSM method erodes its own mask), so methods and R are compared on the same
    voxels.

    Args:
        maps: ``{(R, rec, qsm_method): χ NIfTI path}``; R = 1 is the fully sampled reference.

    Returns:
        (metrics, roi): one row per map (``rmse_ppm, nrmse, hfen, ssim``), and one row per
        map and structure (voxels, mean/median/sd in ppm, the true mean and the error in ppb).
    """
    from reconstudy.qsm import qsm_metrics, roi_table  # noqa: PLC0415  (torch import only here)

    truth, affine = load_image(truth_path)
    labels, _ = load_image(labels_path)
    brain, _ = load_image(mask_path)
    chis = {}
    for key, path in maps.items():
        chi, chi_affine = load_image(path)
        if chi.shape != truth.shape or not np.allclose(chi_affine, affine, atol=1e-3):
            raise ValueError(f"{path}: grid differs from the true χ map {truth_path}")
        chis[key] = chi
    mask = brain > 0
    for chi in chis.values():
        mask &= chi != 0
    if not mask.any():
        raise ValueError(f"sub-{subject}: the χ maps share no voxel inside the brain mask {mask_path}")
    names = structure_names()
    truth_roi = roi_table(truth, labels, names, mask)[["label", "mean_ppm"]]
    truth_roi = truth_roi.rename(columns={"mean_ppm": "truth_mean_ppm"})
    metric_rows, roi_tables = [], []
    for (R, rec, method), chi in chis.items():
        ids = {"subject": subject, "R": float(R), "rec": rec, "qsm": method}
        metric_rows.append({**ids, "voxels": int(mask.sum()), **qsm_metrics(chi, truth, mask)})
        roi = roi_table(chi, labels, names, mask).merge(truth_roi, on="label")
        roi["error_ppb"] = 1000 * (roi["mean_ppm"] - roi["truth_mean_ppm"])
        roi_tables.append(roi.assign(**ids))
    roi = pd.concat(roi_tables, ignore_index=True)
    front = ["subject", "R", "rec", "qsm"]
    return pd.DataFrame(metric_rows), roi[front + [c for c in roi.columns if c not in front]]

"""Scoring reconstructions of a cohort: per-subject metric rows and the group summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sstats

from reconstudy.io.nifti import load_image
from reconstudy.metrics import image_metrics
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


def group_summary(table: pd.DataFrame, reference_rec: str, reference_R=None) -> pd.DataFrame:
    """Mean ± sd per (acq, metric, rec, R) and a paired Wilcoxon test against the reference.

    The reference is method ``reference_rec`` at ``reference_R`` (or at the same R when None);
    pairs are matched by subject. p-values are exact for small samples without ties
    (``scipy.stats.wilcoxon``) and Benjamini–Hochberg adjusted within each (acq, metric).
    """
    missing = {"subject", "acq", "R", "rec"} - set(table.columns)
    if missing:
        raise ValueError(f"metrics table lacks columns {sorted(missing)}")
    if reference_rec not in set(table["rec"]):
        raise ValueError(
            f"statistics.reference_rec={reference_rec!r} is not among the methods in the table "
            f"({sorted(set(table['rec']))}); choose one of them in the config"
        )
    long = table.melt(id_vars=["subject", "acq", "R", "rec"], value_vars=[m for m in METRICS if m in table])
    rows = []
    for (acq, metric, rec, R), group in long.groupby(["acq", "variable", "rec", "R"], sort=True):
        ref_R = R if reference_R is None else float(reference_R)
        ref = long[
            (long.acq == acq) & (long.variable == metric) & (long.rec == reference_rec) & (long.R == ref_R)
        ]
        paired = group.merge(ref[["subject", "value"]], on="subject", suffixes=("", "_ref"))
        values = group["value"].to_numpy(float)
        row = {
            "acq": acq,
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
    for _, index in summary.groupby(["acq", "metric"]).groups.items():
        summary.loc[index, "p_fdr"] = _adjust_family(summary.loc[index, "p_value"].to_numpy())
    summary["mean_sd"] = [
        f"{m:.4g} ± {s:.2g}" if np.isfinite(s) else f"{m:.4g}" for m, s in zip(summary["mean"], summary["sd"])
    ]
    return summary

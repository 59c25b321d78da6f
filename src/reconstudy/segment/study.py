"""Segmentation in a reconstruction study: Dice and volumes per image, group tests of volumes.

What the workflow's ``segment`` rules compute, as library functions:

* :func:`dice_rows` — Dice per evaluated structure of one label map against phantom truth
  (or against the segmentation of the fully sampled reference), tidy rows;
* :func:`volume_record` — one wide row of SynthSeg's volumes layout (``total intracranial`` and
  one column per structure, mm³) with the image's keys and quality flags;
* :func:`structure_fractions` — hippocampus, amygdala and lateral ventricles (left + right)
  as fractions of the total intracranial volume (ICV), tidy rows;
* :func:`group_volume_tests` — impaired vs control per image and structure: group means, change
  (%) against the simulated direction, Mann-Whitney U (or Welch t) with Benjamini-Hochberg
  adjustment over the structures of each image.

Normalising by ICV removes head size, which the phantom varies between anatomies and
deformations (Whitwell et al. 2001); the phantom's impaired group loses hippocampal and
amygdala volume and has larger lateral ventricles (docs/phantom.md), so the expected signs are
−, −, +.

References:
    Whitwell JL et al. Normalization of cerebral volumes by use of intracranial volume.
    AJNR 22:1483, 2001. Mann HB, Whitney DR. Ann Math Stat 18:50, 1947. Benjamini Y,
    Hochberg Y. JRSS B 57:289, 1995.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from reconstudy.segment import labels as L
from reconstudy.segment.dice import dice_per_label
from reconstudy.segment.volumes import TIV, volumes_row
from reconstudy.stats.multiple import adjust_pvalues

STRUCTURE_GROUPS = {"hippocampus": (17, 53), "amygdala": (18, 54), "lateral ventricles": (4, 43)}
# Sign of (impaired - control) that the phantom simulates (reconstudy.phantom.effects).
EXPECTED_SIGN = {"hippocampus": -1, "amygdala": -1, "lateral ventricles": 1}
TESTS = ("mannwhitney", "ttest")


def image_name(R: str, rec: str) -> str:
    """Short name of a segmented image: ``reference`` for R = 1, else ``R4 cs``."""
    return "reference" if float(R) == 1 else f"R{R} {rec}"


def on_grid(labels, affine, shape, target_affine) -> np.ndarray:
    """``labels`` moved onto a target grid (nearest neighbour) when the grids differ."""
    if labels.shape == tuple(shape) and np.allclose(affine, target_affine, atol=1e-4):
        return labels
    from reconstudy.segment.biomarkers import labels_on_grid

    return labels_on_grid(labels, affine, tuple(shape), target_affine)


def dice_rows(labels, reference, against: str, keys: dict) -> list[dict]:
    """Dice of each evaluated structure (:data:`labels.EVALUATED`) as tidy rows.

    Args:
        labels: segmentation (FreeSurfer values), on the reference's grid.
        reference: the label map it is scored against (folded to the SynthSeg set here).
        against: ``truth`` or ``reference`` (the column that says which).
        keys: columns copied into every row (subject, R, rec, ...).
    """
    scores = dice_per_label(
        L.fold_labels(np.asarray(labels)), L.fold_labels(np.asarray(reference)), L.EVALUATED
    )
    return [
        {**keys, "against": against, "label": label, "structure": L.CSV_NAMES[label], "dice": value}
        for label, value in scores.items()
    ]


def volume_record(labels, affine, keys: dict, quality: dict | None = None, subject: str = "") -> dict:
    """One row: ``keys``, quality score and flags, then SynthSeg's volume columns (mm³)."""
    quality = quality or {}
    flags = quality.get("flags", [])
    return {
        **keys,
        "quality_score": quality.get("score", np.nan),
        "quality_flags": "; ".join(flags),
        # 3 decimals as SynthSeg writes them (and no 1416624.9999999993 from a float voxel volume)
        **{
            k: round(v, 3) if isinstance(v, float) else v
            for k, v in volumes_row(labels, affine, subject).items()
        },
    }


def structure_fractions(volumes: pd.DataFrame, keys=("subject", "group", "image")) -> pd.DataFrame:
    """Tidy rows (keys, structure, volume_mm3, icv_mm3, fraction_icv) for :data:`STRUCTURE_GROUPS`."""
    rows = []
    for record in volumes.to_dict("records"):
        for name, values in STRUCTURE_GROUPS.items():
            volume = sum(float(record[L.CSV_NAMES[v]]) for v in values)
            icv = float(record[TIV])
            rows.append(
                {
                    **{k: record[k] for k in keys},
                    "structure": name,
                    "volume_mm3": volume,
                    "icv_mm3": icv,
                    "fraction_icv": volume / icv if icv > 0 else np.nan,
                }
            )
    return pd.DataFrame(rows)


def _test(a: np.ndarray, b: np.ndarray, test: str) -> tuple[float, float]:
    if len(a) < 1 or len(b) < 1 or (test == "ttest" and (len(a) < 2 or len(b) < 2)):
        return np.nan, np.nan
    if test == "mannwhitney":
        result = sps.mannwhitneyu(a, b, alternative="two-sided", method="auto")
    else:
        result = sps.ttest_ind(a, b, equal_var=False)
    return float(result.statistic), float(result.pvalue)


def group_volume_tests(
    fractions: pd.DataFrame,
    groups=("control", "impaired"),
    test: str = "mannwhitney",
    by=("image",),
) -> pd.DataFrame:
    """Impaired vs control ICV fractions per image and structure.

    Args:
        fractions: rows of :func:`structure_fractions` (columns group, structure, fraction_icv, ``by``).
        groups: (control, case) group names.
        test: ``mannwhitney`` (two-sided U, exact for small groups) or ``ttest`` (Welch).
        by: columns defining one family of tests; p-values are BH-adjusted within each family
            (the structures of one image).

    Returns:
        One row per (``by``, structure): n and mean fraction per group, ``change_percent`` =
        100 (mean_case − mean_control) / mean_control, ``expected_sign``, ``direction_ok``,
        ``statistic``, ``p_value``, ``p_fdr``, ``test``. p is NaN when a group is empty (or has
        one subject for the t-test).
    """
    if test not in TESTS:
        raise ValueError(f"segmentation test must be one of {TESTS}, got {test!r}")
    control, case = groups
    rows = []
    subset = fractions[fractions["group"].isin(groups)]
    for key, frame in subset.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        family = []
        for structure in STRUCTURE_GROUPS:
            part = frame[frame["structure"] == structure]
            a = part.loc[part["group"] == control, "fraction_icv"].dropna().to_numpy(float)
            b = part.loc[part["group"] == case, "fraction_icv"].dropna().to_numpy(float)
            statistic, p = _test(a, b, test)
            mean_a = float(a.mean()) if a.size else np.nan
            mean_b = float(b.mean()) if b.size else np.nan
            change = 100 * (mean_b - mean_a) / mean_a if a.size and b.size and mean_a > 0 else np.nan
            family.append(
                {
                    **dict(zip(by, key)),
                    "structure": structure,
                    f"n_{control}": int(a.size),
                    f"n_{case}": int(b.size),
                    f"mean_{control}": mean_a,
                    f"mean_{case}": mean_b,
                    "change_percent": change,
                    "expected_sign": EXPECTED_SIGN[structure],
                    "direction_ok": bool(np.sign(change) == EXPECTED_SIGN[structure])
                    if np.isfinite(change)
                    else None,
                    "statistic": statistic,
                    "p_value": p,
                    "test": test,
                }
            )
        p = np.array([r["p_value"] for r in family], float)
        adjusted = np.full(p.shape, np.nan)
        finite = np.isfinite(p)
        if finite.any():
            adjusted[finite] = adjust_pvalues(p[finite], "fdr_bh")
        for row, value in zip(family, adjusted):
            row["p_fdr"] = float(value)
        rows += family
    return pd.DataFrame(rows)

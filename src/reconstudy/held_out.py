"""Honest scoring of learned reconstructions: which subjects a model never saw, and DL vs CS on them.

A network scored on subjects built from an anatomy it was trained on flatters itself: the
cohort table therefore says, for every learned row (``dl``, ``dl_sr``), whether the model's
training data contained the subject's anatomy (:func:`mark_seen_anatomy`), and the held-out
table (:func:`held_out_comparison`) compares DL with CS on the unseen-anatomy subjects only,
paired (the same subjects for both methods at every R), with the claim of seed 000 checked:

.. math::

    \\overline{\\mathrm{SSIM}}_{DL}(R{=}8) \\ge \\overline{\\mathrm{SSIM}}_{CS}(R{=}4), \\qquad
    \\overline{\\mathrm{SSIM}}_{DL}(R{=}6) > \\overline{\\mathrm{SSIM}}_{CS}(R{=}4),

means over the same unseen-anatomy subjects.

References:
    Hammernik K. et al. Learning a variational network for reconstruction of accelerated MRI
    data. Magn Reson Med 2018;79:3055-3071 (held-out evaluation of unrolled networks).
    Seed 000 (../shared/seeds/000_*): DL at R = 8 reaches CS at R = 4, DL at R = 6 beats it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from reconstudy.seeding import derive_seed

LEARNED_METHODS = ("dl", "dl_sr")
SEEN_COLUMN = "model_saw_anatomy"
# (R of DL, comparison, R of CS): the claims of seed 000 checked in the held-out table.
SEED_000_CLAIMS = ((8.0, ">=", 4.0), (6.0, ">", 4.0))


def claim_holds(learned_ssim: float, op: str, baseline_ssim: float) -> bool:
    """Whether ``learned_ssim op baseline_ssim`` holds for a claim's ``op`` (``>=`` or ``>``)."""
    if op not in (">=", ">"):
        raise ValueError(f"claim comparison {op!r} is not '>=' or '>'")
    return learned_ssim >= baseline_ssim if op == ">=" else learned_ssim > baseline_ssim


def simulated_anatomy(subject: str, cell="") -> int:
    """Label map (1-3) a simulated subject is built from: the sheet's ``anatomy`` cell, or, when
    empty, ``1 + derive_seed(subject) % 3`` (the rule of workflow/scripts/simulate_subject.py)."""
    if cell not in ("", None) and not (isinstance(cell, float) and np.isnan(cell)):
        return int(cell)
    return 1 + derive_seed(str(subject)) % 3


def trained_anatomies(
    manifest: Mapping, sheet_anatomies: Mapping[str, int | None] | None = None
) -> list[int] | None:
    """Anatomies in a model's training data (train and validation), from its manifest.

    A shipped model records ``data.train_anatomies``; a model trained by the workflow records its
    ``data.subjects`` (train / val labels of this cohort), mapped to anatomies through
    ``sheet_anatomies`` (subject -> anatomy). None when neither is known.
    """
    data = manifest.get("data") or {}
    if data.get("train_anatomies") is not None:
        return sorted(int(a) for a in data["train_anatomies"])
    subjects = data.get("subjects") or {}
    seen = [s for role in ("train", "val") for s in subjects.get(role, [])]
    if not seen or sheet_anatomies is None:
        return None
    unknown = [s for s in seen if sheet_anatomies.get(str(s)) is None]
    if unknown:
        return None  # trained on subjects of unknown anatomy: nothing can be claimed
    return sorted({int(sheet_anatomies[str(s)]) for s in seen})


def mark_seen_anatomy(
    table: pd.DataFrame,
    anatomies: Mapping[str, Mapping[str, int | None]],
    trained: Mapping[tuple[str, str], Iterable[int] | None],
) -> pd.DataFrame:
    """Add :data:`SEEN_COLUMN` to a cohort metrics table: ``yes`` / ``no`` / empty.

    Args:
        table: tidy rows with ``subject``, ``acq`` and ``rec``.
        anatomies: ``{acq: {subject: anatomy}}``; None (or absent) for measured data.
        trained: ``{(acq, rec): anatomies the model of that learned method was trained on}``;
            None when the manifest does not say.

    Returns:
        a copy of ``table``; the column is empty for non-learned rows, measured subjects and
        models whose training anatomies are unknown.
    """
    missing = {"subject", "acq", "rec"} - set(table.columns)
    if missing:
        raise ValueError(f"metrics table lacks columns {sorted(missing)}")
    values = []
    for subject, acq, rec in zip(table["subject"].astype(str), table["acq"], table["rec"]):
        seen_set = trained.get((acq, rec))
        anatomy = (anatomies.get(acq) or {}).get(subject)
        if rec not in LEARNED_METHODS or seen_set is None or anatomy is None:
            values.append("")
        else:
            values.append("yes" if int(anatomy) in {int(a) for a in seen_set} else "no")
    return table.assign(**{SEEN_COLUMN: values})


def _paired_subjects(rows: pd.DataFrame, learned: str, baseline: str, accelerations) -> list[str]:
    """Unseen-anatomy subjects with a learned and a baseline row at every R (one set for all R)."""
    unseen = set(rows.loc[(rows["rec"] == learned) & (rows[SEEN_COLUMN] == "no"), "subject"])
    complete = []
    for subject in sorted(unseen):
        mine = rows[rows["subject"] == subject]
        have = {(rec, R) for rec, R in zip(mine["rec"], mine["R"])}
        if all((rec, R) in have for R in accelerations for rec in (learned, baseline)):
            complete.append(subject)
    return complete


def held_out_comparison(
    table: pd.DataFrame,
    learned: str = "dl",
    baseline: str = "cs",
    metrics=("ssim", "psnr"),
    claims=SEED_000_CLAIMS,
) -> pd.DataFrame:
    """Mean metrics of ``learned`` and ``baseline`` per (acq, R) on the unseen-anatomy subjects.

    Within an acquisition, every R uses the same subjects (those whose anatomy the model never
    saw, :data:`SEEN_COLUMN` == ``no``, with both methods at every R), so each difference is
    paired. ``claims`` are ``(R_learned, op, R_baseline)`` with op ``>=`` or ``>``: the row of
    ``R_learned`` gets the claim's text, the baseline's mean SSIM at ``R_baseline`` and
    ``claim_met`` (``yes`` / ``no``; empty without subjects or without the baseline's R).

    Args:
        table: the cohort metrics table (``subject, acq, R, rec``, the metrics, :data:`SEEN_COLUMN`).

    Returns:
        one row per (acq, R) of the learned method: ``acq, R, n_subjects, subjects``, per metric
        ``<metric>_<learned>``, ``<metric>_<baseline>``, ``<metric>_difference`` (learned - baseline),
        then ``claim, <baseline>_ssim_at_claim_R, claim_met``. Empty if no row is ``learned``.
    """
    needed = {"subject", "acq", "R", "rec", SEEN_COLUMN, "ssim", *metrics}
    missing = needed - set(table.columns)
    if missing:
        raise ValueError(
            f"metrics table lacks columns {sorted(missing)} (it needs the output of mark_seen_anatomy)"
        )
    bad = sorted({c[1] for c in claims} - {">=", ">"})
    if bad:
        raise ValueError(f"claim comparisons {bad} are not '>=' or '>'")
    table = table.assign(subject=table["subject"].astype(str), R=table["R"].astype(float))
    table[SEEN_COLUMN] = table[SEEN_COLUMN].fillna("").astype(str)
    rows = []
    for acq in dict.fromkeys(table.loc[table["rec"] == learned, "acq"]):
        subset = table[table["acq"] == acq]
        accelerations = sorted(subset.loc[subset["rec"] == learned, "R"].unique())
        subjects = _paired_subjects(subset, learned, baseline, accelerations)
        paired = subset[subset["subject"].isin(subjects)]
        mean = paired.groupby(["rec", "R"])[list(dict.fromkeys(["ssim", *metrics]))].mean()

        def value(rec, R, metric, mean=mean):
            return float(mean.loc[(rec, R), metric]) if (rec, R) in mean.index else np.nan

        for R in accelerations:
            row = {"acq": acq, "R": R, "n_subjects": len(subjects), "subjects": ",".join(subjects)}
            for metric in metrics:
                a, b = value(learned, R, metric), value(baseline, R, metric)
                row[f"{metric}_{learned}"], row[f"{metric}_{baseline}"] = a, b
                row[f"{metric}_difference"] = a - b
            row.update({"claim": "", f"{baseline}_ssim_at_claim_R": np.nan, "claim_met": ""})
            for R_learned, op, R_base in claims:
                if float(R_learned) != R:
                    continue
                row["claim"] = f"{learned} R={R:g} {op} {baseline} R={float(R_base):g} (SSIM)"
                base = value(baseline, float(R_base), "ssim")
                row[f"{baseline}_ssim_at_claim_R"] = base
                mine = value(learned, R, "ssim")
                if np.isfinite(base) and np.isfinite(mine):
                    row["claim_met"] = "yes" if claim_holds(mine, op, base) else "no"
            rows.append(row)
    return pd.DataFrame(rows)

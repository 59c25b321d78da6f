"""Held-out evaluation of a trained model against other reconstructions (e.g. CS at R = 4).

Every test subject is undersampled at each R with the study's sampling pattern (seeded from
``(seed, subject index, R)``), reconstructed, and scored with :func:`reconstudy.metrics.
image_metrics` against the root-sum-of-squares of its fully sampled k-space inside a brain mask,
or (``reference="sense"``, the workflow's default) against the CG-SENSE reconstruction of
the fully sampled k-space, the reference the workflow's metric stage uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from torch import nn

from reconstudy.held_out import SEED_000_CLAIMS, claim_holds
from reconstudy.io.kspace import KSpace
from reconstudy.metrics import image_metrics
from reconstudy.recon.dl.inference import dl_reconstruct, prewhiten
from reconstudy.sampling import centre_box_mask
from reconstudy.training.data import rss_image

log = logging.getLogger("reconstudy")
Reconstructor = Callable[[KSpace], np.ndarray]
# Rows scored on the centre-box (low-resolution) acquisition rather than a study mask.
LOW_RESOLUTION_RECS = ("dl_sr", "sense_lowres")


@dataclass
class HeldOutSubject:
    name: str
    group: int  # the anatomy (label map) the subject was made from
    kspace: KSpace  # fully sampled
    brain: np.ndarray  # bool (z, y, x)


def undersample(kspace: KSpace, mask: np.ndarray) -> KSpace:
    """A copy of fully sampled ``kspace`` keeping only the ``(kz, ky)`` positions in ``mask``."""
    data = kspace.data * mask[None, None, :, :, None]
    return KSpace(data, kspace.geometry, kspace.acquisition, kspace.noise_covariance, mask, kspace.encoding)


def sense_image(kspace: KSpace) -> np.ndarray:
    """CG-SENSE of ``kspace`` as the workflow's ``sense`` method makes it (complex ``(echo, z, y, x)``)."""
    from reconstudy.recon.api import reconstruct

    return reconstruct(kspace, "sense")


def reference_image(kspace: KSpace, method: str) -> np.ndarray:
    """Magnitude reference ``(z, y, x)`` of fully sampled ``kspace`` (``sense`` or ``rss``)."""
    if method == "rss":
        return rss_image(prewhiten(kspace.data[0], kspace.noise_covariance))
    return np.abs(sense_image(kspace)[0])


def study_mask(
    shape, accel: float, pattern: str, calibration: int, seed: int, subject_index: int
) -> np.ndarray:
    from reconstudy.sampling import create_mask, mask_seed

    return create_mask(pattern, shape, accel, calib=calibration, seed=mask_seed(seed, subject_index, accel))


def evaluate_subjects(
    model: nn.Module,
    subjects: Sequence[HeldOutSubject],
    accelerations: Sequence[float],
    *,
    pattern: str = "poisson",
    calibration: int = 12,
    seed: int = 0,
    others: dict[str, tuple[Sequence[float], Reconstructor]] | None = None,
    device: str = "cpu",
    batch_planes: int = 8,
    sr_factor: int | None = None,
    reference: str = "sense",
    start_index: int = 0,
) -> pd.DataFrame:
    """Tidy rows ``subject, anatomy, rec, R, psnr, ssim, nmse, nrmse`` for DL and other methods.

    Args:
        model: the trained model (VarNet; with ``sr_factor`` a SuperResolution model, scored on
            the centre-box low-resolution acquisition, reported with ``R = sr_factor**2``).
        subjects: fully sampled held-out subjects.
        accelerations: R values for the DL model.
        others: ``{rec name: (R values, reconstruct(kspace) -> complex (echo, z, y, x))}``, e.g.
            ``{"cs": ([4], cs_function)}``.
        reference: ``"sense"`` (CG-SENSE of the fully sampled data, via
            :func:`reconstudy.recon.api.reconstruct`) or ``"rss"`` (root-sum-of-squares of the
            prewhitened fully sampled coil images).
        start_index: index of ``subjects[0]`` in the whole test set (masks are seeded by the
            subject's index, so a test set scored in parts gets the same masks).
    """
    if reference not in ("sense", "rss"):
        raise ValueError(f"evaluation reference must be 'sense' or 'rss', got {reference!r}")
    rows = []
    for index, subject in enumerate(subjects, start=start_index):
        reference_magnitude = reference_image(subject.kspace, reference)
        shape = subject.kspace.sampling_mask.shape
        runs = [("dl", accel, None) for accel in ([] if sr_factor else accelerations)]
        if sr_factor:
            # The same low-resolution acquisition, super-resolved and conventionally reconstructed.
            runs += [("dl_sr", float(sr_factor**2), None), ("sense_lowres", float(sr_factor**2), sense_image)]
        for name, (accels, function) in (others or {}).items():
            runs.extend((name, accel, function) for accel in accels)
        for rec, accel, function in runs:
            if rec in LOW_RESOLUTION_RECS:
                mask = centre_box_mask(shape, sr_factor)
            else:
                mask = study_mask(shape, accel, pattern, calibration, seed, index)
            under = undersample(subject.kspace, mask)
            if function is None:
                image = dl_reconstruct(under, None, device=device, batch_planes=batch_planes, model=model)
            else:
                image = function(under)
            metrics = image_metrics(np.abs(image[0]), reference_magnitude, subject.brain)
            rows.append(
                {"subject": subject.name, "anatomy": subject.group, "rec": rec, "R": float(accel), **metrics}
            )
            log.info(
                "held-out %s %s R=%g: SSIM %.4f PSNR %.2f",
                subject.name,
                rec,
                accel,
                metrics["ssim"],
                metrics["psnr"],
            )
    return pd.DataFrame(rows)


def held_out_record(rows: pd.DataFrame, anatomy: int, reference: str) -> dict:
    """The manifest's held-out entries: every row of the fold and the seed-000 claim checked on it.

    ``leave_one_anatomy_out.rows`` carry ``fold_test_anatomy``, so the folds of one model can be
    pooled; ``acceptance`` compares mean SSIM of DL at R = 8 and 6 with CS at R = 4 (seed 000:
    DL at R = 8 at least as good as CS at R = 4, at R = 6 better), or says what is missing. For
    a super-resolution model (``dl_sr`` rows) it compares ``dl_sr`` with ``sense_lowres``, the
    CG-SENSE of the same low-resolution acquisition.
    """
    mean = rows.groupby(["rec", "R"])["ssim"].mean()

    def ssim(rec, accel):
        return float(mean[(rec, accel)]) if (rec, accel) in mean.index else None

    if ("dl_sr", 4.0) in mean.index:
        # Super-resolution: better than the conventional reconstruction of the same acquisition?
        sr, lowres = ssim("dl_sr", 4.0), ssim("sense_lowres", 4.0)
        acceptance = {"dl_sr_ssim": sr, "sense_lowres_ssim": lowres}
        if lowres is not None:
            acceptance["dl_sr_ssim_above_sense_lowres"] = sr > lowres
    else:
        # The claims of seed 000, as the workflow's held-out table checks them.
        acceptance, verdicts = {}, {}
        for R_dl, op, R_cs in SEED_000_CLAIMS:
            mine, base = ssim("dl", R_dl), ssim("cs", R_cs)
            acceptance[f"cs_R{R_cs:g}_ssim"], acceptance[f"dl_R{R_dl:g}_ssim"] = base, mine
            if mine is not None and base is not None:
                word = "at_least" if op == ">=" else "above"
                verdicts[f"dl_R{R_dl:g}_ssim_{word}_cs_R{R_cs:g}"] = claim_holds(mine, op, base)
        if len(verdicts) < len(SEED_000_CLAIMS):
            acceptance["note"] = "needs CS at R = 4 and DL at R = 6 and 8 in the evaluation"
        else:
            acceptance.update(verdicts)
    return {
        "leave_one_anatomy_out": {
            "reference": reference,
            "rows": rows.assign(fold_test_anatomy=int(anatomy)).to_dict(orient="records"),
        },
        "acceptance": acceptance,
    }


def fold_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean SSIM/PSNR per (held-out anatomy, rec, R)."""
    return rows.groupby(["anatomy", "rec", "R"], as_index=False)[["ssim", "psnr", "nrmse"]].mean()

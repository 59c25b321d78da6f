"""The QSM app: validated inputs → brain mask → TGV-QSM or the classic pipeline → χ (ppm)."""

from __future__ import annotations

import logging

import numpy as np

from reconstudy.qsm.classic import classic_qsm
from reconstudy.qsm.mask import brain_mask
from reconstudy.qsm.tgv import DEFAULT_ALPHA, tgv_qsm

log = logging.getLogger("reconstudy")

METHODS = ("tgv", "classic")
#: A phase whose robust range exceeds ±PHASE_LIMIT is not in radians.
PHASE_LIMIT = np.pi * 1.05


def check_phase_radians(phase, name: str = "phase") -> None:
    """Refuse a phase that is not wrapped radians (e.g. scanner units ±4096 or degrees)."""
    finite = np.asarray(phase)[np.isfinite(phase)]
    if finite.size == 0:
        raise ValueError(f"{name}: no finite values")
    lo, hi = float(finite.min()), float(finite.max())
    if lo < -PHASE_LIMIT or hi > PHASE_LIMIT:
        raise ValueError(
            f"{name}: values span [{lo:.4g}, {hi:.4g}], far outside ±π, so the phase is not in radians; "
            f"rescale it first (scanner units: phase * π / {max(abs(lo), abs(hi)):.6g}; degrees: * π/180)"
        )
    if hi - lo < 1e-3:
        raise ValueError(f"{name}: the phase is constant ({lo:.4g}); expected radians in (-π, π]")
    if max(abs(lo), abs(hi)) < 0.05 * np.pi:
        raise ValueError(
            f"{name}: values only span [{lo:.4g}, {hi:.4g}], far inside ±π; a wrapped phase in radians "
            f"fills (-π, π] — rescale from scanner units (e.g. phase * π / {max(abs(lo), abs(hi)):.6g})"
        )


def qsm(
    phase_rad,
    magnitude,
    mask,
    te_ms,
    b0_tesla: float,
    voxel_size_xyz,
    b0_direction_xyz=(0.0, 0.0, 1.0),
    method: str = "tgv",
    iterations: int | None = None,
    alpha=None,
    erosions: int | None = None,
    device: str = "cpu",
    return_mask: bool = False,
    **kwargs,
):
    """Susceptibility map (ppm) from multi-echo wrapped phase.

    Args:
        phase_rad: wrapped phase in radians, ``(echo, z, y, x)`` (3D for one echo).
        magnitude: magnitude ``(echo, z, y, x)`` (or 3D); used for the echo weights and, when
            ``mask`` is None, the brain mask (Otsu + morphology, :func:`brain_mask`).
        mask: brain mask ``(z, y, x)`` or None.
        te_ms: echo times in ms, one per echo.
        b0_tesla: main field strength (T).
        voxel_size_xyz: (dx, dy, dz) mm.
        b0_direction_xyz: B0 unit vector in the voxel frame (x, y, z), e.g.
            ``Geometry.b0_direction``; oblique directions are supported.
        method: ``"tgv"`` (one-step TGV-QSM) or ``"classic"`` (Laplacian unwrapping, V-SHARP,
            PCG dipole inversion).
        iterations: TGV primal-dual iterations (default 1000) or classic CG iterations (50).
        alpha: TGV (α0, α1) in the Julia/QSMxT convention, or seed-003 values (> 1, e.g.
            (20, 30)), converted by ×1e-4 (see :func:`reconstudy.qsm.tgv.julia_alpha`).
        erosions: mask erosions (TGV default 3, classic default 1).
        device: ``"cpu"`` or ``"cuda"`` (TGV only; classic runs on the CPU).
        kwargs: passed to :func:`tgv_qsm` or :func:`classic_qsm`.

    Returns:
        χ in ppm, ``(z, y, x)`` float32, zero outside the final mask (and that mask if
        ``return_mask``).
    """
    if method not in METHODS:
        raise ValueError(f"QSM method must be one of {METHODS}, got {method!r}")
    phase = np.asarray(phase_rad, dtype=np.float32)
    if phase.ndim == 3:
        phase = phase[None]
    if phase.ndim != 4:
        raise ValueError(f"phase must be (echo, z, y, x), got shape {phase.shape}")
    te_ms = [float(t) for t in np.atleast_1d(te_ms)]
    if len(te_ms) != phase.shape[0]:
        raise ValueError(
            f"{len(te_ms)} echo times ({te_ms}) for {phase.shape[0]} phase echoes; give one TE per echo"
        )
    if any(t <= 0 for t in te_ms):
        raise ValueError(f"echo times must be positive (ms), got {te_ms}")
    if b0_tesla <= 0:
        raise ValueError(f"B0 must be positive (tesla), got {b0_tesla}")
    check_phase_radians(phase)
    if magnitude is not None:
        magnitude = np.asarray(magnitude, dtype=np.float32)
        if magnitude.ndim == 3:
            magnitude = magnitude[None]
        if magnitude.shape[1:] != phase.shape[1:] or magnitude.shape[0] not in (1, phase.shape[0]):
            raise ValueError(f"magnitude shape {magnitude.shape} does not match phase shape {phase.shape}")
        if magnitude.shape[0] == 1 and phase.shape[0] > 1:
            magnitude = np.broadcast_to(magnitude, phase.shape)
    if mask is None:
        if magnitude is None:
            raise ValueError("QSM needs a brain mask or a magnitude image to derive one")
        mask = brain_mask(magnitude)
    mask = np.asarray(mask) > 0
    if mask.shape != phase.shape[1:]:
        raise ValueError(f"mask shape {mask.shape} does not match the phase grid {phase.shape[1:]}")
    if not mask.any():
        raise ValueError("the brain mask is empty")
    phase = np.where(np.isfinite(phase), phase, 0.0).astype(np.float32)
    common = dict(magnitude=magnitude, return_mask=True)
    if method == "tgv":
        chi, final = tgv_qsm(
            phase,
            mask,
            te_ms,
            b0_tesla,
            voxel_size_xyz,
            b0_direction_xyz,
            alpha=DEFAULT_ALPHA if alpha is None else alpha,
            alpha_convention=kwargs.pop("alpha_convention", "auto"),
            iterations=1000 if iterations is None else int(iterations),
            erosions=3 if erosions is None else int(erosions),
            device=device,
            **common,
            **kwargs,
        )
    else:
        chi, final = classic_qsm(
            phase,
            mask,
            te_ms,
            b0_tesla,
            voxel_size_xyz,
            b0_direction_xyz,
            erosions=1 if erosions is None else int(erosions),
            iterations=50 if iterations is None else int(iterations),
            **common,
            **kwargs,
        )
    return (chi, final) if return_mask else chi

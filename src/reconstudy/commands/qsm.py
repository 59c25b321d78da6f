"""``reconstudy qsm``: susceptibility map (ppm) from multi-echo wrapped phase NIfTI images."""

from __future__ import annotations

import argparse
import logging

import numpy as np

log = logging.getLogger("reconstudy")

DESCRIPTION = """\
Compute a quantitative susceptibility map (χ in ppm) from a multi-echo gradient-echo phase.
PHASE is a 4D NIfTI (x, y, z, echo) of wrapped phase in radians; MAGNITUDE has the same grid
and gives the echo weights and, without --mask, the brain mask (Otsu threshold, largest
component, hole filling). Methods: 'tgv' = one-step TGV-QSM (Langkammer et al. 2015): the
Laplacian of the wrapped phase, background removal inside the eroded mask and TGV-regularised
dipole inversion in one primal-dual optimisation (PyTorch, CPU or CUDA); 'classic' =
Laplacian unwrapping, V-SHARP and a preconditioned-CG dipole inversion. The B0 direction comes
from the image affine (oblique slices are handled) unless --b0-direction is given. Inputs
whose echo count, grid or affine disagree, a phase that is not in radians and an empty mask
are refused, and nothing is written.
"""

EPILOG = """\
examples:
  reconstudy qsm --phase phase.nii.gz --magnitude mag.nii.gz --te 4,8,12 --b0 3 --out chi.nii.gz
  reconstudy qsm --phase ph.nii.gz --magnitude mag.nii.gz --mask brain.nii.gz --te 4,8,12 --b0 3 \\
      --method tgv --iterations 2500 --alpha 20,30 --device cuda --out chi.nii.gz
  reconstudy qsm --phase Phase.nii --magnitude Mag.nii --phase-scale 855.1 --te 4,8,12 --b0 3 \\
      --method classic --out chi_classic.nii.gz     # scanner units -> radians
"""


def _floats(text: str, name: str) -> list[float]:
    try:
        values = [float(v) for v in str(text).replace(" ", "").split(",") if v != ""]
    except ValueError as err:
        raise ValueError(f"{name}: expected comma-separated numbers, got {text!r}") from err
    if not values:
        raise ValueError(f"{name}: no values given")
    return values


def b0_direction_from_affine(affine) -> tuple[float, float, float]:
    """B0 (the scanner's superior axis, RAS z) expressed in the voxel frame (x, y, z)."""
    rot = np.asarray(affine, dtype=np.float64)[:3, :3]
    axes = rot / np.linalg.norm(rot, axis=0, keepdims=True)
    b = axes.T @ np.array([0.0, 0.0, 1.0])
    return tuple(float(v) for v in b / np.linalg.norm(b))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "qsm",
        help="susceptibility map (ppm) from multi-echo phase: TGV-QSM or a classic pipeline",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--phase", required=True, help="4D NIfTI (x, y, z, echo) of wrapped phase in radians")
    parser.add_argument("--magnitude", required=True, help="magnitude NIfTI on the same grid (3D or 4D)")
    parser.add_argument("--mask", help="brain mask NIfTI (non-zero = brain); default: from the magnitude")
    parser.add_argument(
        "--te", required=True, help="echo times in ms, comma-separated, one per echo (4,8,12)"
    )
    parser.add_argument("--b0", type=float, required=True, help="field strength in tesla")
    parser.add_argument(
        "--method", choices=("tgv", "classic"), default="tgv", help="QSM method (default tgv)"
    )
    parser.add_argument(
        "--iterations",
        type=int,
        help="TGV primal-dual iterations (default 1000) or classic CG iterations (50)",
    )
    parser.add_argument(
        "--alpha",
        help="TGV regularisation A0,A1: Julia/QSMxT convention (default 0.002,0.003), or seed-003 "
        "units when above 1 (20,30 = 0.002,0.003)",
    )
    parser.add_argument("--erosions", type=int, help="mask erosions (default: tgv 3, classic 1)")
    parser.add_argument(
        "--b0-direction", help="B0 unit vector in the voxel frame x,y,z (default: from the affine)"
    )
    parser.add_argument(
        "--phase-scale",
        type=float,
        default=1.0,
        help="multiply the phase by this factor first (scanner units to radians, e.g. pi/4096)",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (TGV; default cpu)")
    parser.add_argument("--mask-out", help="also write the final (eroded) mask here")
    parser.add_argument("--out", required=True, help="output χ map (ppm), NIfTI")
    parser.set_defaults(func=run)


def _check_grid(name, path, affine, ref_affine, shape, ref_shape):
    if tuple(shape) != tuple(ref_shape):
        raise ValueError(
            f"{path}: {name} grid {tuple(shape)} (z, y, x) differs from the phase grid {tuple(ref_shape)}"
        )
    if not np.allclose(affine, ref_affine, atol=1e-3):
        raise ValueError(
            f"{path}: {name} affine differs from the phase affine; resample it onto the phase grid"
        )


def run(args) -> int:
    from reconstudy.io.nifti import load_image, save_image, voxel_sizes
    from reconstudy.qsm.pipeline import qsm

    phase, affine = load_image(args.phase)
    if phase.ndim == 3:
        phase = phase[None]
    if phase.ndim != 4:
        raise ValueError(f"{args.phase}: expected a 4D phase (x, y, z, echo), got {phase.ndim} axes")
    phase = phase.astype(np.float32) * np.float32(args.phase_scale)
    te = _floats(args.te, "--te")
    if len(te) != phase.shape[0]:
        raise ValueError(
            f"--te gives {len(te)} echo times but {args.phase} has {phase.shape[0]} echoes; "
            "give one TE per echo"
        )
    magnitude, mag_affine = load_image(args.magnitude)
    if magnitude.ndim == 3:
        magnitude = magnitude[None]
    _check_grid("magnitude", args.magnitude, mag_affine, affine, magnitude.shape[1:], phase.shape[1:])
    if magnitude.shape[0] not in (1, phase.shape[0]):
        raise ValueError(f"{args.magnitude}: {magnitude.shape[0]} echoes, the phase has {phase.shape[0]}")
    mask = None
    if args.mask:
        mask, mask_affine = load_image(args.mask)
        if mask.ndim != 3:
            raise ValueError(f"{args.mask}: the mask must be 3D, got shape {mask.shape}")
        _check_grid("mask", args.mask, mask_affine, affine, mask.shape, phase.shape[1:])
        mask = mask > 0
        if not mask.any():
            raise ValueError(f"{args.mask}: the mask is empty (no non-zero voxel)")
    try:
        from reconstudy.qsm.pipeline import check_phase_radians

        check_phase_radians(phase, name=str(args.phase))
    except ValueError as err:
        raise ValueError(f"{err} (or pass --phase-scale)") from None
    alpha = _floats(args.alpha, "--alpha") if args.alpha else None
    if alpha is not None and len(alpha) != 2:
        raise ValueError(f"--alpha: expected two values A0,A1, got {args.alpha!r}")
    b0_dir = (
        _floats(args.b0_direction, "--b0-direction")
        if args.b0_direction
        else b0_direction_from_affine(affine)
    )
    if len(b0_dir) != 3 or np.linalg.norm(b0_dir) == 0:
        raise ValueError(f"--b0-direction: expected a non-zero vector x,y,z, got {args.b0_direction!r}")
    chi, final = qsm(
        phase,
        magnitude,
        mask,
        te,
        args.b0,
        voxel_sizes(affine),
        b0_dir,
        method=args.method,
        iterations=args.iterations,
        alpha=alpha,
        erosions=args.erosions,
        device=args.device,
        return_mask=True,
    )
    save_image(args.out, chi, affine)
    if args.mask_out:
        save_image(args.mask_out, final.astype(np.uint8), affine)
    log.info(
        "QSM (%s): χ in [%.3f, %.3f] ppm inside %d voxels -> %s",
        args.method,
        float(chi[final].min()),
        float(chi[final].max()),
        int(final.sum()),
        args.out,
    )
    return 0

"""``reconstudy mask``: write an undersampling mask as a boolean .npy over (ky, kz)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from reconstudy.io.atomic import atomic_path
from reconstudy.sampling import PATTERNS, create_pattern, low_resolution_mask

log = logging.getLogger("reconstudy")

DESCRIPTION = """\
Build a phase-encode undersampling mask and save it as a boolean NumPy array of shape (NY, NZ),
i.e. axes (ky, kz) as given on the command line. (The library and KSpace.sampling_mask use the
transposed (kz, ky) order; `reconstudy recon --mask` transposes it back.) Patterns: poisson
(variable-density Poisson disc), phyllotaxis (Cartesian golden-angle spiral, Mussard et al. 2020),
equispaced (fastMRI-style lines along ky, the same for every kz). A centred CALIB x CALIB box
(equispaced: CALIB lines) is fully sampled. The achieved acceleration is printed and is within
2 % of R; the same seed gives the same mask. With --low-resolution F, the mask is a
low-resolution acquisition for `reconstudy recon --method dl_sr`: the central 1/F of each axis
(R = F^2), undersampled further by a variable-density subset above that R (Poisson only).
"""

EPILOG = """\
examples:
  reconstudy mask --shape 256,192 --accel 4 --pattern poisson --calib 24 --seed 0 --out mask_R4.npy
  reconstudy mask --shape 320,1 --accel 4 --pattern equispaced --calib 26 --seed 1 --out eq.npy
  reconstudy mask --shape 88,72 --accel 8 --low-resolution 2 --calib 12 --out lowres_R8.npy
"""


def _shape(text: str) -> tuple[int, int]:
    try:
        ny, nz = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--shape must be NY,NZ (two integers), got {text!r}") from None
    return ny, nz


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "mask",
        help="write a Poisson-disc, phyllotaxis or equispaced undersampling mask (.npy)",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    parser.add_argument("--shape", required=True, help="NY,NZ: phase-encode matrix (ky first)")
    parser.add_argument("--accel", required=True, type=float, help="acceleration R >= 1")
    parser.add_argument(
        "--pattern", default="poisson", choices=PATTERNS, help="sampling pattern (default poisson)"
    )
    parser.add_argument("--calib", type=int, default=24, help="side of the fully sampled centre (default 24)")
    parser.add_argument(
        "--seed",
        type=int,
        nargs="+",
        default=[0],
        help="seed integers, e.g. CONFIG_SEED SUBJECT (R is appended)",
    )
    parser.add_argument(
        "--low-resolution",
        type=int,
        metavar="F",
        help="a low-resolution acquisition: the central 1/F of each axis (R = F^2), subsampled above",
    )
    parser.add_argument("--out", required=True, help="output .npy file")
    parser.set_defaults(func=run)


def run(args) -> int:
    ny, nz = _shape(args.shape)
    seed = [*args.seed, int(round(100 * args.accel))]
    if args.low_resolution:
        if args.pattern != "poisson":
            raise ValueError(
                "--low-resolution subsamples the centre with a Poisson-disc subset: use --pattern poisson"
            )
        mask = low_resolution_mask((nz, ny), args.accel, args.low_resolution, calib=args.calib, seed=seed)
        achieved, kind = mask.size / mask.sum(), f"low-resolution (1/{args.low_resolution} per axis)"
    else:
        pattern = create_pattern(args.pattern, (nz, ny), args.accel, calib=args.calib, seed=seed)
        mask, achieved, kind = pattern.mask, pattern.achieved_acceleration, args.pattern
    mask_yz = np.ascontiguousarray(mask.T)
    out = Path(args.out)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, mask_yz)
    print(
        f"{out}: {kind} mask (ky, kz) = {mask_yz.shape}, requested R = {args.accel:g}, "
        f"achieved R = {achieved:.4f}, {int(mask_yz.sum())} samples"
    )
    return 0

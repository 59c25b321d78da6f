"""``reconstudy recon``: zero-filled, SENSE, CS or DL reconstruction of raw k-space to NIfTI."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from reconstudy.io.nifti import save_image
from reconstudy.recon import METHODS, reconstruct
from reconstudy.recon.api import COIL_METHODS
from reconstudy.recon.cs import REGULARISERS

log = logging.getLogger("reconstudy")

DESCRIPTION = """\
Reconstruct raw k-space (ISMRMRD or any format `reconstudy convert` reads) with zero-filling
(zf: coils combined with ESPIRiT sensitivities), CG-SENSE (sense), compressed sensing (cs:
L1-wavelet, FISTA) or a trained network (dl: the shipped MoDL, or --model PATH, a model written
by `reconstudy train-dl`; CPU or --device cuda; dl_sr: a low-resolution acquisition, mask from
`reconstudy mask --low-resolution 2`, reconstructed by the dl network and super-resolved 2x by
--sr-model, default the shipped one) and write the magnitude image as NIfTI with the
data's affine (echoes on the 4th axis). With --mask, the k-space is first undersampled
retrospectively by that mask (a boolean (ky, kz) .npy from `reconstudy mask`); without it the
data are used as acquired. 3D data are
solved plane by plane along the readout, so memory stays bounded. Nothing is written on error
(mask of the wrong shape, NaN in the k-space, unreadable input).
"""

EPILOG = """\
examples:
  reconstudy mask --shape 192,160 --accel 8 --out m8.npy
  reconstudy recon --method cs --kspace sub-01_T1w.h5 --mask m8.npy --lam 0.004 --out cs_R8.nii.gz
  reconstudy recon --method cs --regulariser wavelet3d --kspace sub-01_T1w.h5 --mask m8.npy --out cs3d.nii.gz
  reconstudy recon --method sense --kspace sub-01_T1w.h5 --out sense.nii.gz
  reconstudy recon --method dl --kspace sub-01_T1w.h5 --mask m8.npy --out dl_R8.nii.gz
  reconstudy recon --method dl --model my_model.pt --device cuda --kspace raw.h5 --out dl.nii.gz
  reconstudy mask --shape 88,72 --accel 8 --low-resolution 2 --calib 12 --out lr8.npy
  reconstudy recon --method dl_sr --kspace sub-01_T1w.h5 --mask lr8.npy --out dl_sr_R8.nii.gz
"""

DL_METHODS = ("dl", "dl_sr")
SHIPPED_MODEL = ("models", "modl_t1w.pt")  # under resources/
SHIPPED_SR_MODEL = ("models", "sr_t1w.pt")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "recon",
        help="reconstruct k-space (zf, sense, cs, dl, dl_sr) to a magnitude NIfTI",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    parser.add_argument(
        "--method", required=True, choices=(*METHODS, *DL_METHODS), help="reconstruction method"
    )
    parser.add_argument("--kspace", required=True, help="raw k-space file (ISMRMRD .h5, ...)")
    parser.add_argument("--mask", help="boolean (ky, kz) .npy mask to undersample with first")
    parser.add_argument("--lam", type=float, help="regularisation weight (sense: Tikhonov; cs: L1)")
    parser.add_argument("--iterations", type=int, help="maximum solver iterations")
    parser.add_argument("--tol", type=float, help="stopping tolerance")
    parser.add_argument(
        "--regulariser",
        default="wavelet",
        choices=REGULARISERS,
        help="cs penalty: wavelet (2D per plane, default), wavelet3d (3D over consecutive readout "
        "positions; 3D encodings only, multi-slice data keep the 2D wavelet) or tv",
    )
    parser.add_argument(
        "--coil-method",
        default="espirit",
        choices=COIL_METHODS,
        help="coil sensitivities from the calibration region: espirit (default; one 3D (kz, ky, kx) "
        "calibration per volume for 3D encodings, one per slice for multi-slice data), espirit3d, "
        "espirit2d (one calibration per readout plane) or lowres (low-resolution coil images)",
    )
    parser.add_argument(
        "--coil-compression",
        type=int,
        metavar="V",
        help="compress the coils to V virtual coils (principal components of the calibration) before "
        "the coil maps are estimated: faster for 32+ coil arrays (docs/reconstruction.md)",
    )
    parser.add_argument(
        "--device", default="cpu", choices=("cpu", "cuda"), help="cuda: torch for dl, cupy for sense/cs"
    )
    parser.add_argument(
        "--model",
        default=None,
        help="dl: trained model (.pt + .json manifest; default the shipped resources/models/modl_t1w.pt)",
    )
    parser.add_argument(
        "--sr-model",
        default=None,
        help="dl_sr: trained 2x super-resolution model (default the shipped resources/models/sr_t1w.pt)",
    )
    parser.add_argument(
        "--batch-planes", type=int, default=8, help="dl: readout planes per network call (bounds memory)"
    )
    parser.add_argument("--out", required=True, help="output NIfTI (.nii or .nii.gz)")
    parser.set_defaults(func=run)


def read_kspace(path):
    """The project's reader for any raw format, or the ISMRMRD reader where that is all there is."""
    try:
        from reconstudy.io.readers import read_kspace as reader
    except ImportError:  # pragma: no cover - older checkouts
        from reconstudy.io.ismrmrd_io import read_ismrmrd as reader
    return reader(path)


def apply_mask(kspace, mask_path):
    """Undersample ``kspace`` with a (ky, kz) mask file; the result's mask is the intersection."""
    mask_path = Path(mask_path)
    if not mask_path.exists():
        raise FileNotFoundError(f"{mask_path}: no such mask file")
    try:
        mask_yz = np.load(mask_path, allow_pickle=False)
    except ValueError as err:
        raise ValueError(f"{mask_path}: not a readable .npy mask ({err})") from None
    nz, ny = kspace.data.shape[2:4]
    if mask_yz.ndim != 2 or mask_yz.shape != (ny, nz):
        raise ValueError(
            f"{mask_path}: mask shape {mask_yz.shape} does not match the k-space phase encodes "
            f"(ky, kz) = {(ny, nz)}; make it with `reconstudy mask --shape {ny},{nz} ...`"
        )
    if mask_yz.dtype != bool:
        raise ValueError(f"{mask_path}: mask must be boolean, got {mask_yz.dtype}")
    mask = mask_yz.T & kspace.sampling_mask
    data = kspace.data * mask[None, None, :, :, None]
    return replace(kspace, data=data, sampling_mask=mask)


def _model_path(given, shipped, option):
    from reconstudy.resources import resource_path

    model = Path(given) if given else resource_path(*shipped)
    if not model.exists():
        raise FileNotFoundError(f"{model}: no such DL model ({option}: a .pt written by reconstudy train-dl)")
    return model


def _dl_image(kspace, args):
    """The trained network's image; its coil maps come from the same estimator as SENSE and CS."""
    from reconstudy.recon.api import estimate_coil_maps
    from reconstudy.recon.dl import dl_reconstruct
    from reconstudy.recon.dl.inference import dl_sr_reconstruct
    from reconstudy.recon.dl.io import load_model

    model = _model_path(args.model, SHIPPED_MODEL, "--model")
    sr_model = _model_path(args.sr_model, SHIPPED_SR_MODEL, "--sr-model") if args.method == "dl_sr" else None
    maps = estimate_coil_maps(kspace, coil_method=args.coil_method, coil_compression=args.coil_compression)
    if sr_model is None:
        return dl_reconstruct(
            kspace, model, device=args.device, batch_planes=args.batch_planes, coil_maps=maps
        )
    boost, _ = load_model(model, device=args.device)
    sharp, _ = load_model(sr_model, device=args.device)
    return dl_sr_reconstruct(kspace, boost, sharp, args.device, args.batch_planes, coil_maps=maps)


def run(args) -> int:
    kspace = read_kspace(args.kspace)
    if args.mask:
        kspace = apply_mask(kspace, args.mask)
    log.info("%s: R = %.3f, %s reconstruction", args.kspace, kspace.acceleration, args.method)
    if args.method in DL_METHODS:
        image = _dl_image(kspace, args)
    else:
        image = reconstruct(
            kspace,
            args.method,
            lam=args.lam,
            iterations=args.iterations,
            tol=args.tol,
            device=args.device,
            regulariser=args.regulariser,
            coil_method=args.coil_method,
            coil_compression=args.coil_compression,
        )
    magnitude = np.abs(image)
    # save_image takes (..., z, y, x): a leading echo axis becomes NIfTI's 4th axis.
    volume = magnitude[0] if magnitude.shape[0] == 1 else magnitude
    save_image(args.out, volume, kspace.geometry.affine)
    print(f"{args.out}: {args.method} reconstruction, R = {kspace.acceleration:.3f}, shape {volume.shape}")
    return 0

"""``reconstudy convert``: raw k-space in any supported format → ISMRMRD, or a quick-look NIfTI."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from reconstudy.io.readers import FORMATS

log = logging.getLogger("reconstudy")

DESCRIPTION = """\
Read raw k-space (ISMRMRD .h5, fastMRI .h5, Siemens twix .dat, BART .cfl/.hdr) into ReconStudy's
canonical form: complex64 (echo, coil, kz, ky, kx) plus geometry (matrix, voxel size, affine, TE
list, B0). Write it as an ISMRMRD HDF5 dataset (OUTPUT ending in .h5), which every workflow step
reads, or as a root-sum-of-squares (RSS) magnitude NIfTI image with the geometry's affine
(OUTPUT ending in .nii or .nii.gz; echoes on the 4th axis) to check orientation and content.
Unacquired k-space stays zero, so undersampled input gives an aliased image. Nothing is
written when the input is unreadable.
"""

EPILOG = """\
examples:
  reconstudy convert meas_MID00042_gre.dat sub-01_mGRE.h5
  reconstudy convert file_brain_AXT2_200_6002217.h5 axt2.nii.gz --acquisition T2w
  reconstudy convert kspace --format cfl kspace.h5      # BART kspace.cfl + kspace.hdr
  reconstudy convert gre.dat gre.nii.gz --keep-oversampling
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert raw k-space (ISMRMRD, fastMRI, twix, BART) to ISMRMRD or a magnitude NIfTI",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", metavar="INPUT", help="raw data file (for BART: the base name or the .cfl)")
    parser.add_argument(
        "output",
        metavar="OUTPUT",
        help="ISMRMRD file (.h5) or root-sum-of-squares magnitude image (.nii, .nii.gz)",
    )
    parser.add_argument(
        "--format",
        choices=("auto", *FORMATS),
        default="auto",
        help="input format; 'auto' (default) decides from the suffix and the HDF5 datasets",
    )
    parser.add_argument(
        "--acquisition",
        metavar="NAME",
        help="acquisition name stored in the output (e.g. T1w, mGRE); default: from the input",
    )
    parser.add_argument(
        "--keep-oversampling",
        action="store_true",
        help="keep a 2x oversampled readout (twix, fastMRI, ISMRMRD) instead of cropping it to the FOV",
    )
    parser.set_defaults(func=run)


def rss_image(kspace) -> np.ndarray:
    """Root-sum-of-squares magnitude ``(echo, z, y, x)`` of (possibly zero-filled) k-space."""
    from reconstudy.fourier import ifftc

    axes = (-3, -2, -1) if kspace.encoding == "3d" else (-2, -1)
    images = ifftc(kspace.data, axes=axes)
    return np.sqrt((np.abs(images) ** 2).sum(axis=1)).astype(np.float32)


def convert(
    input_path,
    output_path,
    *,
    format: str = "auto",
    acquisition: str | None = None,
    remove_oversampling: bool = True,
) -> Path:
    """Library form of the command: read ``input_path``, write ``output_path``; returns the output."""
    from reconstudy.io.ismrmrd_io import write_ismrmrd
    from reconstudy.io.nifti import save_image
    from reconstudy.io.readers import read_kspace

    output_path = Path(output_path)
    name = output_path.name.lower()
    is_nifti = name.endswith(".nii") or name.endswith(".nii.gz")
    if not is_nifti and not name.endswith((".h5", ".hdf5", ".mrd")):
        raise ValueError(
            f"{output_path}: unknown output type; end OUTPUT in .h5 (ISMRMRD) or .nii/.nii.gz (image)"
        )
    kspace = read_kspace(input_path, format=format, remove_oversampling=remove_oversampling)
    if acquisition:
        kspace = replace(kspace, acquisition=acquisition)
    log.info(
        "%s: %d echoes x %d coils x (kz, ky, kx) %s, %s, acceleration %.2f",
        input_path,
        kspace.n_echoes,
        kspace.n_coils,
        kspace.data.shape[2:],
        kspace.encoding,
        kspace.acceleration,
    )
    if is_nifti:
        image = rss_image(kspace)
        save_image(output_path, image[0] if image.shape[0] == 1 else image, kspace.geometry.affine)
    else:
        write_ismrmrd(output_path, kspace)
    return output_path


def run(args) -> int:
    output = convert(
        args.input,
        args.output,
        format=args.format,
        acquisition=args.acquisition,
        remove_oversampling=not args.keep_oversampling,
    )
    print(output)
    return 0

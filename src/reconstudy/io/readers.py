"""One entry point for raw k-space in any supported format: detection and dispatch.

``read_kspace(path)`` looks at the file (suffix, HDF5 signature, datasets inside) and hands it to
the matching reader, which returns the canonical :class:`~reconstudy.io.kspace.KSpace`:
complex64 ``(echo, coil, kz, ky, kx)`` plus geometry. The format modules import the small
checks defined here; this module imports them lazily, so there is no import cycle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reconstudy.io.kspace import KSpace

FORMATS = ("ismrmrd", "fastmri", "twix", "cfl")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def require_finite(data: np.ndarray, path, what: str = "k-space", fix: str | None = None) -> None:
    """Raise ``ValueError`` naming ``path`` when ``data`` holds NaN or infinite samples."""
    finite = np.isfinite(data)
    if not finite.all():
        bad = int(data.size - np.count_nonzero(finite))
        fix = fix or (
            "the file is corrupt or was written from a failed computation; re-export it from the "
            "scanner or the tool that produced it"
        )
        raise ValueError(f"{path}: {what} holds {bad} of {data.size} samples that are NaN or infinite; {fix}")


def require_exists(path) -> Path:
    """Return ``path`` as a :class:`Path`, raising ``FileNotFoundError`` if it does not exist."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such raw-data file; check the path (or the subjects sheet)")
    return path


def is_hdf5(path) -> bool:
    """True when the file starts with the HDF5 signature (superblock at offset 0)."""
    with open(path, "rb") as handle:
        return handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE


def _cfl_base(path: Path) -> Path | None:
    """The BART base name for ``path`` if it names a .cfl/.hdr pair (or either half of one)."""
    if path.suffix in (".cfl", ".hdr"):
        return path.with_suffix("")
    if path.with_name(path.name + ".cfl").exists() or path.with_name(path.name + ".hdr").exists():
        return path
    return None


def detect_format(path) -> str:
    """Guess the raw-data format of ``path``: one of :data:`FORMATS`.

    Rules: a BART ``.cfl``/``.hdr`` pair (or its base name) is ``cfl``; an HDF5 file with a
    ``dataset/xml`` header is ``ismrmrd``; an HDF5 file with a ``kspace`` dataset is ``fastmri``;
    a ``.dat`` file is Siemens ``twix``. Anything else raises ``ValueError`` saying how to fix it.
    """
    path = Path(path)
    base = _cfl_base(path)
    if base is not None:
        return "cfl"
    require_exists(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not a raw-data file")
    if is_hdf5(path):
        from reconstudy.io.ismrmrd_io import open_hdf5

        with open_hdf5(path) as h5:
            if "dataset" in h5 and "xml" in h5["dataset"]:
                return "ismrmrd"
            if "kspace" in h5:
                return "fastmri"
            keys = sorted(h5.keys())
        raise ValueError(
            f"{path}: HDF5 file without the expected datasets (found top-level {keys}); an ISMRMRD "
            "file needs 'dataset/xml' and 'dataset/data', a fastMRI file needs 'kspace' and "
            "'ismrmrd_header'. Convert it to one of these layouts first."
        )
    if path.suffix.lower() == ".dat":
        return "twix"
    if path.suffix.lower() in (".h5", ".hdf5", ".mrd"):
        raise ValueError(
            f"{path}: named like HDF5 but is not an HDF5 file (no HDF5 signature; truncated at the "
            "start or a different format). Re-copy or re-export the file."
        )
    raise ValueError(
        f"{path}: unknown raw-data format; supported are ISMRMRD/fastMRI HDF5 (.h5), Siemens twix "
        "(.dat) and BART (.cfl/.hdr). Rename the file with the right suffix or pass --format."
    )


def read_kspace(path, format: str = "auto", **options) -> KSpace:
    """Read raw k-space of any supported format into the canonical :class:`KSpace`.

    Args:
        path: the file (for BART, the base name or either file of the pair).
        format: ``"auto"`` (see :func:`detect_format`) or one of :data:`FORMATS`.
        **options: passed to the format's reader, e.g. ``remove_oversampling=False`` (ISMRMRD,
            fastMRI, twix; ignored for BART), ``n_echoes=3`` (twix), ``voxel_size_mm=(1, 1, 2)`` (cfl).

    Returns:
        The canonical k-space with geometry, sampling mask and (where the file has noise
        scans) the noise covariance.
    """
    if format == "auto":
        format = detect_format(path)
    if format == "ismrmrd":
        from reconstudy.io.ismrmrd_io import read_ismrmrd as reader
    elif format == "fastmri":
        from reconstudy.io.fastmri import read_fastmri as reader
    elif format == "twix":
        from reconstudy.io.twix import read_twix_kspace as reader
    elif format == "cfl":
        from reconstudy.io.cfl import read_bart_kspace as reader

        options.pop("remove_oversampling", None)  # BART arrays record no readout oversampling
    else:
        raise ValueError(f"unknown raw-data format {format!r}; choose one of auto, {', '.join(FORMATS)}")
    return reader(path, **options)


# --- helpers shared by the format readers -------------------------------------------------------

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0])  # DICOM/ISMRMRD/Siemens patient frame <-> NIfTI RAS+


def estimate_noise_covariance(scans: list[np.ndarray], path) -> np.ndarray | None:
    """Sample coil covariance Σ̂ = X Xᴴ / N from noise scans, each ``(coil, samples)``.

    Returns ``None`` without scans. The estimate has relative error ~ 1/√N per entry.
    """
    if not scans:
        return None
    samples = np.concatenate([np.asarray(s, np.complex128) for s in scans], axis=1)
    require_finite(samples, path, what="noise scan data")
    return (samples @ samples.conj().T / samples.shape[1]).astype(np.complex64)


def crop_readout_oversampling(data: np.ndarray, factor: int = 2) -> np.ndarray:
    """Remove readout oversampling: to image space along kx, keep the central 1/factor, back.

    The readout is the last axis; the result has ``nx // factor`` samples and the same k-space
    scaling convention (centred orthonormal FFT, so noise variance per sample is unchanged).
    """
    from reconstudy.fourier import fftc, ifftc

    nx = data.shape[-1]
    keep = nx // factor
    start = nx // 2 - keep // 2
    image = ifftc(data, axes=(-1,))[..., start : start + keep]
    return fftc(image, axes=(-1,)).astype(np.complex64)


def affine_from_directions(position_lps, directions_lps, voxel_size_mm, matrix, encoding="3d"):
    """Voxel-to-RAS affine and voxel-frame B0 direction from scanner position and directions.

    Args:
        position_lps: centre of the slab (3D) or of the first slice (2D), LPS mm.
        directions_lps: 3x3 with columns read (x), phase (y), slice (z) unit vectors in LPS.
        voxel_size_mm: ``(dx, dy, dz)``.
        matrix: ``(nx, ny, nz)``.
        encoding: ``"3d"`` or ``"2d"``.

    Returns:
        ``(affine, b0_direction)``, or ``(None, None)`` when the directions are not orthonormal
        (e.g. not recorded). B0 is along the scanner's z (head-foot) axis.
    """
    dirs = LPS_FROM_RAS @ np.asarray(directions_lps, float)
    if not np.allclose(dirs.T @ dirs, np.eye(3), atol=1e-3):
        return None, None
    linear = dirs * np.asarray(voxel_size_mm, float)
    nx, ny, nz = matrix
    centre = np.array([(nx - 1) / 2, (ny - 1) / 2, (nz - 1) / 2 if encoding == "3d" else 0.0])
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = LPS_FROM_RAS @ np.asarray(position_lps, float) - linear @ centre
    return affine, tuple(dirs.T @ np.array([0.0, 0.0, 1.0]))

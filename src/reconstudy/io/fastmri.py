"""fastMRI-style HDF5 files: 2D multi-slice k-space with an ISMRMRD XML header.

A fastMRI file (Zbontar et al. 2018) holds ``kspace`` with shape ``(slices, coils, height,
width)`` (multi-coil) or ``(slices, height, width)`` (single-coil), the ISMRMRD XML header as the
``ismrmrd_header`` dataset, optionally a 1D ``mask`` over ``width`` and the attribute
``acquisition``. In the released data ``height`` is the readout (2x oversampled: encoded x = 640
for a 320 recon matrix) and ``width`` is the phase encoding, matching the header's encoded
``x`` and ``y``; files whose last two axes are (phase, readout) are recognised from the header.

Mapping to canonical ``(echo, coil, kz, ky, kx)``: one echo, ``kz`` = slice (already in image
space, ``encoding="2d"``), ``ky`` = phase encoding (``width``), ``kx`` = readout. With
``remove_oversampling`` (default) a readout of exactly twice the recon matrix is cropped to the
recon field of view in image space; the phase axis keeps its encoded size (fastMRI's 368-wide
knee data stay 368 wide: crop images, not k-space, to reach 320). Voxel size is the encoded
field of view over the encoded matrix (``z``: the encoded ``z`` FOV, i.e. slice thickness); the
header carries no orientation, so the grid is axial and centred on the origin.

References:
    Zbontar J et al. fastMRI: An open dataset and benchmarks for accelerated MRI.
    arXiv:1811.08839, 2018.
"""

from __future__ import annotations

import logging

import numpy as np

from reconstudy.io.ismrmrd_io import GYROMAGNETIC_HZ_PER_T, open_hdf5, parse_ismrmrd_header
from reconstudy.io.kspace import Geometry, KSpace
from reconstudy.io.readers import crop_readout_oversampling, require_exists, require_finite

log = logging.getLogger("reconstudy")


def _readout_last(shape_hw, info, mask_len) -> bool:
    """True when the last axis is the readout (phase, readout order) rather than fastMRI's."""
    height, width = shape_hw
    enc_x, enc_y = info.encoded_matrix[:2]
    if (height, width) == (enc_x, enc_y) and height != width:
        return False
    if (height, width) == (enc_y, enc_x) and height != width:
        return True
    if mask_len is not None and mask_len == height and height != width:
        return True
    return False


def read_fastmri(path, *, remove_oversampling: bool = True) -> KSpace:
    """Read a fastMRI-style HDF5 file into canonical k-space (``encoding="2d"``).

    Args:
        path: the ``.h5`` file.
        remove_oversampling: crop a readout that is exactly 2x the recon matrix to the recon FOV.

    Returns:
        ``KSpace`` with one echo, slices on the kz axis, the sampling mask from ``mask`` (or from
        the non-zero phase-encode lines when the file has none) and no noise covariance.
    """
    path = require_exists(path)
    with open_hdf5(path) as h5:
        if "kspace" not in h5 or "ismrmrd_header" not in h5:
            raise ValueError(
                f"{path}: not a fastMRI file (needs the HDF5 datasets 'kspace' and 'ismrmrd_header'; "
                f"found {sorted(h5.keys())}). Convert it to ISMRMRD or fastMRI layout first."
            )
        try:
            kspace = np.asarray(h5["kspace"][()])
            xml = h5["ismrmrd_header"][()]
            mask = np.asarray(h5["mask"][()]) if "mask" in h5 else None
        except (OSError, RuntimeError) as err:
            raise ValueError(f"{path}: datasets cannot be read ({err}); the file is damaged") from err
        acquisition = h5.attrs.get("acquisition", None)
    if isinstance(xml, np.ndarray):
        xml = xml.ravel()[0]
    info = parse_ismrmrd_header(xml, path)
    if kspace.ndim == 3:
        kspace = kspace[:, None]
    if kspace.ndim != 4:
        raise ValueError(
            f"{path}: 'kspace' has shape {kspace.shape}; expected (slices, coils, readout, phase) "
            "or (slices, readout, phase)"
        )
    if not np.iscomplexobj(kspace):
        raise ValueError(f"{path}: 'kspace' is {kspace.dtype}, expected complex k-space samples")
    require_finite(kspace, path)
    mask_len = None if mask is None else mask.size
    if not _readout_last(kspace.shape[2:], info, mask_len):
        kspace = kspace.swapaxes(2, 3)  # -> (slices, coils, phase, readout)
    data = kspace.transpose(1, 0, 2, 3)[None].astype(np.complex64)
    ns, ny = data.shape[2], data.shape[3]
    if mask is not None:
        if mask.size != ny:
            raise ValueError(
                f"{path}: 'mask' has {mask.size} entries but k-space has {ny} phase-encode lines"
            )
        sampling = np.broadcast_to(mask.ravel().astype(bool), (ns, ny)).copy()
        data *= sampling[None, None, :, :, None]
    else:
        sampling = np.abs(data).sum(axis=(0, 1, 4)) > 0
    recon_x = info.recon_matrix[0]
    if remove_oversampling and recon_x and data.shape[-1] == 2 * recon_x:
        data = crop_readout_oversampling(data)
    geometry = _geometry(info, data.shape, path)
    name = acquisition.decode() if isinstance(acquisition, bytes) else acquisition
    return KSpace(data, geometry, name or info.protocol_name or "fastMRI", None, sampling, "2d")


def _geometry(info, shape, path) -> Geometry:
    nz, ny, nx = shape[2:]
    (fx, fy, fz), (ex, ey, _) = info.encoded_fov, info.encoded_matrix
    voxel = (fx / ex if fx and ex else 1.0, fy / ey if fy and ey else 1.0, fz or 1.0)
    if voxel == (1.0, 1.0, 1.0) and not fx:
        log.warning("%s: no field of view in the header; assuming 1 mm voxels", path)
    b0 = info.field_strength_t or (info.h1_frequency_hz or 0) / GYROMAGNETIC_HZ_PER_T or 3.0
    return Geometry.centred((nx, ny, nz), voxel, b0_tesla=b0, echo_times_ms=info.te_ms[:1])

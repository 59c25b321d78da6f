"""Split canonical k-space into independent 2D problems ("planes") and put the results back.

3D Cartesian data ``(echo, coil, kz, ky, kx)`` are undersampled only in (kz, ky); the readout kx
is fully sampled, so after an inverse FFT along kx every readout position x is an independent
(kz, ky) problem. Multi-slice data (``encoding == "2d"``) already hold slices along the kz axis;
each slice is a (ky, kx) problem whose mask row is constant along kx.

Memory model: the k-space volume is read, never copied. A *slab* of ``slab`` planes is
extracted at a time (one inverse FFT along kx of the whole echo, in chunks of kz, of which only
the slab's columns are kept), and solvers work on batches inside the slab. Peak memory beyond
the input and the output image is therefore ``O(slab * C * n1 * n2)``, independent of nx.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reconstudy.fourier import ifftc

CHUNK_BYTES = 64 * 2**20  # size of the kx-FFT chunks while extracting a slab


@dataclass(frozen=True)
class PlaneLayout:
    """How the volume splits into planes.

    Attributes:
        encoding: ``"3d"`` (planes are readout positions x, plane axes (kz, ky)) or ``"2d"``
            (planes are slices z, plane axes (ky, kx)).
        n_planes: number of planes.
        plane_shape: ``(n1, n2)`` of one plane.
    """

    encoding: str
    n_planes: int
    plane_shape: tuple[int, int]

    @classmethod
    def of(cls, data_shape, encoding) -> PlaneLayout:
        nz, ny, nx = data_shape[-3:]
        if encoding == "3d":
            return cls("3d", nx, (nz, ny))
        return cls("2d", nz, (ny, nx))


def extract_slab(echo_data, layout: PlaneLayout, start: int, stop: int, whitening=None) -> np.ndarray:
    """Centred plane k-space ``(B, C, n1, n2)`` for planes ``start:stop`` of one echo ``(C, kz, ky, kx)``."""
    n_coils = echo_data.shape[0]
    n1, n2 = layout.plane_shape
    slab = np.empty((stop - start, n_coils, n1, n2), dtype=np.complex64)
    if layout.encoding == "2d":
        slab[...] = np.transpose(echo_data[:, start:stop], (1, 0, 2, 3))
    else:
        nz, ny, nx = echo_data.shape[1:]
        rows = max(1, CHUNK_BYTES // max(ny * nx * 8, 1))
        for coil in range(n_coils):
            for z0 in range(0, nz, rows):
                hybrid = ifftc(echo_data[coil, z0 : z0 + rows], axes=(-1,))
                slab[:, coil, z0 : z0 + rows] = np.moveaxis(hybrid[..., start:stop], -1, 0)
    if whitening is not None:
        slab = np.einsum("dc,bcij->bdij", whitening, slab, optimize=True).astype(np.complex64, copy=False)
    return slab


def slab_mask(mask_zy, layout: PlaneLayout, start: int, stop: int) -> np.ndarray:
    """Sampling mask of planes ``start:stop``, broadcastable to ``(B, C, n1, n2)`` (centred)."""
    if layout.encoding == "3d":
        return mask_zy[None, None]
    return mask_zy[start:stop, None, :, None]


def slab_maps(coil_maps_czyx, layout: PlaneLayout, start: int, stop: int) -> np.ndarray:
    """User-given maps ``(C, z, y, x)`` of planes ``start:stop`` as ``(B, C, n1, n2)`` (centred)."""
    if layout.encoding == "3d":
        return np.moveaxis(coil_maps_czyx[..., start:stop], -1, 0)
    return np.moveaxis(coil_maps_czyx[:, start:stop], 1, 0)


def put_planes(image_zyx, layout: PlaneLayout, start: int, stop: int, planes) -> None:
    """Write centred plane images ``(B, n1, n2)`` into the ``(z, y, x)`` volume."""
    if layout.encoding == "3d":
        image_zyx[:, :, start:stop] = np.moveaxis(planes, 0, -1)
    else:
        image_zyx[start:stop] = planes


def calibration_size(mask_zy, layout: PlaneLayout, limit: int = 32) -> tuple[int, int]:
    """Largest centred fully sampled box of the plane masks (capped at ``limit``)."""
    if layout.encoding == "2d":
        lines = mask_zy.all(axis=0)  # ky lines acquired in every slice
        centre, width = lines.size // 2, 0
        while (
            width < min(limit, lines.size)
            and lines[centre - (width + 1) // 2 : centre + (width + 2) // 2].all()
        ):
            width += 1
        return width, min(max(width, 24), layout.plane_shape[1], limit)
    n1, n2 = mask_zy.shape
    if not mask_zy[n1 // 2, n2 // 2]:
        return 0, 0
    c1 = c2 = 1
    grown = True
    while grown:
        grown = False
        for axis in (0, 1):
            t1, t2 = (c1 + 1, c2) if axis == 0 else (c1, c2 + 1)
            if t1 > min(n1, limit) or t2 > min(n2, limit):
                continue
            box = mask_zy[
                n1 // 2 - t1 // 2 : n1 // 2 - t1 // 2 + t1, n2 // 2 - t2 // 2 : n2 // 2 - t2 // 2 + t2
            ]
            if box.size and box.all():
                c1, c2, grown = t1, t2, True
    return c1, c2


def finite_check(data, label="k-space") -> None:
    """Raise ``ValueError`` if ``data`` holds NaN or inf (checked per coil to bound memory)."""
    flat = data.reshape(-1, *data.shape[-3:])
    for i in range(flat.shape[0]):
        if not np.isfinite(flat[i]).all():
            raise ValueError(
                f"{label} contains NaN or inf values (volume {i} of {flat.shape[0]}); the raw data "
                f"are corrupt or were converted wrongly: re-convert or exclude them"
            )


def echo_scale(echo_data) -> float:
    """RMS image intensity estimate ``||y|| / sqrt(n_voxels)`` (unitary FFT), computed per coil."""
    total = 0.0
    for coil in range(echo_data.shape[0]):
        vol = echo_data[coil]
        total += float(np.vdot(vol.ravel(), vol.ravel()).real)
    n_vox = int(np.prod(echo_data.shape[1:]))
    return float(np.sqrt(total / max(n_vox, 1))) or 1.0

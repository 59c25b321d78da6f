"""The magnetic dipole kernel linking susceptibility to the field it induces.

For a susceptibility distribution χ (ppm) in a field B0 along unit vector b̂, the relative
field perturbation (ppm) is, in k-space,

    δ(k) = D(k) χ(k),   D(k) = 1/3 - (k·b̂)² / |k|²,   D(0) = 0,

the Lorentz-sphere-corrected kernel (Salomir et al., Concepts Magn Reson B 2003;
Marques & Bowtell, Concepts Magn Reson B 2005). Frequencies are physical (cycles/mm), so
anisotropic voxels are handled exactly.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

GYROMAGNETIC_RATIO_HZ_PER_T = 42.576e6  # proton γ/2π


def dipole_kernel(shape_zyx, voxel_size_xyz, b0_direction_xyz=(0.0, 0.0, 1.0), dtype=np.float32):
    """Dipole kernel D(k) on an unshifted FFT grid of ``shape_zyx`` (axes z, y, x).

    Args:
        shape_zyx: grid shape (nz, ny, nx).
        voxel_size_xyz: voxel size (dx, dy, dz) in mm.
        b0_direction_xyz: B0 direction in the voxel frame (x, y, z); normalised here.

    Returns:
        Real array of ``shape_zyx`` to multiply with ``numpy.fft.fftn`` of χ.
    """
    nz, ny, nx = shape_zyx
    dx, dy, dz = voxel_size_xyz
    b = np.asarray(b0_direction_xyz, dtype=np.float64)
    b = b / np.linalg.norm(b)
    kz = sfft.fftfreq(nz, d=dz)[:, None, None]
    ky = sfft.fftfreq(ny, d=dy)[None, :, None]
    kx = sfft.fftfreq(nx, d=dx)[None, None, :]
    k_dot_b = kx * b[0] + ky * b[1] + kz * b[2]
    k2 = kx**2 + ky**2 + kz**2
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = 1.0 / 3.0 - k_dot_b**2 / k2
    kernel[0, 0, 0] = 0.0
    return kernel.astype(dtype)


def dipole_field(chi_zyx, voxel_size_xyz, b0_direction_xyz=(0.0, 0.0, 1.0), pad: int | None = None):
    """Field perturbation (ppm) induced by ``chi_zyx`` (ppm), by k-space multiplication.

    The volume is zero-padded by ``pad`` voxels per side (default: half of each dimension) so
    that the periodic FFT convolution does not wrap fields from one side to the other.
    """
    chi = np.asarray(chi_zyx, dtype=np.float32)
    if pad is None:
        pad_width = [(n // 2, n // 2) for n in chi.shape]
    else:
        pad_width = [(pad, pad)] * 3
    padded = np.pad(chi, pad_width)
    kernel = dipole_kernel(padded.shape, voxel_size_xyz, b0_direction_xyz)
    field = sfft.ifftn(kernel * sfft.fftn(padded, workers=-1), workers=-1).real
    crop = tuple(slice(p[0], p[0] + n) for p, n in zip(pad_width, chi.shape))
    return field[crop].astype(np.float32)


def ppm_to_radians(field_ppm, te_ms, b0_tesla):
    """Phase (rad) accumulated at echo time ``te_ms`` by a field offset in ppm."""
    return 2 * np.pi * GYROMAGNETIC_RATIO_HZ_PER_T * b0_tesla * 1e-6 * np.asarray(field_ppm) * te_ms * 1e-3

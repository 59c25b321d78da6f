"""Field perturbation of the simulated head: local (brain χ) plus background (everything else).

The total relative field (ppm) is the dipole kernel applied to the whole head's χ,
δ = D ⊛ χ (see :mod:`reconstudy.dipole`). Split by the brain mask M:

    local      δ_L = D ⊛ (M χ)                     χ relative to water/CSF, zero outside M
    background δ_B = D ⊛ ((1 - M) χ) + const       air, bone, fat, blood ... outside the brain

The background is computed with air as the reference (χ - 9.4 ppm in tissue, 0 in air, the
brain counting as water), on a grid enlarged by a margin around the image so that the head
outside the field of view contributes, with zero padding that then means "air" — so the
padding is physically right. The constant is irrelevant because D(0) = 0. Finally a
low-order polynomial fitted inside the brain is removed from δ_B, as the scanner's shim does
(Marques et al., MRM 2021, simulate a 2nd-order shim the same way).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from reconstudy.dipole import dipole_field
from reconstudy.phantom.tissue import AIR_CHI_PPM


def local_field(chi_brain_ppm, voxel_xyz, b0_direction_xyz) -> np.ndarray:
    """δ_L = D ⊛ χ (ppm) of the brain χ, zero-padded by half the grid on each side."""
    return dipole_field(chi_brain_ppm, voxel_xyz, b0_direction_xyz)


def background_source(labels, chi_lut, intracranial_lut) -> np.ndarray:
    """Air-referenced χ (ppm) of the head for the background field: tissue χ - 9.4, air 0, brain -9.4."""
    chi = (chi_lut[labels] - AIR_CHI_PPM).astype(np.float32)
    chi[intracranial_lut[labels]] = -AIR_CHI_PPM
    chi[labels == 0] = 0.0
    return chi


def background_field(
    labels_ext, chi_lut, intracranial_lut, voxel_xyz, b0_direction_xyz, smoothing_voxels: float = 1.0
) -> np.ndarray:
    """δ_B (ppm) on the enlarged grid; padded by a quarter of its largest side (air beyond).

    The air-referenced source has ~9.4 ppm steps at the head's surfaces. Sampled on a coarse
    grid and convolved with the k-space dipole kernel, such a step rings (Gibbs) deep into the
    brain, and that ringing is not harmonic: Laplacian-based QSM reads it as tissue χ (at 3 mm
    its Laplacian four voxels inside the brain equalled the tissue field's). A real field is
    smooth at the voxel scale, so the source is band-limited first by a Gaussian of
    ``smoothing_voxels`` (σ in voxels; 0 disables it).
    """
    source = background_source(labels_ext, chi_lut, intracranial_lut)
    if smoothing_voxels > 0:
        source = ndimage.gaussian_filter(source, smoothing_voxels)
    pad = max(labels_ext.shape) // 4
    return dipole_field(source, voxel_xyz, b0_direction_xyz, pad=pad)


def harmonic_basis(shape_zyx, order: int, voxel_xyz=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Solid spherical harmonics up to ``order`` (<= 3) over the grid, scaled to about [-1, 1].

    Shim coils produce fields that satisfy Laplace's equation, so a shimmed background field
    stays harmonic inside the brain; a plain monomial basis (x², y², z²) would not, and would
    leave a residual that Laplacian-based QSM reads as tissue.
    """
    if not 0 <= order <= 3:
        raise ValueError(f"phantom.shim_order must be between 0 and 3, got {order}")
    axes = [(np.arange(n, dtype=np.float64) - (n - 1) / 2) * v for n, v in zip(shape_zyx, voxel_xyz[::-1])]
    half = max(max(abs(a[0]) for a in axes), 1e-9)
    z, y, x = np.meshgrid(*(a / half for a in axes), indexing="ij")
    r2 = x**2 + y**2
    by_order = [
        [np.ones(shape_zyx)],
        [x, y, z],
        [x * y, x * z, y * z, x**2 - y**2, 2 * z**2 - r2],
        [
            x**3 - 3 * x * y**2,
            3 * x**2 * y - y**3,
            z * (x**2 - y**2),
            x * y * z,
            x * (4 * z**2 - r2),
            y * (4 * z**2 - r2),
            z * (2 * z**2 - 3 * r2),
        ],
    ]
    return np.stack([term for terms in by_order[: order + 1] for term in terms])


def shim(field, mask, order: int, voxel_xyz=(1.0, 1.0, 1.0)) -> np.ndarray:
    """``field`` minus its least-squares fit by shim harmonics up to ``order`` inside ``mask``."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return field
    basis = harmonic_basis(field.shape, order, voxel_xyz)
    coeffs, *_ = np.linalg.lstsq(basis[:, mask].T, field[mask].astype(np.float64), rcond=None)
    fit = np.tensordot(coeffs, basis, axes=(0, 0))
    return (field - fit).astype(np.float32)

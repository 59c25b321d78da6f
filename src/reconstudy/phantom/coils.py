"""Receive coil sensitivities (Biot-Savart loops) and correlated receiver noise.

Sensitivities: circular loops on an elliptic cylinder around the head (axis along z, two
staggered rings). The field of each loop, B = sum over segments dl x (r - r_s) / |r - r_s|^3
(Biot-Savart, constants dropped), is evaluated on a coarse grid and interpolated with cubic
splines; the receive sensitivity is taken as B_x - i B_y (the circularly polarised component
seen by the receiver, Hoult, Concepts Magn Reson 2000). Maps are normalised so that
sum_c |S_c|^2 = 1 at every voxel, so a sum-of-squares or SENSE combination of noise-free
coil images returns the image itself.

Noise: complex Gaussian with a Hermitian positive-definite coil covariance Σ, added in
k-space; an orthonormal FFT leaves white noise white with the same Σ in image space
(Roemer et al., MRM 1990; Pruessmann et al., MRM 1999).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

from reconstudy.phantom.anatomy import world_grid


def _loop_positions(n_coils, semi_axes_mm, ring_z_mm):
    rings = 2
    per_ring = int(np.ceil(n_coils / rings))
    coils = []
    for c in range(n_coils):
        ring, k = divmod(c, per_ring)
        angle = 2 * np.pi * (k + 0.5 * ring) / per_ring
        centre = np.array([semi_axes_mm[0] * np.cos(angle), semi_axes_mm[1] * np.sin(angle), ring_z_mm[ring]])
        normal = np.array([np.cos(angle) / semi_axes_mm[0], np.sin(angle) / semi_axes_mm[1], 0.0])
        coils.append((centre, normal / np.linalg.norm(normal)))
    return coils


def _loop_field(points, centre, normal, radius_mm, n_segments=24):
    """Biot-Savart field (3, N) of a circular loop at ``points`` (3, N)."""
    u = np.cross(normal, [0.0, 0.0, 1.0])
    u = u / np.linalg.norm(u) if np.linalg.norm(u) > 0 else np.array([1.0, 0.0, 0.0])
    v = np.cross(normal, u)
    t = np.linspace(0, 2 * np.pi, n_segments + 1)
    ring = centre[:, None] + radius_mm * (np.cos(t)[None] * u[:, None] + np.sin(t)[None] * v[:, None])
    field = np.zeros_like(points)
    for s in range(n_segments):
        dl = ring[:, s + 1] - ring[:, s]
        mid = 0.5 * (ring[:, s + 1] + ring[:, s])
        r = points - mid[:, None]
        dist3 = np.maximum(np.sum(r * r, axis=0), 1.0) ** 1.5
        field += np.cross(dl[:, None], r, axis=0) / dist3
    return field


def _spline_matrix(n_coarse, n_fine, step):
    """(n_fine, n_coarse) cubic-spline interpolation from every ``step``-th sample to all samples."""
    spline = CubicSpline(np.arange(n_coarse) * step, np.eye(n_coarse), axis=0)
    return spline(np.arange(n_fine))


def coil_sensitivities(geometry, n_coils: int, coarse_mm: float = 10.0) -> np.ndarray:
    """Normalised complex sensitivities (coil, z, y, x), complex64, sum_c |S_c|^2 = 1."""
    nx, ny, nz = geometry.matrix
    voxel = np.asarray(geometry.voxel_size_mm)
    fov = np.asarray(geometry.fov_mm)
    step = np.maximum(np.floor(coarse_mm / voxel), 1).astype(int)  # (x, y, z) in voxels
    coarse_shape = tuple(int(np.ceil((n - 1) / s)) + 1 for n, s in zip((nz, ny, nx), step[::-1]))
    coarse_affine = geometry.affine @ np.diag([*step, 1.0])
    points = world_grid(coarse_affine, coarse_shape).reshape(3, -1).astype(np.float64)
    semi_axes = 0.55 * fov[:2]
    loops = _loop_positions(n_coils, semi_axes, ring_z_mm=(-0.12 * fov[2], 0.12 * fov[2]))
    radius = 0.3 * min(fov[0], fov[1])
    coarse = np.empty((n_coils, *coarse_shape), dtype=np.complex128)
    for c, (centre, normal) in enumerate(loops):
        b = _loop_field(points, centre, normal, radius)
        coarse[c] = (b[0] - 1j * b[1]).reshape(coarse_shape)
    maps = coarse
    for axis, (n, st) in enumerate(zip((nz, ny, nx), step[::-1])):
        maps = np.moveaxis(
            np.tensordot(_spline_matrix(coarse_shape[axis], n, st), maps, axes=(1, axis + 1)), 0, axis + 1
        )
    maps = maps.astype(np.complex64)
    maps /= np.sqrt(np.sum(np.abs(maps) ** 2, axis=0, keepdims=True))
    return maps


def noise_covariance(n_coils: int, correlation: float, rng) -> np.ndarray:
    """Hermitian positive-definite coil noise covariance with unit mean variance.

    Σ = D^1/2 R D^1/2 with R = (1 - ρ) I + ρ W, where W = U U^H (unit diagonal) couples
    coils through a few smooth angular modes (neighbours correlate most) with random phases,
    ρ is chosen so that the mean |R_ij| (i != j) equals ``correlation``, and D holds coil
    variances within +-20 %.
    """
    angles = 2 * np.pi * np.arange(n_coils) / n_coils
    modes = np.stack([np.exp(1j * m * angles) * (1.0 / (1 + m)) for m in range(3)], axis=1)
    modes = modes * np.exp(1j * rng.uniform(0, 2 * np.pi, size=(n_coils, 1)))
    w = modes @ modes.conj().T
    d = np.sqrt(np.real(np.diag(w)))
    w = w / np.outer(d, d)
    off = ~np.eye(n_coils, dtype=bool)
    rho = min(correlation / np.abs(w[off]).mean(), 0.95) if correlation > 0 else 0.0
    r = (1 - rho) * np.eye(n_coils) + rho * w
    variances = rng.uniform(0.8, 1.2, size=n_coils)
    cov = np.sqrt(np.outer(variances, variances)) * r
    cov /= np.real(np.trace(cov)) / n_coils
    return (0.5 * (cov + cov.conj().T)).astype(np.complex128)


def add_noise(kspace, covariance, rng) -> np.ndarray:
    """``kspace`` (echo, coil, ...) plus complex Gaussian noise with E[n n^H] = covariance."""
    chol = (np.linalg.cholesky(covariance) * np.sqrt(0.5)).astype(np.complex64)
    shape = kspace.shape
    # interleaved float32 pairs viewed as complex64: real and imaginary parts each N(0, 1/2)
    white = rng.standard_normal((shape[0], shape[1], 2 * int(np.prod(shape[2:]))), dtype=np.float32)
    coloured = np.matmul(chol, white.view(np.complex64))
    coloured = coloured.reshape(shape)
    coloured += kspace
    return coloured

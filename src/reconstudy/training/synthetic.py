"""Small synthetic multi-coil volumes (random ellipsoids, smooth coils) for tests and smoke runs.

These are not the study's phantom (:mod:`reconstudy.phantom`); they exist so the DL code can be
tested in seconds without it.
"""

from __future__ import annotations

import numpy as np

from reconstudy.fourier import fftc
from reconstudy.io.kspace import Geometry, KSpace


def ellipsoid_volume(shape_zyx, rng: np.random.Generator, n_ellipsoids: int = 8) -> np.ndarray:
    """A piecewise-constant complex volume: a head-like ellipsoid with random inner ellipsoids."""
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape_zyx], indexing="ij")
    z, y, x = grids
    head = (x / 0.8) ** 2 + (y / 0.9) ** 2 + (z / 0.8) ** 2 <= 1
    volume = head * 0.6
    for _ in range(n_ellipsoids):
        centre = rng.uniform(-0.45, 0.45, 3)
        axes = rng.uniform(0.08, 0.35, 3)
        inside = sum(((g - c) / a) ** 2 for g, c, a in zip(grids, centre, axes)) <= 1
        volume = np.where(inside & head, rng.uniform(0.1, 1.0), volume)
    phase = np.exp(1j * np.pi * 0.3 * (0.5 * x + 0.3 * y - 0.2 * z))
    return (volume * phase).astype(np.complex64)


def coil_maps(shape_zyx, n_coils: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth coil sensitivities ``(coil, z, y, x)`` around the volume, normalised to RSS 1."""
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape_zyx], indexing="ij")
    maps = []
    for c in range(n_coils):
        angle = 2 * np.pi * c / n_coils + rng.uniform(-0.2, 0.2)
        centre = np.array([rng.uniform(-0.5, 0.5), 1.5 * np.sin(angle), 1.5 * np.cos(angle)])
        dist2 = sum((g - p) ** 2 for g, p in zip(grids, centre))
        phase = np.exp(1j * (angle + 0.5 * grids[2] * np.cos(angle)))
        maps.append(np.exp(-dist2 / 2.0) * phase)
    maps = np.stack(maps)
    return (maps / np.sqrt((np.abs(maps) ** 2).sum(axis=0, keepdims=True))).astype(np.complex64)


def synthetic_kspace(
    shape_zyx=(24, 28, 16), n_coils: int = 4, seed: int = 0, noise: float = 0.0
) -> tuple[KSpace, np.ndarray]:
    """Fully sampled synthetic :class:`KSpace` (one echo) and its magnitude truth ``(z, y, x)``."""
    rng = np.random.default_rng([seed, 7])
    image = ellipsoid_volume(shape_zyx, rng)
    coils = coil_maps(shape_zyx, n_coils, rng) * image[None]
    data = fftc(coils, axes=(-3, -2, -1))
    if noise > 0:
        data = data + noise * (rng.standard_normal(data.shape) + 1j * rng.standard_normal(data.shape))
    nz, ny, nx = shape_zyx
    geometry = Geometry.centred((nx, ny, nz), (2.5, 2.5, 2.5), echo_times_ms=(3.0,))
    return KSpace(data[None].astype(np.complex64), geometry, acquisition="T1w"), np.abs(image)

"""A small numerical QSM phantom with known χ, for tests, benchmarks and examples.

An ellipsoidal "brain" (χ = 0 ppm) holding spheres and ellipsoids of known χ (deep-grey-like
+0.05…+0.15 ppm, a -0.05 ppm white-matter-like ellipsoid), plus a strongly paramagnetic source
*outside* the brain (air/bone-like, +9 ppm difference) whose field inside the brain is a
harmonic background that the QSM methods must remove. The multi-echo GRE phase follows
``reconstudy.dipole`` (``φ = 2π γ B0 TE δ``), with Gaussian noise of standard deviation
``noise/m`` on the phase (m the magnitude), and is wrapped to (-π, π].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reconstudy.dipole import dipole_field, ppm_to_radians


@dataclass
class QSMPhantom:
    chi: np.ndarray  # true χ (ppm) of the tissue, (z, y, x), zero outside the brain
    labels: np.ndarray  # int labels (0 background, 1 brain, 2.. inclusions)
    brain: np.ndarray  # bool brain mask
    phase: np.ndarray  # wrapped phase (echo, z, y, x), radians
    magnitude: np.ndarray  # (echo, z, y, x)
    te_ms: tuple
    b0_tesla: float
    voxel_size_xyz: tuple
    b0_direction_xyz: tuple


def _ellipsoid(grid, centre, radii):
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1.0


def make_phantom(
    shape_zyx=(48, 56, 56),
    voxel_size_xyz=(1.0, 1.0, 1.0),
    te_ms=(4.0, 8.0, 12.0),
    b0_tesla: float = 3.0,
    b0_direction_xyz=(0.0, 0.0, 1.0),
    noise: float = 0.01,
    background: bool = True,
    seed: int = 0,
) -> QSMPhantom:
    """Build the phantom (see module docstring); positions scale with the grid (in mm)."""
    rng = np.random.default_rng([seed, 3003])
    dx, dy, dz = voxel_size_xyz
    nz, ny, nx = shape_zyx
    z = (np.arange(nz) - nz / 2 + 0.5) * dz
    y = (np.arange(ny) - ny / 2 + 0.5) * dy
    x = (np.arange(nx) - nx / 2 + 0.5) * dx
    grid = np.meshgrid(z, y, x, indexing="ij")
    ext = np.array([nz * dz, ny * dy, nx * dx]) / 2  # half extents (mm)
    brain = _ellipsoid(grid, (0, 0, 0), 0.62 * ext)
    labels = brain.astype(np.int16)
    chi = np.zeros(shape_zyx, dtype=np.float32)
    inclusions = [  # (centre as fraction of half extent, radii fraction, χ ppm)
        ((0.0, 0.22, 0.22), (0.14, 0.12, 0.12), 0.15),
        ((0.0, 0.22, -0.22), (0.14, 0.12, 0.12), 0.10),
        ((0.18, -0.2, 0.0), (0.12, 0.12, 0.2), 0.05),
        ((-0.22, -0.05, 0.0), (0.12, 0.3, 0.12), -0.05),
    ]
    for label, (c, r, value) in enumerate(inclusions, start=2):
        region = _ellipsoid(grid, np.array(c) * ext, np.array(r) * ext) & brain
        chi[region] = value
        labels[region] = label
    source = np.zeros_like(chi)
    if background:  # an air/bone-like block below and in front of the brain
        source[_ellipsoid(grid, (-0.85 * ext[0], 0.7 * ext[1], 0.0), 0.2 * ext)] = 9.0
    field = dipole_field(chi + source, voxel_size_xyz, b0_direction_xyz)
    t2s = 40.0
    head = _ellipsoid(grid, (0, 0, 0), 0.8 * ext)
    phases, mags = [], []
    for te in te_ms:
        mag = np.where(head, 1.0, 0.02).astype(np.float32) * np.float32(np.exp(-te / t2s))
        phi = ppm_to_radians(field, te, b0_tesla) + rng.standard_normal(chi.shape) * noise / np.maximum(
            mag, 1e-3
        )
        phases.append(np.angle(np.exp(1j * phi)).astype(np.float32))
        mags.append(mag)
    return QSMPhantom(
        chi=chi,
        labels=labels,
        brain=brain,
        phase=np.stack(phases),
        magnitude=np.stack(mags),
        te_ms=tuple(te_ms),
        b0_tesla=b0_tesla,
        voxel_size_xyz=tuple(voxel_size_xyz),
        b0_direction_xyz=tuple(b0_direction_xyz),
    )

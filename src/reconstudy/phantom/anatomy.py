"""Subject anatomy: a shipped whole-head label map, deformed, scaled and resampled in world space.

The label maps (``resources/anatomy/training_seg_0{1,2,3}.nii.gz``) are stored LIA; every step
here works in RAS+ millimetres through the affines, so orientation never has to be guessed:
a grid point at world position ``r`` takes the label found at

    p(r) = c + (r + u(r)) / s

in the source map, where ``c`` is the centre of the source brain (so the brain sits at the
centre of the field of view), ``s`` the subject's global size scaling and ``u`` a smooth
random displacement field (nearest-neighbour lookup, label 0 outside the map).
"""

from __future__ import annotations

import functools
from pathlib import Path

import nibabel as nib
import numpy as np

N_ANATOMIES = 3
# Cerebrum and cerebellum: their bounding box defines the brain centre used for the crop.
_CENTRING_LABELS = (2, 3, 7, 8, 41, 42, 46, 47)


def anatomy_path(anatomy_dir, anatomy) -> Path:
    """Label map of anatomy ``1..N_ANATOMIES`` (an int or an integer string, as read from the sheet)."""
    try:
        value = float(str(anatomy).strip())
        number = int(value) if value.is_integer() else None
    except ValueError:
        number = None
    if number is None or not 1 <= number <= N_ANATOMIES:
        raise ValueError(
            f"anatomy must be an integer 1..{N_ANATOMIES} (sheet column 'anatomy'), got {anatomy!r}"
        )
    anatomy = number
    path = Path(anatomy_dir) / f"training_seg_{int(anatomy):02d}.nii.gz"
    if not path.exists():
        raise FileNotFoundError(f"{path}: anatomy label map not found (set phantom.anatomy_dir)")
    return path


@functools.lru_cache(maxsize=4)
def load_label_map(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label map in its stored voxel order, its voxel-to-RAS affine, and the brain centre (RAS mm)."""
    image = nib.load(path)
    labels = np.asarray(image.dataobj).astype(np.int16)
    labels.setflags(write=False)
    affine = image.affine.astype(np.float64)
    inside = np.isin(labels, _CENTRING_LABELS)
    corners = np.array(
        [
            np.argwhere(inside.any(axis=tuple(a for a in range(3) if a != ax))).ravel()[[0, -1]]
            for ax in range(3)
        ]
    )  # (axis, [first, last]) voxel indices
    centre_voxel = corners.mean(axis=1)
    centre = affine[:3, :3] @ centre_voxel + affine[:3, 3]
    return labels, affine, centre


def random_displacement(rng, amplitude_mm: float, n_modes: int = 8, wavelength_mm=(60.0, 160.0)):
    """A smooth random displacement field u(r) as a sum of plane-wave modes.

    u(r) = sum_k a_k sin(2 pi f_k . r + phi_k), with random directions, wavelengths in
    ``wavelength_mm`` and amplitudes scaled so that the RMS of |u| is ``amplitude_mm``. Being
    analytic, the same subject gets the same anatomy at any matrix or voxel size.

    Returns:
        Callable mapping world points (3, ...) in mm to displacements (3, ...) in mm.
    """
    directions = rng.normal(size=(n_modes, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    freqs = (directions / rng.uniform(*wavelength_mm, size=(n_modes, 1))).astype(np.float32)
    phases = rng.uniform(0, 2 * np.pi, size=n_modes)
    amps = rng.normal(size=(n_modes, 3))
    rms = np.sqrt((amps**2).sum() / 2)  # E[sin^2] = 1/2
    amps *= amplitude_mm / rms if rms > 0 else 0.0

    def displacement(points):
        out = np.zeros_like(points)
        for f, phi, a in zip(freqs, phases, amps):
            wave = np.sin(np.float32(2 * np.pi) * np.tensordot(f, points, axes=(0, 0)) + np.float32(phi))
            out += a.astype(np.float32).reshape((3,) + (1,) * (points.ndim - 1)) * wave
        return out

    return displacement


def world_grid(affine: np.ndarray, shape_zyx) -> np.ndarray:
    """World (RAS mm) coordinates (3, z, y, x) of every voxel of a (z, y, x) grid."""
    z, y, x = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape_zyx), indexing="ij")
    ijk = np.stack([x, y, z])
    a = affine.astype(np.float32)
    return np.tensordot(a[:3, :3], ijk, axes=(1, 0)) + a[:3, 3].reshape(3, 1, 1, 1)


def resample_labels(path, grid_affine, shape_zyx, scale: float, displacement) -> np.ndarray:
    """Deformed, scaled label map on a (z, y, x) grid; int16, label 0 outside the source map."""
    labels, src_affine, centre = load_label_map(str(path))
    points = world_grid(grid_affine, shape_zyx)
    points = (points + displacement(points)) / scale + centre.reshape(3, 1, 1, 1).astype(np.float32)
    inv = np.linalg.inv(src_affine).astype(np.float32)
    ijk = np.tensordot(inv[:3, :3], points, axes=(1, 0)) + inv[:3, 3].reshape(3, 1, 1, 1)
    del points
    idx = np.rint(ijk).astype(np.int32)
    inside = np.all((idx >= 0) & (idx < np.array(labels.shape).reshape(3, 1, 1, 1)), axis=0)
    out = np.zeros(shape_zyx, dtype=np.int16)
    out[inside] = labels[idx[0][inside], idx[1][inside], idx[2][inside]]
    return out

"""NIfTI images with correct affines, written atomically.

Library arrays are ``(z, y, x)`` (optionally with leading axes such as echo); NIfTI stores
``(x, y, z, ...)``. These two functions are the only place that transposes.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

from reconstudy.io.atomic import atomic_path


def _to_nifti_order(volume: np.ndarray) -> np.ndarray:
    """(..., z, y, x) -> (x, y, z, ...)."""
    volume = np.asarray(volume)
    spatial = volume.ndim - 3
    if spatial < 0:
        raise ValueError(f"an image needs at least 3 axes (z, y, x); got shape {volume.shape}")
    order = [volume.ndim - 1, volume.ndim - 2, volume.ndim - 3, *range(spatial)]
    return np.transpose(volume, order)


def _from_nifti_order(volume: np.ndarray) -> np.ndarray:
    """(x, y, z, ...) -> (..., z, y, x)."""
    extra = volume.ndim - 3
    order = [*range(3, 3 + extra), 2, 1, 0]
    return np.transpose(volume, order)


def save_image(path, volume: np.ndarray, affine: np.ndarray, *, intent: str | None = None):
    """Write a real-valued ``(..., z, y, x)`` array as NIfTI-1 with ``affine``, atomically.

    Complex images are refused: store magnitude and phase separately.
    """
    volume = np.asarray(volume)
    if np.iscomplexobj(volume):
        raise TypeError(f"{path}: NIfTI output must be real; write magnitude and phase separately")
    if volume.dtype == np.float64:
        volume = volume.astype(np.float32)
    if volume.dtype == bool:
        volume = volume.astype(np.uint8)
    image = nib.Nifti1Image(np.ascontiguousarray(_to_nifti_order(volume)), np.asarray(affine, float))
    image.header.set_xyzt_units("mm", "sec")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    if intent:
        image.header.set_intent(intent)
    path = Path(path)
    with atomic_path(path) as tmp:
        nib.save(image, str(tmp))
    return path


def load_image(path) -> tuple[np.ndarray, np.ndarray]:
    """Read a NIfTI file as a ``(..., z, y, x)`` array and its voxel-to-RAS affine."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such image")
    try:
        image = nib.load(str(path))
        data = np.asarray(image.dataobj)
    except Exception as err:  # nibabel raises several types for corrupt files
        raise ValueError(f"{path}: not a readable NIfTI image ({err})") from err
    if data.ndim < 3:
        raise ValueError(f"{path}: expected a 3D (or 4D) image, got shape {data.shape}")
    return _from_nifti_order(data), image.affine


def voxel_sizes(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel edge lengths (x, y, z) in mm from an affine."""
    return tuple(float(v) for v in np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0)))


def write_sidecar(path, kspace, **extra):
    """BIDS-like JSON sidecar of an image reconstructed from ``kspace``: what QSM and reports need.

    Keys follow BIDS where one exists (``EchoTime`` in seconds, ``MagneticFieldStrength`` in T).
    """
    geometry = kspace.geometry
    content = {
        "EchoTime": [t / 1000.0 for t in geometry.echo_times_ms],
        "MagneticFieldStrength": geometry.b0_tesla,
        "B0DirectionVoxel": list(geometry.b0_direction),
        "VoxelSizeMM": list(geometry.voxel_size_mm),
        "Acquisition": kspace.acquisition,
        "AccelerationAchieved": kspace.acceleration,
        **extra,
    }
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(content, indent=2, default=str))


def save_reconstruction(paths, image: np.ndarray, kspace, **sidecar) -> None:
    """Write a complex reconstruction as magnitude and phase NIfTI plus its JSON sidecar.

    Args:
        paths: mapping with ``mag``, ``phase`` and ``sidecar`` paths.
        image: complex ``(echo, z, y, x)``; a single echo is written as a 3D volume.
        kspace: the data it was reconstructed from (affine and sidecar fields).
        sidecar: extra sidecar keys (method, model, options...).
    """
    if image.shape[0] == 1:
        image = image[0]
    save_image(paths["mag"], np.abs(image), kspace.geometry.affine)
    save_image(paths["phase"], np.angle(image), kspace.geometry.affine)
    write_sidecar(paths["sidecar"], kspace, **sidecar)


def read_sidecar(path) -> dict:
    """Read a sidecar written by :func:`write_sidecar` (echo times back in ms)."""
    path = Path(path)
    try:
        content = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: unreadable JSON sidecar ({err})") from err
    content["echo_times_ms"] = [t * 1000.0 for t in content.get("EchoTime", [])]
    return content

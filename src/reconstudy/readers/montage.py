"""Reading montages: radiological orientation, per-subject windowing, PNG rendering.

A reader sees every case of one subject with the same grey-level window and the same slice
positions, so the only visible difference between two cases is the reconstruction itself. The
PNG is written with Pillow and carries no text chunks, so nothing but pixels leaves this module.

Display conventions (radiological, as a PACS shows them): the volume is first reoriented to
the closest LPS+ voxel axes (i → patient left, j → posterior, k → superior), then

* axial: patient right on the image left, anterior at the top;
* coronal: patient right on the image left, superior at the top;
* sagittal: anterior on the image left, superior at the top.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel.orientations as nio
import numpy as np
from PIL import Image, ImageDraw

from reconstudy.io.atomic import atomic_path

# Panels are scaled so their longer side has about this many pixels: small simulated volumes
# (64³) become readable, large ones (384²) stay at native size.
PANEL_SIZE_PX = 384
ROI_COLOUR = (255, 210, 0)


def lps_canonical(volume_zyx: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorient a library ``(z, y, x)`` volume to the closest LPS+ axes, in ``(i, j, k)`` order.

    Only axis permutations and flips are applied (no resampling); an oblique acquisition stays
    oblique in the returned affine, which now maps the new ``(i, j, k)`` indices to RAS+ mm.

    Args:
        volume_zyx: real array ``(z, y, x)``.
        affine: 4x4 voxel-to-RAS+ matrix for the library's ``(x, y, z)`` indices.

    Returns:
        ``(volume_ijk, affine_ijk)`` with ``volume_ijk`` indexed ``[i, j, k]``.
    """
    volume = np.asarray(volume_zyx)
    if volume.ndim != 3:
        raise ValueError(f"a reading volume must be 3D (z, y, x); got shape {volume.shape}")
    affine = np.asarray(affine, dtype=float)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise ValueError(f"the affine must be a finite 4x4 matrix; got {affine!r}")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise ValueError("the affine is singular: check the voxel sizes of the image")
    xyz = np.transpose(volume, (2, 1, 0))
    transform = nio.ornt_transform(nio.io_orientation(affine), nio.axcodes2ornt(("L", "P", "S")))
    reoriented = nio.apply_orientation(xyz, transform)
    new_affine = affine @ nio.inv_ornt_aff(transform, xyz.shape)
    return np.ascontiguousarray(reoriented), new_affine


@dataclass(frozen=True)
class Window:
    """A grey-level window ``[low, high]`` mapped to black..white."""

    low: float
    high: float

    @classmethod
    def from_volumes(cls, volumes, percentiles=(0.5, 99.5)) -> Window:
        """A window covering the given percentiles of all voxels of ``volumes`` pooled.

        Pooling every case of a subject gives one window per subject, so no method is shown
        brighter or darker than another by the display alone.
        """
        values = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in volumes])
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise ValueError("cannot choose a display window: the volumes contain no finite voxel")
        low, high = np.percentile(values, percentiles)
        if not high > low:
            high = low + 1.0
        return cls(float(low), float(high))

    @classmethod
    def value_range(cls, volumes) -> Window:
        """The full finite range ``[min, max]`` of ``volumes`` (an array or a list of arrays)."""
        arrays = [volumes] if isinstance(volumes, np.ndarray) else list(volumes)
        lows, highs = [], []
        for v in arrays:
            finite = np.asarray(v)[np.isfinite(v)]
            if finite.size:
                lows.append(float(finite.min()))
                highs.append(float(finite.max()))
        if not lows:
            raise ValueError("cannot choose a value range: the volumes contain no finite voxel")
        low, high = min(lows), max(highs)
        return cls(low, high if high > low else low + 1.0)

    def to_uint8(self, image: np.ndarray) -> np.ndarray:
        scaled = (np.nan_to_num(np.asarray(image, float), nan=self.low) - self.low) / (self.high - self.low)
        return np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)


def _orthogonal_views(vol_ijk: np.ndarray, centre_ijk) -> dict[str, np.ndarray]:
    """Axial, coronal and sagittal slices through ``centre_ijk`` in radiological display order."""
    i, j, k = (int(c) for c in centre_ijk)
    return {
        "axial": vol_ijk[:, :, k].T,
        "coronal": vol_ijk[:, j, ::-1].T,
        "sagittal": vol_ijk[i, :, ::-1].T,
    }


def _view_spacing(spacing_ijk) -> dict[str, tuple[float, float]]:
    """(row, column) pixel spacing of each view in mm."""
    si, sj, sk = spacing_ijk
    return {"axial": (sj, si), "coronal": (sk, si), "sagittal": (sk, sj)}


def _panel(image_u8: np.ndarray, spacing_rc, size_px: int) -> Image.Image:
    """Resize a slice so pixels are square in mm and the longer side is about ``size_px``."""
    rows, cols = image_u8.shape
    height_mm, width_mm = rows * spacing_rc[0], cols * spacing_rc[1]
    scale = size_px / max(height_mm, width_mm)
    size = (max(1, round(width_mm * scale)), max(1, round(height_mm * scale)))
    return Image.fromarray(image_u8, mode="L").resize(size, Image.Resampling.BILINEAR).convert("RGB")


def _roi_to_ijk(roi_zyx, shape_zyx, transform_affine) -> tuple[np.ndarray, np.ndarray]:
    """Corner indices of a ``((z0, z1), (y0, y1), (x0, x1))`` box in LPS ``(i, j, k)`` indices."""
    box = np.asarray(roi_zyx, dtype=float)
    if box.shape != (3, 2):
        raise ValueError(f"roi must be ((z0, z1), (y0, y1), (x0, x1)) voxel bounds; got {roi_zyx!r}")
    for (lo, hi), n, axis in zip(box, shape_zyx, "zyx"):
        if not 0 <= lo < hi <= n:
            raise ValueError(
                f"roi bounds on {axis} must satisfy 0 <= start < stop <= {n}; got ({lo:g}, {hi:g})"
            )
    # First and last voxel of each half-open range, so flipped axes map to the same voxels.
    first_last = box - np.array([0.0, 1.0])
    corners_xyz = np.array(
        [[x, y, z, 1.0] for z in first_last[0] for y in first_last[1] for x in first_last[2]]
    )
    corners = (transform_affine @ corners_xyz.T).T[:, :3]
    return corners.min(axis=0), corners.max(axis=0) + 1.0


def render_montage(
    volume_zyx, affine, window: Window, *, roi=None, size_px: int = PANEL_SIZE_PX
) -> Image.Image:
    """Three orthogonal slices (and a zoom of ``roi`` if given) side by side on black.

    Args:
        volume_zyx: real ``(z, y, x)`` image.
        affine: voxel-to-RAS+ affine of the library ``(x, y, z)`` indices.
        window: grey-level window (one per subject).
        roi: optional ``((z0, z1), (y0, y1), (x0, x1))`` voxel bounds; the slices pass through
            its centre, it is outlined on the axial view and shown enlarged as a fourth panel.
        size_px: longer side of each panel in pixels.

    Returns:
        An RGB :class:`PIL.Image.Image` without any text or metadata.
    """
    vol_ijk, affine_ijk = lps_canonical(volume_zyx, affine)
    # Maps library (x, y, z, 1) indices to LPS (i, j, k, 1) indices.
    to_ijk = np.linalg.inv(affine_ijk) @ np.asarray(affine, float)
    spacing = np.sqrt((affine_ijk[:3, :3] ** 2).sum(axis=0))
    shape = np.array(vol_ijk.shape)
    box = None
    if roi is None:
        centre = shape // 2
    else:
        lo, hi = _roi_to_ijk(roi, np.shape(volume_zyx), to_ijk)
        lo, hi = np.round(lo).astype(int), np.round(hi).astype(int)
        box = np.clip(lo, 0, shape - 1), np.clip(hi, 1, shape)
        centre = np.clip((box[0] + box[1]) // 2, 0, shape - 1)
    views = _orthogonal_views(vol_ijk, centre)
    spacings = _view_spacing(spacing)
    panels = []
    for name in ("axial", "coronal", "sagittal"):
        panel = _panel(window.to_uint8(views[name]), spacings[name], size_px)
        if name == "axial" and box is not None:
            rows, cols = views[name].shape
            sy, sx = panel.height / rows, panel.width / cols
            (i0, j0, _), (i1, j1, _) = box
            ImageDraw.Draw(panel).rectangle(
                [i0 * sx, j0 * sy, max(i1, i0 + 1) * sx - 1, max(j1, j0 + 1) * sy - 1],
                outline=ROI_COLOUR,
                width=2,
            )
        panels.append(panel)
    if box is not None:
        (i0, j0, _), (i1, j1, _) = box
        zoom = views["axial"][j0 : max(j1, j0 + 1), i0 : max(i1, i0 + 1)]
        panels.append(_panel(window.to_uint8(zoom), spacings["axial"], size_px))
    gap = 8
    height = max(p.height for p in panels)
    canvas = Image.new("RGB", (sum(p.width for p in panels) + gap * (len(panels) - 1), height), (0, 0, 0))
    x = 0
    for p in panels:
        canvas.paste(p, (x, (height - p.height) // 2))
        x += p.width + gap
    return canvas


def save_png(image: Image.Image, path) -> None:
    """Write ``image`` as PNG atomically, with no text chunks (no names, no software tag)."""
    # A fresh image has an empty ``info`` dict, so no metadata of the source can be carried over.
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    with atomic_path(path) as tmp:
        clean.save(tmp, format="PNG")

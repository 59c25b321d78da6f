"""Embedded segmenter: the shipped 3D U-Net applied to any NIfTI-like volume, with quality flags.

Pipeline: the image is resampled (trilinear, anti-aliased when downsampling) onto a RAS-aligned
grid of the training voxel size covering its field of view, normalised to [0, 1], segmented,
and the class posteriors are resampled back onto the input's own grid (trilinear per class,
then arg-max), so the label map overlays the input voxel for voxel. When the input already is
a RAS grid of the training voxel size, no resampling happens at all.

Quality: the network always answers, so a non-brain input would get a confident-looking label
map. :func:`assess_quality` flags results whose posterior entropy is high (the network is
unsure), whose intracranial volume is outside the human range, or that miss structures every
brain has; :attr:`SegmentationResult.ok` is False then and the CLI refuses to write unless told.

References:
    Billot B et al. SynthSeg. Medical Image Analysis 86:102789, 2023 (resample to the training
    resolution, segment, resample back; automated QC from the posteriors).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage as ndi

from reconstudy.resources import resource_path
from reconstudy.segment import labels as L
from reconstudy.segment.postprocess import keep_largest_components
from reconstudy.segment.synth import normalise
from reconstudy.segment.unet3d import UNet3D, pad_multiple

log = logging.getLogger("reconstudy")
# Inference tile stride = tile // TILE_DIVISOR: a third of a tile gave +0.018 / +0.006 mean Dice
# on the unseen anatomy over half (folds 3 / 2; docs/segmentation.md, "Tile stride") at 2.25x the
# network time; a quarter gave no more.
TILE_DIVISOR = 3
_RESOURCES = resource_path()

DEFAULT_MODEL_DIR = _RESOURCES / "models" / "segmenter"
MIN_EXTENT_MM = 60.0
MIN_SIDE = 8
MAX_SIDE_MM = 400.0
# Thresholds of the quality flags (see docs/segmentation.md for how they were set).
MAX_MEAN_ENTROPY = 0.25
ICV_RANGE_MM3 = (6.0e5, 2.6e6)
REQUIRED = (2, 3, 41, 42, 4, 43, 16, 10, 49)


@dataclass
class SegmentationResult:
    """A label map on the input grid and what produced it.

    Attributes:
        labels: ``(z, y, x)`` int16 FreeSurfer values on the input's grid.
        affine: the input's voxel-to-RAS affine.
        quality: ``score`` (1 - mean normalised entropy), ``mean_entropy``, ``icv_mm3`` and
            ``flags`` (empty when nothing looks wrong).
        backend: ``"embedded"`` or ``"synthseg"``.
        model: provenance (manifest path, sha256) of the model used.
    """

    labels: np.ndarray
    affine: np.ndarray
    quality: dict = field(default_factory=dict)
    backend: str = "embedded"
    model: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.quality.get("flags")


def check_image(image: np.ndarray, affine: np.ndarray, name: str = "image") -> np.ndarray:
    """Refuse inputs no brain segmentation can come from: not 3D, too small, empty or non-finite."""
    image = np.asarray(image)
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 3:
        raise ValueError(
            f"{name}: segmentation needs one 3D volume (z, y, x); got shape {image.shape} "
            "(for a multi-echo series pass one echo or their root-sum-of-squares)"
        )
    if np.iscomplexobj(image):
        image = np.abs(image)
    extent = np.array(image.shape[::-1]) * np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(0))
    if min(image.shape) < MIN_SIDE or extent.min() < MIN_EXTENT_MM:
        raise ValueError(
            f"{name}: segmentation needs a 3D brain volume at least {MIN_SIDE} voxels and "
            f"{MIN_EXTENT_MM:g} mm along each axis; got matrix {image.shape[::-1]} (x, y, z), "
            f"extent {np.round(extent, 1).tolist()} mm — a 2D slice or thin slab cannot be segmented"
        )
    if extent.max() > MAX_SIDE_MM:
        raise ValueError(f"{name}: field of view {np.round(extent).tolist()} mm exceeds {MAX_SIDE_MM:g} mm")
    finite = np.isfinite(image)
    if not finite.all():
        if not finite.any():
            raise ValueError(f"{name}: the image has no finite values")
        image = np.where(finite, image, 0)
    lo, hi = np.percentile(image, [0.5, 99.5])
    if hi <= lo:
        raise ValueError(f"{name}: the image is empty or constant (value {float(lo):g}); nothing to segment")
    return image.astype(np.float32)


def working_grid(affine: np.ndarray, shape_zyx, voxel_mm: float):
    """RAS-aligned grid of ``voxel_mm`` covering the input's voxel centres: (affine, shape (z, y, x))."""
    nz, ny, nx = shape_zyx
    corners = np.array([[i, j, k, 1] for i in (0, nx - 1) for j in (0, ny - 1) for k in (0, nz - 1)], float)
    world = (np.asarray(affine) @ corners.T)[:3]
    lo, hi = world.min(1), world.max(1)
    n_xyz = np.floor((hi - lo) / voxel_mm + 1e-3).astype(int) + 1
    grid = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    grid[:3, 3] = lo
    return grid, tuple(int(n) for n in n_xyz[::-1])


def _coordinates(src_affine, dst_affine, dst_shape_zyx):
    """(z, y, x) voxel coordinates in the source grid of every voxel of the destination grid."""
    m = np.linalg.inv(src_affine) @ dst_affine  # dst (x, y, z) -> src (x, y, z)
    nz, ny, nx = dst_shape_zyx
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    xyz = np.stack([x, y, z]).reshape(3, -1).astype(np.float64)
    src = m[:3, :3] @ xyz + m[:3, 3:4]
    return src[::-1].reshape(3, nz, ny, nx)


def _same_grid(src_affine, src_shape, dst_affine, dst_shape) -> bool:
    return tuple(src_shape) == tuple(dst_shape) and np.allclose(src_affine, dst_affine, atol=1e-4)


def resample_image(image, affine, dst_affine, dst_shape, order: int = 1) -> np.ndarray:
    """Resample ``image`` (z, y, x) onto another grid (world-space, anti-aliased when shrinking)."""
    if _same_grid(affine, image.shape, dst_affine, dst_shape):
        return image.astype(np.float32)
    src_vox = np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(0))[::-1]
    dst_vox = np.sqrt((np.asarray(dst_affine)[:3, :3] ** 2).sum(0))[::-1]
    ratio = dst_vox / src_vox
    if (ratio > 1.1).any():  # Gaussian of ~0.4 destination voxels stops aliasing
        image = ndi.gaussian_filter(image, sigma=np.where(ratio > 1.1, 0.42 * ratio, 0), mode="nearest")
    coords = _coordinates(affine, dst_affine, dst_shape)
    return ndi.map_coordinates(image, coords, order=order, mode="constant", cval=0.0).astype(np.float32)


def resample_labels(labels, affine, dst_affine, dst_shape) -> np.ndarray:
    """Nearest-neighbour resampling of a label map onto another grid (world space; 0 outside)."""
    if _same_grid(affine, labels.shape, dst_affine, dst_shape):
        return np.asarray(labels).copy()
    coords = np.rint(_coordinates(affine, dst_affine, dst_shape)).astype(np.int64)
    inside = np.all([(c >= 0) & (c < n) for c, n in zip(coords, labels.shape)], axis=0)
    out = np.zeros(dst_shape, dtype=np.asarray(labels).dtype)
    out[inside] = labels[coords[0][inside], coords[1][inside], coords[2][inside]]
    return out


def assess_quality(posterior: np.ndarray, classes: np.ndarray, voxel_volume_mm3: float) -> dict:
    """Quality of a prediction from its posteriors (C, z, y, x) and arg-max classes on the working grid."""
    foreground = classes > 0
    eps = 1e-8
    entropy = -(posterior * np.log(posterior + eps)).sum(0) / np.log(posterior.shape[0])
    mean_entropy = float(entropy[foreground].mean()) if foreground.any() else 1.0
    icv = float(foreground.sum() * voxel_volume_mm3)
    present = set(L.to_labels(np.unique(classes)).tolist())
    missing = [int(v) for v in REQUIRED if v not in present]
    flags = []
    if mean_entropy > MAX_MEAN_ENTROPY:
        flags.append(
            f"low_confidence: mean normalised posterior entropy {mean_entropy:.3f} > {MAX_MEAN_ENTROPY}"
        )
    if not ICV_RANGE_MM3[0] <= icv <= ICV_RANGE_MM3[1]:
        flags.append(f"implausible_volume: intracranial volume {icv:.0f} mm3 outside {ICV_RANGE_MM3} mm3")
    if missing:
        flags.append("missing_structures: " + ", ".join(L.FS_NAMES[v] for v in missing))
    return {
        "score": round(1 - mean_entropy, 4),
        "mean_entropy": round(mean_entropy, 4),
        "icv_mm3": icv,
        "flags": flags,
    }


class EmbeddedSegmenter:
    """The shipped U-Net with its manifest; :meth:`segment` runs it on an image and its affine."""

    def __init__(
        self,
        model: UNet3D,
        voxel_mm: float,
        provenance: dict | None = None,
        device: str = "cpu",
        patch=None,
        flip_average: bool = True,
        clean_up: bool = True,
        tile_divisor: int = TILE_DIVISOR,
    ):
        self.model = model.to(device).eval()
        self.voxel_mm = float(voxel_mm)
        self.patch = tuple(int(n) for n in patch) if patch else None
        self.provenance = provenance or {}
        self.device = device
        self.flip_average = bool(flip_average)
        self.clean_up = bool(clean_up)
        if int(tile_divisor) != tile_divisor or tile_divisor < 1:
            raise ValueError(f"tile_divisor (stride = tile // it) must be an integer >= 1: {tile_divisor!r}")
        self.tile_divisor = int(tile_divisor)

    @classmethod
    def load(
        cls,
        model_dir=None,
        device: str = "cpu",
        flip_average: bool = True,
        clean_up: bool = True,
        tile_divisor: int = TILE_DIVISOR,
    ) -> EmbeddedSegmenter:
        """Load ``segmenter.pt`` checked against ``manifest.json`` in ``model_dir`` (default: shipped).

        ``flip_average``: average the posteriors of the image and of its left-right mirror (see
        :meth:`posteriors`; default on: +0.02 mean Dice on an unseen anatomy, twice the time).
        ``clean_up``: keep one connected piece per structure
        (:func:`reconstudy.segment.postprocess.keep_largest_components`).
        ``tile_divisor``: the inference tiles' stride is the tile size over it (see
        :meth:`posteriors`).
        """
        from reconstudy.segment.train import sha256

        model_dir = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
        if model_dir.is_file():
            model_dir = model_dir.parent
        manifest_path = model_dir / "manifest.json"
        if not manifest_path.exists():
            raise FileNotFoundError(
                f"{manifest_path}: no segmenter manifest (pass --model DIR holding segmenter.pt and "
                "manifest.json, or retrain with `reconstudy train-seg`)"
            )
        try:
            manifest = json.loads(manifest_path.read_text())
            weights = model_dir / manifest["file"]
            arch = dict(manifest["architecture"])
        except (ValueError, KeyError) as err:
            raise ValueError(f"{manifest_path}: not a segmenter manifest ({err})") from err
        if not weights.exists():
            raise FileNotFoundError(f"{weights}: weights named by {manifest_path} are missing")
        digest = sha256(weights)
        if digest != manifest.get("sha256"):
            raise ValueError(
                f"{weights}: sha256 {digest[:12]}… differs from {manifest_path} "
                f"({str(manifest.get('sha256'))[:12]}…); "
                "the weights are corrupted or belong to another manifest — restore them or retrain"
            )
        if arch.pop("class", None) != "reconstudy.segment.unet3d.UNet3D":
            raise ValueError(f"{manifest_path}: architecture class must be reconstudy.segment.unet3d.UNet3D")
        if [int(v) for v in manifest.get("labels", [])] != [int(v) for v in L.LABELS]:
            raise ValueError(f"{manifest_path}: label list differs from the SynthSeg set this code expects")
        try:
            model = UNet3D(**arch)
            state = torch.load(weights, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as err:  # torch raises several types for corrupt or mismatched files
            raise ValueError(
                f"{weights}: cannot load into the architecture of {manifest_path} ({type(err).__name__}: "
                f"{str(err).splitlines()[0][:200]})"
            ) from err
        provenance = {
            "manifest": str(manifest_path),
            "sha256": digest,
            "architecture": manifest["architecture"],
        }
        patch = manifest.get("training", {}).get("config", {}).get("synth", {}).get("patch")
        voxel_mm = manifest.get("voxel_mm", 2.5)
        return cls(model, voxel_mm, provenance, device, patch, flip_average, clean_up, tile_divisor)

    def _predict(self, image: np.ndarray) -> np.ndarray:
        pads = pad_multiple(image.shape, self.model.multiple)
        padded = np.pad(image, pads)
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(padded))[None, None].to(self.device)
            prob = self.model(x).softmax(1)[0].cpu().numpy()
        crop = tuple(slice(a, a + n) for (a, _), n in zip(pads, image.shape))
        return prob[(slice(None), *crop)]

    def posteriors(self, image_work: np.ndarray) -> np.ndarray:
        """Class posteriors (C, z, y, x) of a normalised image on the working grid.

        With a training patch size (from the manifest), the image is covered by overlapping
        tiles of that size whose posteriors are averaged: instance normalisation then sees the
        field of view it was trained on (whole-image inference on a 72x88x72 head halved the
        Dice of the shipped model in our check). The stride is the tile over ``tile_divisor`` (default
        3, a third: 27 tiles on that head, against 12 at half a tile, for +0.018 mean Dice on the
        unseen anatomy; docs/segmentation.md, "Tile stride"). With
        ``flip_average`` the posteriors of the left-right mirrored image (the working grid is
        RAS-aligned, x last; the training augmentation mirrors the same axis), mirrored back
        with left and right classes swapped, are averaged in (test-time augmentation).
        """
        prob = self._tiled_posteriors(image_work)
        if not self.flip_average:
            return prob
        mirrored = self._tiled_posteriors(np.ascontiguousarray(image_work[..., ::-1]))
        swapped = mirrored[L.homologue_class_permutation()][..., ::-1]
        return 0.5 * (prob + swapped)

    def _tiled_posteriors(self, image_work: np.ndarray) -> np.ndarray:
        if self.patch is None or all(n <= p for n, p in zip(image_work.shape, self.patch)):
            return self._predict(image_work)
        patch = [min(p, n) for p, n in zip(self.patch, image_work.shape)]
        starts = []
        for n, p in zip(image_work.shape, patch):
            step = max(p // self.tile_divisor, 1)
            axis = list(range(0, n - p + 1, step))
            if axis[-1] != n - p:
                axis.append(n - p)
            starts.append(axis)
        total = np.zeros((self.model.config["n_classes"], *image_work.shape), np.float32)
        count = np.zeros(image_work.shape, np.float32)
        for z in starts[0]:
            for y in starts[1]:
                for x in starts[2]:
                    tile = (slice(z, z + patch[0]), slice(y, y + patch[1]), slice(x, x + patch[2]))
                    total[(slice(None), *tile)] += self._predict(image_work[tile])
                    count[tile] += 1
        return total / count

    def segment(self, image: np.ndarray, affine: np.ndarray, name: str = "image") -> SegmentationResult:
        """Segment ``image`` (z, y, x) with voxel-to-RAS ``affine``; labels come back on its grid."""
        affine = np.asarray(affine, float)
        image = check_image(image, affine, name)
        grid_affine, grid_shape = working_grid(affine, image.shape, self.voxel_mm)
        work = normalise(resample_image(image, affine, grid_affine, grid_shape))
        prob = self.posteriors(work)
        if self.clean_up:
            prob = keep_largest_components(prob)
        classes = prob.argmax(0)
        quality = assess_quality(prob, classes, self.voxel_mm**3)
        if _same_grid(grid_affine, grid_shape, affine, image.shape):
            native = classes
        else:
            coords = _coordinates(grid_affine, affine, image.shape)
            used = np.flatnonzero(prob.reshape(prob.shape[0], -1).max(1) > 0.05)
            best = np.full(image.shape, -1.0, np.float32)
            native = np.zeros(image.shape, np.int64)
            for c in used:  # per-class trilinear posterior on the input grid, running arg-max
                p = ndi.map_coordinates(prob[c], coords, order=1, mode="constant", cval=float(c == 0))
                better = p > best
                best[better], native[better] = p[better], c
        provenance = {
            **self.provenance,
            "flip_average": self.flip_average,
            "clean_up": self.clean_up,
            "tile_divisor": self.tile_divisor,
        }
        result = SegmentationResult(L.to_labels(native), affine, quality, "embedded", provenance)
        if not result.ok:
            log.warning("%s: segmentation flagged: %s", name, "; ".join(quality["flags"]))
        return result

"""Segment an image file with the chosen backend and write label map, volumes and sidecar.

This is what the CLI (``reconstudy segment``) and the workflow's scripts call. Outputs are
written atomically and only after every check passed: a flagged low-quality result raises
unless ``allow_low_quality`` is set, in which case the flags travel in the sidecar.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from reconstudy.io.atomic import atomic_path
from reconstudy.io.nifti import load_image, save_image
from reconstudy.segment.embedded import TILE_DIVISOR, EmbeddedSegmenter, SegmentationResult, check_image
from reconstudy.segment.synthseg import run_synthseg, synthseg_available
from reconstudy.segment.volumes import volumes_row, volumes_table, write_volumes_csv

log = logging.getLogger("reconstudy")
BACKENDS = ("auto", "synthseg", "embedded")


def choose_backend(backend: str) -> str:
    """``auto`` -> ``synthseg`` when ``mri_synthseg`` is on PATH, else ``embedded``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "synthseg" if synthseg_available() else "embedded"
    return backend


def sidecar_path(out_path) -> Path:
    out_path = Path(out_path)
    name = out_path.name
    for suffix in (".nii.gz", ".nii", ".mgz"):
        if name.endswith(suffix):
            return out_path.with_name(name[: -len(suffix)] + ".json")
    return out_path.with_name(name + ".json")


def segment_file(
    image_path,
    out_path,
    volumes_path=None,
    *,
    backend: str = "auto",
    model=None,
    subject: str | None = None,
    echo: int = 0,
    parc: bool = False,
    robust: bool = False,
    threads: int = 1,
    device: str = "cpu",
    allow_low_quality: bool = False,
    segmenter: EmbeddedSegmenter | None = None,
    flip_average: bool = True,
    clean_up: bool = True,
    tile_divisor: int = TILE_DIVISOR,
) -> SegmentationResult:
    """Segment ``image_path`` and write ``out_path`` (+ ``.json`` sidecar) and ``volumes_path``.

    Args:
        image_path: NIfTI image (3D, or 4D whose ``echo``-th volume is used).
        out_path: label map to write (FreeSurfer values, on the input grid).
        volumes_path: SynthSeg-layout volumes CSV (+ JSON sidecar), optional.
        backend: ``auto``, ``synthseg`` or ``embedded``.
        model: folder of the embedded model (default: ``resources/models/segmenter``).
        subject: value of the CSV's ``subject`` column (default: the image path).
        allow_low_quality: write flagged results instead of raising.
        segmenter: an already loaded embedded segmenter (saves reloading in loops).
        flip_average: embedded backend: average with the left-right mirrored image (test-time
            augmentation, twice the time; ignored when ``segmenter`` is given).
        clean_up: embedded backend: one connected piece per structure (ignored when ``segmenter``
            is given).
        tile_divisor: embedded backend: inference tiles overlap with a stride of the tile size
            over this (default 3; ignored when ``segmenter`` is given).
    """
    image_path = Path(image_path)
    chosen = choose_backend(backend)
    t0 = time.perf_counter()
    volume, affine = load_image(image_path)
    if volume.ndim == 4:
        if not 0 <= echo < volume.shape[0]:
            raise ValueError(f"{image_path}: echo {echo} out of range (image has {volume.shape[0]} volumes)")
        volume = volume[echo]
    check_image(volume, affine, str(image_path))
    if chosen == "synthseg":
        labels, affine, synthseg_table = run_synthseg(image_path, parc=parc, robust=robust, threads=threads)
        result = SegmentationResult(labels, affine, {"flags": []}, "synthseg", {"executable": "mri_synthseg"})
    else:
        segmenter = segmenter or EmbeddedSegmenter.load(
            model, device=device, flip_average=flip_average, clean_up=clean_up, tile_divisor=tile_divisor
        )
        import torch

        torch.set_num_threads(max(1, int(threads)))
        result = segmenter.segment(volume, affine, str(image_path))
    elapsed = time.perf_counter() - t0
    if not result.ok and not allow_low_quality:
        raise ValueError(
            f"{image_path}: segmentation failed its quality checks ({'; '.join(result.quality['flags'])}); "
            "is this a brain image? Nothing was written (use --allow-low-quality to keep it anyway)"
        )
    save_image(out_path, result.labels.astype(np.int16), affine)
    meta = {
        "Description": "Brain label map (FreeSurfer values, SynthSeg 2.0 structures) on the input grid.",
        "Source": str(image_path),
        "Backend": result.backend,
        "BackendRequested": backend,
        "Model": result.model,
        "Quality": result.quality,
        "Seconds": round(elapsed, 2),
    }
    with atomic_path(sidecar_path(out_path)) as tmp:
        tmp.write_text(json.dumps(meta, indent=1, default=str))
    if volumes_path and chosen == "synthseg":  # SynthSeg's own (posterior-based) volumes
        table = synthseg_table.assign(subject=subject or str(image_path))
        write_volumes_csv(volumes_path, table, sidecar={"Backend": "synthseg", "Source": str(image_path)})
    elif volumes_path:
        table = volumes_table([volumes_row(result.labels, affine, subject or str(image_path))])
        write_volumes_csv(volumes_path, table, sidecar={"Backend": result.backend, "Source": str(image_path)})
    log.info("segmented %s with the %s backend in %.1f s", image_path, result.backend, elapsed)
    return result

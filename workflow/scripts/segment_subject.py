"""Adapter: segment one subject's T1w images; label maps, volumes and Dice tables."""

import numpy as np
import pandas as pd

from reconstudy.io.atomic import atomic_path
from reconstudy.io.nifti import load_image
from reconstudy.progress import Progress, configure_logging
from reconstudy.segment.app import choose_backend, segment_file
from reconstudy.segment.embedded import EmbeddedSegmenter
from reconstudy.segment.study import dice_rows, image_name, on_grid, volume_record

configure_logging(snakemake.log[0])
p = snakemake.params
options = p.options
backend = choose_backend(options["backend"])
segmenter = (
    EmbeddedSegmenter.load(
        p.model,
        device=options["device"],
        flip_average=options["flip_average"],
        clean_up=options["clean_up"],
        tile_divisor=options["tile_divisor"],
    )
    if backend == "embedded"
    else None
)
truth = load_image(snakemake.input.truth) if "truth" in snakemake.input.keys() else None

volumes, dice = [], []
if truth is not None:
    keys = {"subject": p.subject, "R": np.nan, "rec": "truth", "image": "truth", "backend": "phantom"}
    volumes.append(volume_record(truth[0], truth[1], keys, subject=p.subject))
reference = None
progress = Progress(len(p.images), "segment", unit="image")
for R, rec in p.images:  # the reference comes first
    key = f"R{R}_{rec}"
    result = segment_file(
        snakemake.input[f"image_{key}"],
        snakemake.output[f"labels_{key}"],
        backend=backend,
        model=p.model,
        subject=p.subject,
        threads=snakemake.threads,
        device=options["device"],
        allow_low_quality=options["allow_low_quality"],
        segmenter=segmenter,
    )
    keys = {
        "subject": p.subject,
        "R": float(R),
        "rec": rec,
        "image": image_name(R, rec),
        "backend": result.backend,
    }
    volumes.append(volume_record(result.labels, result.affine, keys, result.quality, subject=p.subject))
    if truth is not None:
        labels = on_grid(result.labels, result.affine, truth[0].shape, truth[1])
        dice += dice_rows(labels, truth[0], "truth", keys)
    if reference is None:
        reference = result
    else:
        labels = on_grid(result.labels, result.affine, reference.labels.shape, reference.affine)
        dice += dice_rows(labels, reference.labels, "reference", keys)
    progress.advance(1, image=keys["image"], flags=len(result.quality.get("flags", [])))

for frame, path in (
    (pd.DataFrame(volumes), snakemake.output.volumes),
    (pd.DataFrame(dice), snakemake.output.dice),
):
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=False)

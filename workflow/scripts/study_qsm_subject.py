"""Adapter: one subject's χ maps against the fully sampled reference map: MAE/RMSE (ppb) in the
brain mask, ROI means of deep grey-matter nuclei, and lesion contrasts at the rated R (seed 003)."""

import numpy as np
import pandas as pd

from reconstudy.io.atomic import atomic_path
from reconstudy.io.nifti import load_image
from reconstudy.progress import configure_logging
from reconstudy.segment.biomarkers import lesion_features
from reconstudy.segment.labels import CSV_NAMES, fold_labels
from reconstudy.stats import map_errors, roi_differences

# Basal ganglia, thalamus, brain stem and ventral diencephalon (red nucleus, substantia nigra).
NUCLEI = (10, 11, 12, 13, 16, 28, 49, 50, 51, 52, 60)

configure_logging(snakemake.log[0])
p = snakemake.params
reference, affine = load_image(snakemake.input.ref)
mask = load_image(snakemake.input.mask)[0] > 0
labels = fold_labels(load_image(snakemake.input.labels)[0].astype(int))
# The lesion map is written beside the lesion table by the simulation (not a declared output).
lesion_map = load_image(snakemake.input.lesion_map)[0].astype(int)
voxel_zyx = tuple(np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(0))[::-1])
names = {k: CSV_NAMES[k] for k in NUCLEI if np.any(labels[mask] == k)}
nuclei = np.where(mask, labels, 0)

errors, rois, lesions = [], [], []
for R in p.accelerations:
    for rec in p.recons:
        chi = load_image(snakemake.input[f"R{R}_{rec}"])[0]
        where = {"subject": p.subject, "R": float(R), "rec": rec}
        errors.append({**where, **map_errors(chi, reference, mask, scale=1000.0, unit="ppb")})
        rois.append(roi_differences(chi, reference, nuclei, names, scale=1000.0).assign(**where))
        if R == p.rated_R:
            found = lesion_features(chi, lesion_map, labels, voxel_zyx)
            lesions.append(found.assign(subject=p.subject, method=rec, R=float(R)))
outputs = {
    snakemake.output.errors: pd.DataFrame(errors),
    snakemake.output.roi: pd.concat(rois, ignore_index=True),
    snakemake.output.lesions: pd.concat(lesions, ignore_index=True) if lesions else pd.DataFrame(),
}
for path, table in outputs.items():
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")

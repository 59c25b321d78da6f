"""Adapter: undersample one subject's raw k-space in (ky, kz) at every R; coil maps from the calibration."""

import logging

import numpy as np

from reconstudy.figures.masks import save_mask_figure
from reconstudy.io.atomic import atomic_path
from reconstudy.io.ismrmrd_io import write_ismrmrd
from reconstudy.io.readers import read_kspace
from reconstudy.progress import configure_logging
from reconstudy.recon.api import estimate_coil_maps
from reconstudy.sampling import study_masks
from reconstudy.seeding import derive_seed

configure_logging(snakemake.log[0])
log = logging.getLogger("reconstudy.undersample")
sampling = snakemake.params.sampling
wc = snakemake.wildcards
kspace = read_kspace(snakemake.input.raw)
accelerations = snakemake.params.accelerations
masks = study_masks(
    kspace.sampling_mask,
    accelerations,
    sampling["pattern"],
    calib=sampling["calibration"],
    seed_for=lambda R: derive_seed(snakemake.params.seed, "mask", wc.subject, wc.acq, float(R)),
    retrospective_from=snakemake.params.retrospective_from,
)
lowest = min(accelerations, key=float)  # every mask holds the same calibration region
for i, R in enumerate(accelerations):
    undersampled = kspace.undersample(masks[R])
    if R == lowest:
        # With coil compression the maps have rank V over the coil axis; every reconstruction
        # that is given them compresses its data to the same V virtual coils (recon.api).
        maps = estimate_coil_maps(
            undersampled,
            coil_method=snakemake.params.coil_method,
            coil_compression=snakemake.params.coil_compression,
        )
        with atomic_path(snakemake.output.maps) as tmp, open(tmp, "wb") as handle:
            np.save(handle, maps.astype(np.complex64))
    write_ismrmrd(snakemake.output.raw[i], undersampled, subject_id=f"sub-{wc.subject}")
    title = f"{wc.acq}, R = {undersampled.acceleration:.2f}"
    save_mask_figure(masks[R], snakemake.output.mask[i], title=title)
    log.info("R = %s: achieved %.3f -> %s", R, undersampled.acceleration, snakemake.output.raw[i])

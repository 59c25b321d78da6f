"""Adapter: dl_sr of one (subject, acq) at every R: a low-resolution acquisition, boosted, super-resolved."""

import logging

import numpy as np

from reconstudy.io.nifti import save_reconstruction
from reconstudy.io.readers import read_kspace
from reconstudy.progress import configure_logging
from reconstudy.recon.dl.inference import dl_sr_reconstruct
from reconstudy.recon.dl.io import load_model
from reconstudy.sampling import low_resolution_mask
from reconstudy.seeding import derive_seed

configure_logging(snakemake.log[0])
log = logging.getLogger("reconstudy.dl_sr")
recon, wc = snakemake.params.recon, snakemake.wildcards
raw = read_kspace(snakemake.input.raw)
maps = np.load(snakemake.input.maps)  # the coil maps SENSE, CS and dl use
boost, _ = load_model(snakemake.input.model, device=recon["device"])
sharp, _ = load_model(snakemake.input.sr_model, device=recon["device"])
factor = int(sharp.config.get("factor", 2))
try:  # every mask first: data that cannot give one stop the job before any output is written
    masks = {
        R: low_resolution_mask(
            raw.sampling_mask.shape,
            float(R),
            factor,
            calib=snakemake.params.sampling["calibration"],
            seed=derive_seed(snakemake.params.seed, "lowres-mask", wc.subject, wc.acq, float(R)),
            acquired=raw.sampling_mask,
        )
        for R in snakemake.params.accelerations
    }
except ValueError as err:  # name the data file: the fix is in the config, for these data
    source = f"{snakemake.input.raw} ({raw.acquisition}, R = {raw.acceleration:.2f})"
    raise ValueError(f"{source}: {err}") from None
for R, mask in masks.items():
    kspace = raw.undersample(mask)
    image = dl_sr_reconstruct(kspace, boost, sharp, recon["device"], recon["batch_planes"], coil_maps=maps)
    paths = {part: snakemake.output[f"{part}_R{R}"] for part in ("mag", "phase", "sidecar")}
    save_reconstruction(
        paths,
        image,
        kspace,
        method="dl_sr",
        model=snakemake.input.model,
        sr_model=snakemake.input.sr_model,
        low_resolution_factor=factor,
    )
    log.info("R = %s: low-resolution acquisition at R = %.3f reconstructed", R, kspace.acceleration)

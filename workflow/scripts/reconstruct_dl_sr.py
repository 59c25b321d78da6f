"""Adapter: dl_sr of one (subject, acq) at every R: a low-resolution acquisition, boosted, super-resolved."""

import logging

import numpy as np

from reconstudy.io.nifti import save_image, write_sidecar
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
for R in snakemake.params.accelerations:
    mask = low_resolution_mask(
        raw.sampling_mask.shape,
        float(R),
        int(sharp.config.get("factor", 2)),
        calib=snakemake.params.sampling["calibration"],
        seed=derive_seed(snakemake.params.seed, "lowres-mask", wc.subject, wc.acq, float(R)),
    )
    kspace = raw.undersample(mask)
    image = dl_sr_reconstruct(kspace, boost, sharp, recon["device"], recon["batch_planes"], coil_maps=maps)
    if image.shape[0] == 1:
        image = image[0]
    save_image(snakemake.output[f"mag_R{R}"], np.abs(image), kspace.geometry.affine)
    save_image(snakemake.output[f"phase_R{R}"], np.angle(image), kspace.geometry.affine)
    write_sidecar(
        snakemake.output[f"sidecar_R{R}"],
        kspace,
        method="dl_sr",
        model=snakemake.input.model,
        sr_model=snakemake.input.sr_model,
        low_resolution_factor=int(sharp.config.get("factor", 2)),
    )
    log.info("R = %s: low-resolution acquisition at R = %.3f reconstructed", R, kspace.acceleration)

"""Adapter: deep-learning reconstruction of one (subject, acq) at every R (the model loaded once)."""

import numpy as np

from reconstudy.io.nifti import save_reconstruction
from reconstudy.io.readers import read_kspace
from reconstudy.progress import configure_logging
from reconstudy.recon.dl import dl_reconstruct
from reconstudy.recon.dl.io import load_model

configure_logging(snakemake.log[0])
recon = snakemake.params.recon
# The same coil maps as SENSE and CS (used by models that take coil maps).
maps = np.load(snakemake.input.maps)
model, _ = load_model(snakemake.input.model, device=recon["device"])
for R in snakemake.params.accelerations:
    kspace = read_kspace(snakemake.input[f"raw_R{R}"])
    image = dl_reconstruct(
        kspace,
        snakemake.input.model,
        device=recon["device"],
        batch_planes=recon["batch_planes"],
        model=model,
        coil_maps=maps,
    )
    paths = {part: snakemake.output[f"{part}_R{R}"] for part in ("mag", "phase", "sidecar")}
    save_reconstruction(paths, image, kspace, method="dl", model=snakemake.input.model)

"""Adapter: deep-learning reconstruction (unrolled VarNet) of one (subject, acq, R)."""

import numpy as np

from reconstudy.io.nifti import save_image, write_sidecar
from reconstudy.io.readers import read_kspace
from reconstudy.progress import configure_logging
from reconstudy.recon.dl import dl_reconstruct

configure_logging(snakemake.log[0])
recon = snakemake.params.recon
kspace = read_kspace(snakemake.input.raw)
# The same coil maps as SENSE and CS (used by models with coil_maps: espirit).
image = dl_reconstruct(
    kspace,
    snakemake.input.model,
    device=recon["device"],
    batch_planes=recon["batch_planes"],
    coil_maps=np.load(snakemake.input.maps),
)
if image.shape[0] == 1:
    image = image[0]
save_image(snakemake.output.mag, np.abs(image), kspace.geometry.affine)
save_image(snakemake.output.phase, np.angle(image), kspace.geometry.affine)
write_sidecar(snakemake.output.sidecar, kspace, method="dl", model=snakemake.input.model)

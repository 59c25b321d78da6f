"""Adapter: reconstruct one (subject, acq, R) with a conventional method; write magnitude + phase."""

import numpy as np

from reconstudy.io.nifti import save_image, write_sidecar
from reconstudy.io.readers import read_kspace
from reconstudy.progress import configure_logging
from reconstudy.recon.api import reconstruct

configure_logging(snakemake.log[0])
recon = snakemake.params.recon
method = snakemake.wildcards.rec
kspace = read_kspace(snakemake.input.raw)
options = dict(recon.get(method, {}), batch_planes=recon["batch_planes"], device=recon["device"])
image = reconstruct(
    kspace, method, coil_maps=np.load(snakemake.input.maps), **options
)  # (echo, z, y, x) complex64
if image.shape[0] == 1:
    image = image[0]
save_image(snakemake.output.mag, np.abs(image), kspace.geometry.affine)
save_image(snakemake.output.phase, np.angle(image), kspace.geometry.affine)
write_sidecar(snakemake.output.sidecar, kspace, method=method, options=options)

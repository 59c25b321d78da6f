"""Adapter: reconstruct one (subject, acq, R) with each configured conventional method.

The k-space and coil maps are read once; each method writes magnitude, phase and a JSON sidecar.
"""

import logging
import time

import numpy as np

from reconstudy.io.nifti import save_reconstruction
from reconstudy.io.readers import read_kspace
from reconstudy.progress import configure_logging
from reconstudy.recon.api import reconstruct

configure_logging(snakemake.log[0])
log = logging.getLogger("reconstudy.reconstruct")
recon = snakemake.params.recon
kspace = read_kspace(snakemake.input.raw)
coil_maps = np.load(snakemake.input.maps)
for method in snakemake.params.methods:
    start = time.perf_counter()
    options = dict(recon.get(method, {}), batch_planes=recon["batch_planes"], device=recon["device"])
    image = reconstruct(kspace, method, coil_maps=coil_maps, **options)  # (echo, z, y, x) complex64
    paths = {part: snakemake.output[f"{part}_{method}"] for part in ("mag", "phase", "sidecar")}
    save_reconstruction(paths, image, kspace, method=method, options=options)
    log.info("%s done in %.1f s: %s", method, time.perf_counter() - start, paths["mag"])

"""Adapter: coil sensitivities of one subject and acquisition from its calibration region."""

import numpy as np

from reconstudy.io.atomic import atomic_path
from reconstudy.io.readers import read_kspace
from reconstudy.progress import configure_logging
from reconstudy.recon.api import estimate_coil_maps

configure_logging(snakemake.log[0])
maps = estimate_coil_maps(read_kspace(snakemake.input.raw), coil_method=snakemake.params.coil_method)
with atomic_path(snakemake.output[0]) as tmp, open(tmp, "wb") as handle:
    np.save(handle, maps.astype(np.complex64))

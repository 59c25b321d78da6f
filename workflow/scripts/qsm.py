"""Adapter: χ maps (ppm) of every mGRE reconstruction of one subject with one QSM method."""

import logging
import time

from reconstudy.io.nifti import load_image, read_sidecar, save_image, voxel_sizes
from reconstudy.progress import Progress, configure_logging
from reconstudy.qsm import qsm

configure_logging(snakemake.log[0])
log = logging.getLogger("reconstudy.qsm_maps")
options = snakemake.params.options
method = snakemake.wildcards.qsm
mask, _ = load_image(snakemake.input.mask)
maps = snakemake.params.maps
progress = Progress(len(maps), f"{method} χ maps of sub-{snakemake.wildcards.subject}", unit="map", every_s=0)
for R, rec in maps:
    key = f"R{R}_{rec}"
    start = time.perf_counter()
    magnitude, affine = load_image(snakemake.input[f"mag_{key}"])
    phase, _ = load_image(snakemake.input[f"phase_{key}"])
    sidecar = read_sidecar(snakemake.input[f"sidecar_{key}"])
    chi = qsm(
        phase,
        magnitude,
        mask,
        te_ms=sidecar["echo_times_ms"],
        b0_tesla=sidecar["MagneticFieldStrength"],
        voxel_size_xyz=voxel_sizes(affine),
        b0_direction_xyz=sidecar["B0DirectionVoxel"],
        method=method,
        # qsm.iterations are TGV primal-dual iterations; classic keeps its own CG default
        iterations=options["iterations"] if method == "tgv" else None,
        alpha=options["alpha"],
        erosions=options["erosions"],
        device=options["device"],
    )
    save_image(snakemake.output[key], chi, affine)
    log.info("R = %s, %s: %.1f s -> %s", R, rec, time.perf_counter() - start, snakemake.output[key])
    progress.advance()

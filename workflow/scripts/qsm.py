"""Adapter: χ map (ppm) of one mGRE reconstruction with the configured QSM method."""

from reconstudy.io.nifti import load_image, read_sidecar, save_image, voxel_sizes
from reconstudy.progress import configure_logging
from reconstudy.qsm import qsm

configure_logging(snakemake.log[0])
options = snakemake.params.options
magnitude, affine = load_image(snakemake.input.mag)
phase, _ = load_image(snakemake.input.phase)
mask, _ = load_image(snakemake.input.mask)
sidecar = read_sidecar(snakemake.input.sidecar)
chi = qsm(
    phase,
    magnitude,
    mask,
    te_ms=sidecar["echo_times_ms"],
    b0_tesla=sidecar["MagneticFieldStrength"],
    voxel_size_xyz=voxel_sizes(affine),
    b0_direction_xyz=sidecar["B0DirectionVoxel"],
    method=snakemake.wildcards.qsm,
    iterations=options["iterations"],
    alpha=options["alpha"],
    erosions=options["erosions"],
    device=options["device"],
)
save_image(snakemake.output[0], chi, affine)

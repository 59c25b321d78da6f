"""Adapter: brain mask of measured data from the magnitude of its fully sampled reference."""

from reconstudy.io.nifti import load_image, save_image
from reconstudy.progress import configure_logging
from reconstudy.qsm.mask import brain_mask

configure_logging(snakemake.log[0])
magnitude, affine = load_image(snakemake.input.reference)
save_image(snakemake.output[0], brain_mask(magnitude).astype("uint8"), affine)

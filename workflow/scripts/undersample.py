"""Adapter: undersample raw k-space in (ky, kz) with the configured pattern and R."""

from reconstudy.figures.masks import save_mask_figure
from reconstudy.io.ismrmrd_io import write_ismrmrd
from reconstudy.io.readers import read_kspace
from reconstudy.progress import configure_logging
from reconstudy.sampling import create_mask, subset_mask
from reconstudy.seeding import derive_seed

configure_logging(snakemake.log[0])
sampling = snakemake.params.sampling
R = float(snakemake.wildcards.R)
kspace = read_kspace(snakemake.input.raw)
wc = snakemake.wildcards
seed = derive_seed(snakemake.params.seed, "mask", wc.subject, wc.acq, R)
if kspace.acceleration > 1.0:  # already undersampled: the new mask is a subset (seed 000)
    mask = subset_mask(kspace.sampling_mask, R, calib=sampling["calibration"], seed=seed)
else:
    shape = kspace.sampling_mask.shape
    mask = create_mask(sampling["pattern"], shape, R, calib=sampling["calibration"], seed=seed)
undersampled = kspace.undersample(mask)
write_ismrmrd(snakemake.output.raw, undersampled, subject_id=f"sub-{wc.subject}")
save_mask_figure(mask, snakemake.output.mask, title=f"{wc.acq}, R = {undersampled.acceleration:.2f}")

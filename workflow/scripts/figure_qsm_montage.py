"""Adapter: χ maps of one subject, truth and every reconstruction, with a ppb colour bar."""

from reconstudy.figures import save_figure
from reconstudy.figures.qsm import qsm_montage
from reconstudy.io.nifti import load_image
from reconstudy.progress import configure_logging

configure_logging(snakemake.log[0])
wc, p = snakemake.wildcards, snakemake.params
truth, _ = load_image(snakemake.input.chi)
mask, _ = load_image(snakemake.input.mask)
method = p.qsm_methods[0]
# The fully sampled reference's χ next to the truth in every row: what each R is compared with.
reference, _ = load_image(snakemake.input[f"ref_{method}"])
maps = {(rec, 1.0): reference for rec in p.methods}
maps.update(
    {
        (rec, float(R)): load_image(snakemake.input[f"R{R}_{rec}_{method}"])[0]
        for rec in p.methods
        for R in p.accelerations
    }
)
title = f"sub-{wc.subject}: χ by {method.upper()}-QSM from each reconstruction"
save_figure(qsm_montage(truth, maps, mask > 0, title), snakemake.output.png, snakemake.output.pdf)

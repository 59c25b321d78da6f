"""Adapter: methods x R montage of one subject and acquisition."""

from reconstudy.figures import save_figure
from reconstudy.figures.montage import methods_montage
from reconstudy.io.nifti import load_image
from reconstudy.progress import configure_logging

configure_logging(snakemake.log[0])
wc, p = snakemake.wildcards, snakemake.params
reference, _ = load_image(snakemake.input[f"ref_{wc.acq}"])
mask, _ = load_image(snakemake.input.mask)
recons = {
    (rec, float(R)): load_image(snakemake.input[f"{wc.acq}_R{R}_{rec}"])[0]
    for rec in p.methods
    for R in p.accelerations
}
title = f"sub-{wc.subject} {wc.acq}: reconstructions vs the fully sampled {p.reference} reference"
save_figure(methods_montage(reference, recons, mask, title), snakemake.output.png, snakemake.output.pdf)

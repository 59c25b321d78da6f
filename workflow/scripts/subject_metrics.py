"""Adapter: score every reconstruction of one subject against the fully sampled reference."""

from reconstudy.evaluation import score_subject
from reconstudy.io.atomic import atomic_path
from reconstudy.progress import configure_logging

configure_logging(snakemake.log[0])
p = snakemake.params
references = {acq: snakemake.input[f"ref_{acq}"] for acq in p.acquisitions}
recons = {
    (acq, R, rec): snakemake.input[f"{acq}_R{R}_{rec}"]
    for acq in p.acquisitions
    for R in p.accelerations
    for rec in p.methods[acq]  # learned methods only for recon.dl.acquisitions
}
table = score_subject(p.subject, recons, references, snakemake.input.mask, p.normalise)
with atomic_path(snakemake.output[0]) as tmp:
    table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")

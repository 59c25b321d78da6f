"""Adapter: QSM-challenge metrics and per-structure χ of every χ map of one subject vs truth."""

from reconstudy.evaluation import score_qsm_subject
from reconstudy.io.atomic import atomic_path
from reconstudy.progress import configure_logging

configure_logging(snakemake.log[0])
p = snakemake.params
maps = {(1.0, p.reference, q): snakemake.input[f"ref_{q}"] for q in p.qsm_methods}
maps.update(
    {
        (float(R), rec, q): snakemake.input[f"R{R}_{rec}_{q}"]
        for q in p.qsm_methods
        for R in p.accelerations
        for rec in p.methods
    }
)
metrics, roi = score_qsm_subject(
    p.subject, maps, snakemake.input.chi, snakemake.input.labels, snakemake.input.mask
)
for table, path in ((metrics, snakemake.output.metrics), (roi, snakemake.output.roi)):
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")

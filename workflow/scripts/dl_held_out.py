"""Adapter: DL vs CS per R on the subjects whose anatomy the network never saw (table + figure)."""

import pandas as pd

from reconstudy.figures import save_figure
from reconstudy.figures.held_out import held_out_figure
from reconstudy.held_out import SEEN_COLUMN, held_out_comparison
from reconstudy.progress import configure_logging
from reconstudy.stats.tables import write_table

configure_logging(snakemake.log[0])
p = snakemake.params
table = pd.read_csv(snakemake.input[0], sep="\t", dtype={"subject": str, SEEN_COLUMN: str})
summary = held_out_comparison(table)
columns = set(summary.columns)
units = {c: ("dB" if c.startswith("psnr") else "1") for c in columns if c.startswith(("psnr", "ssim"))}
description = {
    "subjects": "unseen-anatomy subjects (metrics.tsv model_saw_anatomy = no) with DL and CS at every R",
    "claim": "seed-000 claim checked on this row (mean SSIM over the same subjects)",
    "claim_met": "yes / no; empty without subjects",
}
write_table(
    summary,
    snakemake.output.table,
    caption=(
        "DL vs CS on the subjects whose anatomy the DL model never saw (the same subjects for both "
        "methods at every R), with the seed-000 claims DL R=8 >= CS R=4 and DL R=6 > CS R=4 (SSIM)."
    ),
    units={**units, "R": "acceleration factor"} if "R" in columns else None,
    description={k: v for k, v in description.items() if k in columns},
    methods=p.methods,
    simulated=p.simulated,
)
save_figure(held_out_figure(summary), snakemake.output.png, snakemake.output.pdf)

"""Adapter: mean ± sd per method and R, paired Wilcoxon against the reference; TSV, Markdown, LaTeX."""

import pandas as pd

from reconstudy.evaluation import group_summary
from reconstudy.progress import configure_logging
from reconstudy.stats.tables import write_table

configure_logging(snakemake.log[0])
stats = snakemake.params.statistics
table = pd.read_csv(snakemake.input[0], sep="\t", dtype={"subject": str})
summary = group_summary(table, stats["reference_rec"], stats["reference_R"])
write_table(
    summary,
    snakemake.output.table,
    caption="Mean ± sd across subjects and paired Wilcoxon signed-rank tests against the reference method.",
    description={
        "median_difference": "median over subjects of (method - reference)",
        "p_value": "two-sided paired Wilcoxon signed-rank p (exact for small n without ties)",
        "p_fdr": "Benjamini-Hochberg adjusted within each acquisition and metric",
    },
    methods=snakemake.params.methods,
    simulated=snakemake.params.simulated,
)

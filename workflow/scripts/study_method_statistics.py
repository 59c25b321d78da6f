"""Adapter: repeated-measures ANOVA of each image metric over reconstructions (method x R within
subject), then pairwise paired t-tests with a multiplicity correction (seed 004)."""

import pandas as pd

from reconstudy.progress import configure_logging
from reconstudy.stats import posthoc_paired, rm_anova, write_table

configure_logging(snakemake.log[0])
p = snakemake.params
table = pd.read_csv(snakemake.input[0], sep="\t", dtype={"subject": str})
table["condition"] = table["rec"].str.upper() + " R=" + table["R"].map("{:g}".format)
anova, posthoc = [], []
for (acq, metric), part in table.melt(
    id_vars=["subject", "acq", "condition"], value_vars=list(p.metrics), var_name="metric"
).groupby(["acq", "metric"], sort=True):
    design = dict(dv="value", within="condition", subject="subject")
    anova.append(rm_anova(part, **design).assign(acq=acq, metric=metric))
    posthoc.append(posthoc_paired(part, **design, correction=p.correction).assign(acq=acq, metric=metric))
front = ["acq", "metric"]
anova = pd.concat(anova, ignore_index=True)
posthoc = pd.concat(posthoc, ignore_index=True)
write_table(
    anova[front + [c for c in anova.columns if c not in front]],
    snakemake.output.anova,
    simulated=p.simulated,
    caption="One-way repeated-measures ANOVA of each metric over reconstructions (method and R), subjects as "
    "the repeated factor, with Greenhouse-Geisser correction",
    methods=p.methods,
)
write_table(
    posthoc[front + [c for c in posthoc.columns if c not in front]],
    snakemake.output.posthoc,
    simulated=p.simulated,
    caption=f"Pairwise paired t-tests between reconstructions, {p.correction} adjusted within each metric",
    methods=p.methods,
)

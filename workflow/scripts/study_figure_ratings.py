"""Adapter: rating distributions per reconstruction and criterion, pooled over readers (seed 000 Fig. 1)."""

from pathlib import Path

import pandas as pd

from reconstudy.progress import configure_logging
from reconstudy.readers.figures import plot_rating_distributions, rating_distribution
from reconstudy.readers.ratings import read_key
from reconstudy.stats.tables import write_table

configure_logging(snakemake.log[0])
table = pd.read_csv(snakemake.input.ratings, sep="\t", dtype={"subject": str, "reader": str, "case": str})
criteria = read_key(snakemake.input.key)[1].get("criteria")
order = snakemake.params.order
plot_rating_distributions(table, Path(snakemake.output.png).with_suffix(""), order=order, criteria=criteria)
dist = rating_distribution(table, order=order, criteria=criteria)
write_table(
    dist,
    snakemake.output.table,
    simulated="source" in dist and (dist["source"] == "simulated").any(),
    units={"proportion": "fraction"},
    caption="Distribution of ratings per reconstruction and criterion, pooled over readers",
)

"""Adapter: figure of metric vs acceleration per method."""

import pandas as pd

from reconstudy.figures import save_figure
from reconstudy.figures.metrics import metrics_vs_r
from reconstudy.progress import configure_logging

configure_logging(snakemake.log[0])
table = pd.read_csv(snakemake.input[0], sep="\t", dtype={"subject": str})
save_figure(metrics_vs_r(table), snakemake.output.png, snakemake.output.pdf)

"""Adapter: box plots of image metrics per reconstruction across subjects (seed 004 Fig. 3)."""

import pandas as pd

from reconstudy.figures.style import save_figure
from reconstudy.progress import configure_logging
from reconstudy.studies.figures import metric_boxplots

configure_logging(snakemake.log[0])
table = pd.read_csv(snakemake.input[0], sep="\t", dtype={"subject": str})
figure = metric_boxplots(
    table, snakemake.params.metrics, acq=snakemake.wildcards.acq, simulated=snakemake.params.simulated
)
save_figure(figure, snakemake.output.png, snakemake.output.pdf)

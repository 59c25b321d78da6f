"""Adapter: QSM metrics against acceleration per reconstruction method."""

import pandas as pd

from reconstudy.figures import save_figure
from reconstudy.figures.metrics import metrics_vs_r
from reconstudy.progress import configure_logging

configure_logging(snakemake.log[0])
table = pd.read_csv(snakemake.input[0], sep="\t", dtype={"subject": str})
table = table[table["R"] > 1].rename(columns={"qsm": "acq"})  # one panel row per QSM method
figure = metrics_vs_r(table, metrics=("nrmse", "hfen", "ssim"))
save_figure(figure, snakemake.output.png, snakemake.output.pdf)

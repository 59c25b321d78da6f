"""Adapter: figure of metric vs acceleration per method."""

import pandas as pd

from reconstudy.figures import save_figure
from reconstudy.figures.metrics import metrics_vs_r
from reconstudy.held_out import SEEN_COLUMN
from reconstudy.progress import configure_logging

configure_logging(snakemake.log[0])
table = pd.read_csv(snakemake.input[0], sep="\t", dtype={"subject": str, SEEN_COLUMN: str})
figure = metrics_vs_r(table)
if SEEN_COLUMN in table:
    # DL lines average every subject, including anatomies the network was trained on: say so.
    seen = table.loc[table[SEEN_COLUMN] == "yes", "subject"].nunique()
    if seen:
        total = table.loc[table[SEEN_COLUMN].isin(["yes", "no"]), "subject"].nunique()
        figure.text(
            0.01,
            0.0,
            f"DL: {seen} of {total} subjects have an anatomy the network was trained on; "
            "the fair comparison (unseen anatomy only) is dl_held_out.png / dl_held_out.tsv",
            fontsize=7,
            va="top",
        )
save_figure(figure, snakemake.output.png, snakemake.output.pdf)

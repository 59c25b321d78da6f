"""Adapter: Dice per structure per image, and volume fractions by group."""

import pandas as pd

from reconstudy.figures import save_figure
from reconstudy.progress import configure_logging
from reconstudy.segment.figures import dice_figure, volumes_figure

configure_logging(snakemake.log[0])
dice = pd.read_csv(snakemake.input.dice, sep="\t", dtype={"subject": str})
volumes = pd.read_csv(snakemake.input.volumes, sep="\t", dtype={"subject": str})
save_figure(dice_figure(dice), snakemake.output.dice_png, snakemake.output.dice_pdf)
save_figure(volumes_figure(volumes), snakemake.output.volumes_png, snakemake.output.volumes_pdf)

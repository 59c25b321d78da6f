"""Adapter: gather the chunks into exactly N repetitions, summarise, and draw the score box plot
and the feature-importance figure (seed 004 Fig. 6)."""

import pandas as pd

from reconstudy.figures.style import save_figure
from reconstudy.io.atomic import atomic_path
from reconstudy.progress import configure_logging
from reconstudy.stats import gather, summarise, write_table
from reconstudy.studies.figures import feature_importances, prediction_scores

configure_logging(snakemake.log[0])
p = snakemake.params
chunks = [pd.read_csv(path, sep="\t", keep_default_na=False) for path in snakemake.input]
source = chunks[0]["source"].iloc[0]
runs = gather([c.drop(columns="source") for c in chunks], expected=int(p.repetitions)).assign(source=source)
with atomic_path(snakemake.output.runs) as tmp:
    runs.to_csv(tmp, sep="\t", index=False)
summary = summarise(runs.drop(columns="source")).assign(source=source)
write_table(
    summary,
    snakemake.output.summary,
    simulated=p.simulated,
    caption=f"Random-forest diagnosis prediction over {p.repetitions} repetitions of stratified CV: mean, SD "
    "and 95% percentile interval of accuracy, balanced accuracy and impurity importances",
    methods=p.methods,
)
save_figure(
    prediction_scores(runs, simulated=p.simulated),
    snakemake.output.scores,
    snakemake.output.scores_pdf,
)
save_figure(
    feature_importances(summary, simulated=p.simulated),
    snakemake.output.importance,
    snakemake.output.importance_pdf,
)

"""Adapter: one chunk of random-forest CV repetitions; results depend only on (seed, repetition),
so the chunks gathered equal one job running them all."""

import pandas as pd

from reconstudy.io.atomic import atomic_path
from reconstudy.progress import configure_logging
from reconstudy.stats import run_repetitions
from reconstudy.stats.features import positive_labels
from reconstudy.studies.features import feature_columns

configure_logging(snakemake.log[0])
p = snakemake.params
table = pd.read_csv(snakemake.input[0], sep="\t", dtype={"subject": str})
labels = positive_labels(table, p.positive).map({True: "positive", False: "negative"})
start, stop = p.reps
runs = run_repetitions(
    table[feature_columns()],
    labels,
    reps=range(start, stop),
    seed=int(p.seed),
    n_splits=int(p.folds),
    n_estimators=int(p.n_estimators),
)
runs["source"] = table["source"].iloc[0]
with atomic_path(snakemake.output[0]) as tmp:
    runs.to_csv(tmp, sep="\t", index=False)

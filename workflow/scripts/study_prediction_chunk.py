"""Adapter: one chunk of random-forest CV repetitions for every feature source. Results depend
only on (seed, repetition), so the chunks gathered equal one job running them all; every source
uses the same subjects in the same order and the same seeds, so its results pair by repetition."""

import pandas as pd

from reconstudy.io.atomic import atomic_path
from reconstudy.progress import configure_logging
from reconstudy.stats import run_repetitions
from reconstudy.stats.features import positive_labels
from reconstudy.studies.features import feature_columns

configure_logging(snakemake.log[0])
p = snakemake.params
table = pd.read_csv(snakemake.input[0], sep="\t", dtype={"subject": str}, keep_default_na=False)
start, stop = p.reps
subjects = None
frames = []
for source in p.sources:
    part = table[table["source"] == source].sort_values("subject", kind="stable").reset_index(drop=True)
    if subjects is None:
        subjects = list(part["subject"])
    if list(part["subject"]) != subjects or not subjects:
        raise ValueError(
            f"{snakemake.input[0]}: source {source!r} has other subjects than {p.sources[0]!r}; every source "
            "needs the same subjects for paired comparisons"
        )
    labels = positive_labels(part, p.positive).map({True: "positive", False: "negative"})
    runs = run_repetitions(
        part[feature_columns()].astype(float),
        labels,
        reps=range(start, stop),
        seed=int(p.seed),
        n_splits=int(p.folds),
        n_estimators=int(p.n_estimators),
    )
    frames.append(runs.assign(source=source))
with atomic_path(snakemake.output[0]) as tmp:
    pd.concat(frames, ignore_index=True).to_csv(tmp, sep="\t", index=False)

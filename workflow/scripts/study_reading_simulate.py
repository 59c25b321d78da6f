"""Adapter: SIMULATED readers score every packet case, driven by an image metric (docs/reader-study.md)."""

import pandas as pd

from reconstudy.io.atomic import atomic_path
from reconstudy.progress import configure_logging
from reconstudy.readers.ratings import read_key
from reconstudy.readers.simulate import quality_by_case, simulate_ratings

configure_logging(snakemake.log[0])
p = snakemake.params
key, sidecar = read_key(snakemake.input.key)
metrics = pd.read_csv(snakemake.input.metrics, sep="\t", dtype={"subject": str})
metrics = metrics[metrics["acq"] == p.acq].assign(rec=lambda t: t["rec"].str.upper())
quality = quality_by_case(key, metrics, p.metric)
if p.metric in ("nmse", "nrmse"):  # error metrics: lower is better
    quality = -quality
ratings = simulate_ratings(
    quality, seed=int(p.seed), criteria=sidecar.get("criteria"), n_readers=int(p.n_readers)
)
with atomic_path(snakemake.output[0]) as tmp:
    ratings.to_csv(tmp, index=False, lineterminator="\n")

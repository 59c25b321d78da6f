"""Adapter: regional volumes (SynthSeg layout, from the phantom's true label maps), age and sex
per subject: the prediction features until segmentation runs in the workflow."""

import pandas as pd

from reconstudy.progress import configure_logging
from reconstudy.stats import write_table
from reconstudy.studies.features import volume_features

configure_logging(snakemake.log[0])
sheet = pd.DataFrame(snakemake.params.sheet)
table = volume_features(dict(zip(snakemake.params.subjects, snakemake.input.labels)), sheet, source="truth")
write_table(
    table,
    snakemake.output[0],
    simulated=snakemake.params.simulated,
    caption="Prediction features: regional volumes from the phantom's true label maps, age and sex",
    units={c: "mm^3" for c in table.columns if c not in ("subject", "source", "group", "age", "sex")}
    | {"age": "years", "sex": "0 = F, 1 = M"},
)

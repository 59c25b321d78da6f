"""Adapter: prediction features of every source, one row per (source, subject): regional volumes
(SynthSeg layout) from the reference's and each chosen recon's segmentation (the segment rule's
per-subject volume tables) and from the phantom's true label maps, plus age and sex."""

import pandas as pd

from reconstudy.progress import configure_logging
from reconstudy.stats import write_table
from reconstudy.studies.features import segmentation_features, volume_features

configure_logging(snakemake.log[0])
p = snakemake.params
sheet = pd.DataFrame(p.sheet)
tables = []
for source in p.sources:
    if source["kind"] == "truth":
        labels = dict(zip(p.subjects, snakemake.input.labels))
        tables.append(volume_features(labels, sheet, source=source["id"]))
    else:
        volumes = dict(zip(p.subjects, snakemake.input.volumes))
        tables.append(
            segmentation_features(volumes, sheet, R=source["R"], rec=source["rec"], source=source["id"])
        )
table = pd.concat(tables, ignore_index=True)
write_table(
    table,
    snakemake.output[0],
    simulated=p.simulated,
    caption="Prediction features per source: regional volumes of each reconstruction's segmentation "
    "(and of the phantom's true label maps), age and sex",
    units={c: "mm^3" for c in table.columns if c not in ("subject", "source", "group", "age", "sex")}
    | {"age": "years", "sex": "0 = F, 1 = M"},
    description={"source": "reference, R<R>_<rec> (segmentation of that reconstruction) or truth"},
)

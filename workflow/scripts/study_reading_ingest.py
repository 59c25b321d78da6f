"""Adapter: validate the ratings against the packet key and un-blind them (TSV + JSON + MD + LaTeX)."""

from reconstudy.progress import configure_logging
from reconstudy.readers.ratings import read_key, read_ratings, unblind
from reconstudy.stats.tables import write_table

configure_logging(snakemake.log[0])
key, sidecar = read_key(snakemake.input.key)
table = unblind(read_ratings(list(snakemake.input.ratings), key=key, criteria=sidecar.get("criteria")), key)
write_table(
    table,
    snakemake.output.table,
    simulated="source" in table and (table["source"] == "simulated").any(),
    caption=f"Reader ratings, un-blinded ({table['reader'].nunique()} readers, {len(key)} cases)",
    methods="Blinded reading of shuffled, opaque cases; 1-5 Likert scores per criterion.",
    units={"score": "Likert 1-5", "R": "acceleration factor"},
)

"""Adapter: the blinded reading packet (PNG montages, HTML form; DICOM if asked) and its key."""

from reconstudy.progress import configure_logging
from reconstudy.readers import ReadingCase, export_packet

configure_logging(snakemake.log[0])
cases = []
for name, path in snakemake.input.items():
    subject, rec, R = name.split("|")
    # Upper-case method names are what readers' tables and figures show (e.g. "DL R=8").
    cases.append(ReadingCase(subject, rec.upper(), str(path), R=float(R)))
export_packet(
    cases,
    snakemake.output.packet,
    seed=int(snakemake.params.seed),
    criteria=snakemake.params.criteria,
    dicom=bool(snakemake.params.dicom),
    overwrite=True,
    title=snakemake.params.title,
)

"""Adapter: the study's methods paragraph (tools and versions) as Markdown."""

from reconstudy.io.atomic import atomic_path
from reconstudy.progress import configure_logging

configure_logging(snakemake.log[0])
with atomic_path(snakemake.output[0]) as tmp:
    tmp.write_text("# Methods\n\n" + snakemake.params.text + "\n")

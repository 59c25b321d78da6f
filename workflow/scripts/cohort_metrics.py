"""Adapter: gather every subject's metric rows into the tidy cohort table (+ JSON sidecar)."""

from reconstudy.progress import configure_logging
from reconstudy.stats.tables import gather_subject_tables, write_table

configure_logging(snakemake.log[0])
table = gather_subject_tables(snakemake.input, snakemake.params.sheet)
caption = "Image metrics of each reconstruction against the fully sampled reference, in the brain mask."
scored = snakemake.params.scored
if scored is not None:
    # The workflow trained the VarNet on this cohort: keep the test split only.
    table = table[table["subject"].isin(scored)]
    caption += f" Test-split subjects only ({len(scored)}; the VarNet was trained on the others)."
columns = ["subject", "group", "acq", "R", "rec", "psnr", "ssim", "nmse", "nrmse"]
write_table(
    table[columns].sort_values(["acq", "rec", "R", "subject"]),
    snakemake.output.table,
    caption=caption,
    units={"psnr": "dB", "ssim": "1", "nmse": "1", "nrmse": "1", "R": "acceleration factor"},
    methods=snakemake.params.methods,
    simulated=snakemake.params.simulated,
)

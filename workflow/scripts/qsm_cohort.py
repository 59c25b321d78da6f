"""Adapter: cohort QSM metrics and ROI tables, and their group summary against the reference."""


from reconstudy.evaluation import group_summary
from reconstudy.progress import configure_logging
from reconstudy.stats.tables import gather_subject_tables, write_table

configure_logging(snakemake.log[0])
p = snakemake.params
metrics = gather_subject_tables(snakemake.input.metrics, p.sheet)
roi = gather_subject_tables(snakemake.input.roi, p.sheet)
units = {"rmse_ppm": "ppm", "R": "acceleration factor (1 = fully sampled)"}
write_table(
    metrics,
    snakemake.output.metrics,
    units=units,
    simulated=p.simulated,
    caption="QSM-challenge metrics of every χ map against the true χ, in a common mask.",
)
write_table(
    roi,
    snakemake.output.roi,
    units={"mean_ppm": "ppm", "error_ppb": "ppb"},
    simulated=p.simulated,
    caption="χ per structure (voxels, mean, median, sd) and its error against the true mean.",
)
stats = p.statistics
reference_R = stats["reference_R"]
summary = group_summary(
    metrics[metrics["R"] > 1] if reference_R is None else metrics,
    stats["reference_rec"] if stats["reference_rec"] in set(metrics["rec"]) else p.reference,
    reference_R,
    metrics=("rmse_ppm", "nrmse", "hfen", "ssim"),
    by="qsm",
)
write_table(
    summary,
    snakemake.output.summary,
    simulated=p.simulated,
    caption="QSM metrics, mean ± sd across subjects, paired Wilcoxon against the reference method.",
)

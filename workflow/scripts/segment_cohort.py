"""Adapter: cohort segmentation tables, group tests of volumes, regional χ of the reference QSM."""

import pandas as pd

from reconstudy.io.nifti import load_image
from reconstudy.progress import configure_logging
from reconstudy.segment.biomarkers import regional_chi
from reconstudy.segment.study import group_volume_tests, on_grid, structure_fractions
from reconstudy.segment.volumes import TIV
from reconstudy.stats.tables import gather_subject_tables, write_table

configure_logging(snakemake.log[0])
p = snakemake.params
groups = pd.DataFrame(p.sheet)
volumes = gather_subject_tables(snakemake.input.volumes, p.sheet)
dice = gather_subject_tables(snakemake.input.dice, p.sheet)
fractions = structure_fractions(volumes)
tests = group_volume_tests(fractions, test=p.test)
write_table(
    volumes,
    snakemake.output.volumes,
    units={TIV: "mm^3", "R": "acceleration factor (1 = fully sampled)"},
    description={"quality_flags": "quality flags of the segmentation ('' = none)"},
    simulated=p.simulated,
    caption="Regional volumes (SynthSeg layout, mm^3) of every segmented T1w image and of the true labels.",
)
write_table(
    dice,
    snakemake.output.dice,
    description={"against": "truth = phantom labels; reference = segmentation of the fully sampled image"},
    simulated=p.simulated,
    caption="Dice per structure of every segmentation against phantom truth and the reference segmentation.",
)
write_table(
    tests,
    snakemake.output.tests,
    description={"change_percent": "100 (mean impaired - mean control) / mean control of volume / ICV"},
    simulated=p.simulated,
    caption="Impaired vs control volume fractions of ICV, per image and structure (BH within image).",
)

rows = []
for subject in groups["subject"]:
    if f"chi_{subject}" not in snakemake.input.keys():
        continue
    chi, chi_affine = load_image(snakemake.input[f"chi_{subject}"])
    sources = {"segmentation": f"labels_{subject}", "truth": f"truth_{subject}"}
    for source, key in sources.items():
        if key not in snakemake.input.keys():
            continue
        labels, affine = load_image(snakemake.input[key])
        table = regional_chi(chi, on_grid(labels, affine, chi.shape, chi_affine), mask=chi != 0)
        rows.append(table.assign(subject=subject, labels=source, qsm=p.qsm))
chi_table = groups.merge(pd.concat(rows), on="subject") if rows else pd.DataFrame(columns=["subject"])
write_table(
    chi_table,
    snakemake.output.chi,
    simulated=p.simulated,
    caption="χ per structure of the reference QSM map, in the segmented and in the true labels (ppm).",
)

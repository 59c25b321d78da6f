"""Adapter: gather every subject's metric rows into the tidy cohort table (+ JSON sidecar)."""

import json

from reconstudy.held_out import SEEN_COLUMN, mark_seen_anatomy, trained_anatomies
from reconstudy.progress import configure_logging
from reconstudy.stats.tables import gather_subject_tables, write_table

configure_logging(snakemake.log[0])
p = snakemake.params
table = gather_subject_tables(snakemake.input.tables, p.sheet)
caption = "Image metrics of each reconstruction against the fully sampled reference, in the brain mask."
scored = p.scored
if scored is not None:
    # The workflow trained the network on this cohort: keep the test split only.
    table = table[table["subject"].isin(scored)]
    caption += f" Test-split subjects only ({len(scored)}; the network was trained on the others)."


# Did the DL model's training data hold each subject's anatomy? (a score on a seen anatomy flatters it)
def anatomies_of(path, acq):
    with open(path) as handle:
        return trained_anatomies(json.load(handle), p.anatomies.get(acq))


trained = {}
for key, path in snakemake.input.items():
    if key.startswith("manifest_"):
        acq = key.removeprefix("manifest_")
        trained[(acq, "dl")] = anatomies_of(path, acq)
for key, path in snakemake.input.items():
    if key.startswith("sr_manifest_"):
        # dl_sr runs both networks: it saw an anatomy if either of them did (unknown if either is).
        acq = key.removeprefix("sr_manifest_")
        boost, sharp = trained.get((acq, "dl")), anatomies_of(path, acq)
        trained[(acq, "dl_sr")] = None if boost is None or sharp is None else sorted(set(boost) | set(sharp))
table = mark_seen_anatomy(table, p.anatomies, trained)
columns = ["subject", "group", "acq", "R", "rec", "psnr", "ssim", "nmse", "nrmse", SEEN_COLUMN]
write_table(
    table[columns].sort_values(["acq", "rec", "R", "subject"]),
    snakemake.output.table,
    caption=caption,
    units={"psnr": "dB", "ssim": "1", "nmse": "1", "nrmse": "1", "R": "acceleration factor"},
    description={
        SEEN_COLUMN: "learned methods: yes if the model's training data held the subject's anatomy "
        "(manifest data.train_anatomies, or the anatomies of its train/val subjects), no if it never "
        "saw it; empty for other methods and measured data"
    },
    methods=p.methods,
    simulated=p.simulated,
)

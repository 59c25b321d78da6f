"""Adapter: simulate one subject, write raw k-space (ISMRMRD) and ground-truth maps."""

from pathlib import Path

import numpy as np

from reconstudy.held_out import simulated_anatomy
from reconstudy.io.ismrmrd_io import write_ismrmrd
from reconstudy.phantom import PhantomConfig, simulate_subject, write_truth
from reconstudy.progress import configure_logging
from reconstudy.seeding import derive_seed

configure_logging(snakemake.log[0])
row = snakemake.params.row
label = f"sub-{row['subject']}"
anatomy = simulated_anatomy(row["subject"], row.get("anatomy", ""))
seed = derive_seed(snakemake.params.seed, "simulate", row["subject"])
subject = simulate_subject(
    label, row["group"], anatomy, PhantomConfig.from_dict(snakemake.params.phantom), seed
)
write_truth(subject, Path(snakemake.output.mask).parent, label)
for acq, path in zip(snakemake.params.acquisitions, snakemake.output.raw, strict=True):
    noise_rng = np.random.default_rng(derive_seed(snakemake.params.seed, "noise-scans", row["subject"], acq))
    write_ismrmrd(path, subject.kspace[acq], subject_id=label, rng=noise_rng)

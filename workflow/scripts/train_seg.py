"""Adapter: train the embedded segmenter on label maps (rule train_seg, segmentation.train)."""

import json
from pathlib import Path

from reconstudy.progress import configure_logging
from reconstudy.segment.synth import SynthConfig
from reconstudy.segment.train import TrainConfig, train_and_export

configure_logging(snakemake.log[0])
options = snakemake.params.train
config = TrainConfig(
    label_maps=list(snakemake.input.label_maps),
    steps=options["steps"],
    batch_size=options["batch_size"],
    learning_rate=options["learning_rate"],
    base_channels=options["base_channels"],
    levels=options["levels"],
    seed=snakemake.config["seed"],
    threads=snakemake.threads,
    warmup_steps=options["warmup_steps"],
    init_weights=snakemake.params.init_weights,
    synth=SynthConfig(
        patch=tuple(options["patch"]),
        resize_probability=options["resize_probability"],
        resize_range=options["resize_range"],
        harmonise_probability=options["harmonise_probability"],
        atrophy_probability=options["atrophy_probability"],
        atrophy_max=options["atrophy_max"],
        ventricle_growth_max=options["ventricle_growth_max"],
    ),
)
# The checkpoint folder is keyed by the run: an interrupted (or lengthened) job resumes its own
# run, a changed config starts afresh instead of refusing the old checkpoint.
out = Path(snakemake.output.manifest).parent
checkpoint = out.with_suffix(".work") / config.run_key() / "checkpoint.pt"
train_and_export(
    config,
    out,
    checkpoint_path=checkpoint,
    device=snakemake.params.device,
    max_minutes=options["max_minutes"],
    workers=options["workers"],
    validate=options["validate"],
    retrain="snakemake --cores N results/models/segmenter/manifest.json (segmentation.train: "
    + json.dumps(options, sort_keys=True)
    + ")",
)

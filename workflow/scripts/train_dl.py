"""Adapter: train the DL network (recon.dl.train_config) of one acquisition (rule train_dl)."""

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path

import torch

from reconstudy.commands.train import load_config
from reconstudy.io.readers import read_kspace
from reconstudy.progress import configure_logging
from reconstudy.recon.dl.io import save_model
from reconstudy.training.loop import train
from reconstudy.training.sheet import volumes_from_kspace

configure_logging(snakemake.log[0])
log = logging.getLogger("reconstudy")
torch.set_num_threads(max(1, snakemake.threads))
acq, device, max_minutes = snakemake.params.acq, snakemake.params.device, snakemake.params.max_minutes
settings = load_config(snakemake.input.train_config)
config = settings["train"]
# Train on the study's own undersampling: its pattern and calibration region.
config.pattern = snakemake.params.pattern
config.calibration = int(snakemake.params.calibration)

roles = {"train": snakemake.params.train, "val": snakemake.params.val}
volumes = {}
for role, names in roles.items():
    kspaces = []
    for subject in names:
        path = snakemake.input[f"{role}_{subject}"]
        log.info("train_dl %s: reading %s subject %s from %s", acq, role, subject, path)
        kspaces.append(read_kspace(path))
    volumes[role] = volumes_from_kspace(
        kspaces, [f"sub-{s}_{acq}" for s in names], coil_map_calibration=config.coil_map_calibration()
    )
    log.info("train_dl %s: %d %s volume(s)", acq, len(volumes[role]), role)

# The checkpoint folder is keyed by the run's config and subjects: a changed fold never resumes
# from another fold's weights, and an interrupted job resumes its own.
key = json.dumps({"config": asdict(config), "subjects": roles}, sort_keys=True, default=str)
workdir = Path(snakemake.output.model).with_suffix(".work") / hashlib.sha256(key.encode()).hexdigest()[:12]
result = train(
    config,
    volumes["train"],
    volumes["val"],
    workdir,
    device=device,
    resume=True,
    max_minutes=max_minutes,
)
history = result.history
save_model(
    snakemake.output.model,
    result.model,
    training={
        **asdict(config),
        "train_config": str(snakemake.input.train_config),
        "device": device,
        "device_name": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "threads": snakemake.threads,
        "max_minutes": max_minutes,
        "stopped_on_time": result.stopped_on_time,
        "completed_epochs": len(history),
        "completed_steps": sum(h.get("steps", config.steps_per_epoch) for h in history),
        "train_seconds": round(result.train_seconds, 1),
    },
    data={
        "source": "workflow cohort (fully sampled raw k-space)",
        "acquisition": acq,
        "subjects": {**roles, "test": [s for s, v in snakemake.params.splits.items() if v == "test"]},
        "volumes": {role: [v.name for v in vols] for role, vols in volumes.items()},
        "fold": {
            "splits": snakemake.params.splits,
            "rule": "sheet split column; empty cells by a seeded draw (reconstudy.training.sheet)",
            "seed": snakemake.params.seed,
            "val_fraction": snakemake.params.fractions["val"],
            "test_fraction": snakemake.params.fractions["test"],
        },
        "raw": {key: str(path) for key, path in snakemake.input.items() if key != "train_config"},
    },
    validation={
        "best_epoch": result.best_epoch,
        "best": result.best_metrics,
        "history": history,
        "on": "val subjects" if volumes["val"] else "train subjects (no val subject in the split)",
    },
    retrain=f"snakemake --cores 2 {snakemake.output.model}  # with recon.dl.train: true in the config",
)
log.info("wrote %s and %s", snakemake.output.model, snakemake.output.manifest)

"""``reconstudy train-dl``: train a DL reconstruction on a simulated cohort; write it with its manifest."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import time
from dataclasses import asdict, fields
from pathlib import Path

import torch
import yaml

log = logging.getLogger("reconstudy")

DATA_DEFAULTS = {
    "source": "phantom",
    "acquisition": "T1w",
    "train_anatomies": [1, 2],
    "test_anatomy": 3,
    "train_subjects_per_anatomy": 3,
    "val_subjects_per_anatomy": 1,
    "test_subjects": 2,
    "groups": ["control", "impaired", "ms"],
    "seed": 0,
    "phantom": {},
    "cache_dir": None,
}
EVAL_DEFAULTS = {
    "enabled": True,
    "reference": "sense",
    "accelerations": [4, 6, 8, 12],
    "cs": {"accelerations": [4], "options": {}},
}


def register(subparsers):
    parser = subparsers.add_parser(
        "train-dl",
        help="train the DL reconstruction (VarNet or 2x super-resolution) on a simulated cohort",
        description=(
            "Train a deep-learning reconstruction on (kz, ky) planes of simulated subjects made from the "
            "training anatomies, validate every epoch, checkpoint (resumable), then score the held-out "
            "anatomy against CS and write the model with a manifest (sha256, configs, data, metrics). "
            "See docs/deep-learning.md for the config keys."
        ),
    )
    parser.add_argument("--config", required=True, help="YAML with model/training/data/evaluation sections")
    parser.add_argument("--out", required=True, help="model file to write (.pt); its manifest is <name>.json")
    parser.add_argument("--workdir", help="checkpoint folder (default: <out>.work next to the model)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (mixed precision on cuda)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    parser.add_argument(
        "--test-anatomy", type=int, help="override data.test_anatomy (leave-one-anatomy-out fold)"
    )
    parser.add_argument("--train-anatomies", type=int, nargs="+", help="override data.train_anatomies")
    parser.add_argument("--cache-dir", help="override data.cache_dir (cache simulated k-space between folds)")
    parser.add_argument("--scores", help="write the held-out score rows to this TSV")
    parser.set_defaults(func=run)


def load_config(path) -> dict:
    from reconstudy.training.loop import TrainConfig

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config {path} does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"training config {path} must be a mapping with model/training/data/evaluation keys")
    unknown = set(raw) - {"architecture", "model", "training", "data", "evaluation"}
    if unknown:
        raise ValueError(f"training config {path}: unknown top-level key(s) {sorted(unknown)}")
    training = dict(raw.get("training") or {})
    allowed = {f.name for f in fields(TrainConfig)} - {"architecture", "model"}
    bad = set(training) - allowed
    if bad:
        raise ValueError(
            f"training config {path}: unknown training key(s) {sorted(bad)}; allowed: {sorted(allowed)}"
        )
    train_config = TrainConfig(architecture=raw.get("architecture", "VarNet"), **training)
    if raw.get("model"):
        train_config.model = dict(raw["model"])
    data = {**DATA_DEFAULTS, **(raw.get("data") or {})}
    bad = set(data) - set(DATA_DEFAULTS)
    if bad:
        raise ValueError(
            f"training config {path}: unknown data key(s) {sorted(bad)}; allowed: {sorted(DATA_DEFAULTS)}"
        )
    evaluation = {**EVAL_DEFAULTS, **(raw.get("evaluation") or {})}
    return {"train": train_config, "data": data, "evaluation": evaluation}


def run(args: argparse.Namespace) -> int:
    from reconstudy.recon.dl.io import save_model
    from reconstudy.training.cohort import build_cohort, cs_reconstructor
    from reconstudy.training.evaluate import evaluate_subjects, fold_summary
    from reconstudy.training.loop import train

    torch.set_num_threads(max(1, args.threads))
    config = load_config(args.config)
    data, evaluation, train_config = config["data"], config["evaluation"], config["train"]
    if args.test_anatomy is not None:
        # A new held-out anatomy swaps roles within the config's anatomies (leave-one-out folds).
        pool = {int(a) for a in data["train_anatomies"]} | {int(data["test_anatomy"])}
        data["train_anatomies"] = sorted(pool - {args.test_anatomy})
        data["test_anatomy"] = args.test_anatomy
    if args.cache_dir:
        data["cache_dir"] = args.cache_dir
    if args.train_anatomies:
        data["train_anatomies"] = args.train_anatomies
    if data["test_anatomy"] in data["train_anatomies"]:
        raise ValueError(
            f"{args.config}: data.test_anatomy {data['test_anatomy']} is also a training anatomy "
            f"{data['train_anatomies']}; a held-out test needs an unseen anatomy"
        )
    out = Path(args.out)
    workdir = Path(args.workdir) if args.workdir else out.with_suffix(".work")

    started = time.perf_counter()
    cohort = build_cohort(data)
    simulate_s = time.perf_counter() - started
    result = train(
        train_config, cohort.train, cohort.val, workdir, device=args.device, resume=not args.restart
    )

    scores = None
    if evaluation.get("enabled", True) and cohort.test:
        others = {}
        cs = evaluation.get("cs") or {}
        if cs.get("accelerations") and train_config.architecture == "VarNet":
            others["cs"] = (cs["accelerations"], cs_reconstructor(cs.get("options") or {}, args.device))
        sr = (
            int(train_config.model.get("factor", 2))
            if train_config.architecture == "SuperResolution"
            else None
        )
        rows = evaluate_subjects(
            result.model,
            cohort.test,
            evaluation["accelerations"],
            pattern=train_config.pattern,
            calibration=train_config.calibration,
            seed=data["seed"],
            others=others,
            device=args.device,
            sr_factor=sr,
            reference=evaluation["reference"],
        )
        if args.scores:
            from reconstudy.io.atomic import atomic_path

            with atomic_path(args.scores) as tmp:
                rows.to_csv(tmp, sep="\t", index=False)
        scores = fold_summary(rows).to_dict(orient="records")

    epochs = result.history
    validation = {
        "best_epoch": result.best_epoch,
        "best": result.best_metrics,
        "history": epochs,
        "seconds_per_epoch": sum(h["seconds"] for h in epochs) / max(len(epochs), 1),
        "held_out": {"anatomy": data["test_anatomy"], "summary": scores},
    }
    command = f"reconstudy train-dl --config {shlex.quote(str(args.config))} --out {shlex.quote(str(out))}"
    if args.test_anatomy is not None:
        command += f" --test-anatomy {args.test_anatomy}"
    if args.train_anatomies:
        command += " --train-anatomies " + " ".join(str(a) for a in args.train_anatomies)
    manifest = save_model(
        out,
        result.model,
        training={**asdict(train_config), "device": args.device, "threads": args.threads},
        data={**cohort.description, "simulation_seconds": simulate_s},
        validation=validation,
        retrain=command,
    )
    log.info("wrote %s (sha256 %s); held-out summary: %s", out, manifest["sha256"][:12], json.dumps(scores))
    return 0

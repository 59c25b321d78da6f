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
    parser.add_argument(
        "--max-minutes",
        type=float,
        help="wall-clock budget of the training epochs: the learning-rate schedule follows the clock and "
        "training stops cleanly (best weights kept, the manifest says it stopped on time)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes simulating subjects / drawing masks / scoring"
    )
    parser.add_argument(
        "--no-evaluate",
        action="store_true",
        help="skip the held-out evaluation (score later with --evaluate-only)",
    )
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        help="do not train: score the existing model --out on the held-out anatomy (DL vs CS per R) and "
        "write the summary into its manifest (weights and sha256 unchanged)",
    )
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


def _score_part(job):
    model, subjects, start, kwargs, cs, threads = job
    from reconstudy.training.cohort import cs_reconstructor
    from reconstudy.training.evaluate import evaluate_subjects

    torch.set_num_threads(max(1, threads))
    others = {"cs": (cs["accelerations"], cs_reconstructor(cs.get("options") or {}))} if cs else {}
    return evaluate_subjects(model, subjects, others=others, start_index=start, **kwargs)


def held_out_scores(model, cohort, train_config, data, evaluation, device="cpu", workers=1, threads=1):
    """Score ``model`` (and CS) on the cohort's test subjects; one process per subject if ``workers > 1``."""
    import pandas as pd

    cs = evaluation.get("cs") or {}
    cs = cs if cs.get("accelerations") and train_config.architecture != "SuperResolution" else None
    sr = int(train_config.model.get("factor", 2)) if train_config.architecture == "SuperResolution" else None
    kwargs = dict(
        accelerations=evaluation["accelerations"],
        pattern=train_config.pattern,
        calibration=train_config.calibration,
        seed=data["seed"],
        device=device,
        sr_factor=sr,
        reference=evaluation["reference"],
    )
    subjects = cohort.test
    if workers > 1 and len(subjects) > 1 and device == "cpu":
        import multiprocessing

        jobs = [(model, [s], i, kwargs, cs, threads) for i, s in enumerate(subjects)]
        with multiprocessing.get_context("fork").Pool(min(workers, len(jobs))) as pool:
            return pd.concat(pool.map(_score_part, jobs), ignore_index=True)
    return _score_part((model, subjects, 0, kwargs, cs, threads))


def _write_scores(path, rows):
    from reconstudy.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        rows.to_csv(tmp, sep="\t", index=False)


def evaluate_only(args, config) -> int:
    """Score an existing model on the held-out anatomy and record the summary in its manifest."""
    from reconstudy.io.atomic import atomic_path
    from reconstudy.recon.dl.io import load_model, manifest_path
    from reconstudy.training.cohort import build_cohort
    from reconstudy.training.evaluate import fold_summary, held_out_record

    data, evaluation, train_config = config["data"], config["evaluation"], config["train"]
    model, manifest = load_model(args.out, device="cpu")
    arch = manifest["architecture"]
    train_config.architecture, train_config.model = arch["name"], dict(arch["config"])
    trained_on = (manifest.get("data") or {}).get("train_anatomies")
    if trained_on is not None and int(data["test_anatomy"]) in {int(a) for a in trained_on}:
        raise ValueError(
            f"{args.out} was trained on anatomies {trained_on} (manifest {manifest_path(args.out)}); "
            f"anatomy {data['test_anatomy']} is not held out for it: pass --test-anatomy with an unseen one"
        )
    cohort = build_cohort(data, workers=args.workers, roles=("test",))
    if not cohort.test:
        raise ValueError(f"{args.config}: data.test_subjects is 0; nothing to score")
    rows = held_out_scores(
        model.eval(), cohort, train_config, data, evaluation, args.device, args.workers, args.threads
    )
    if args.scores:
        _write_scores(args.scores, rows)
    summary = fold_summary(rows).to_dict(orient="records")
    validation = dict(manifest.get("validation") or {})
    validation["held_out"] = {
        "anatomy": int(data["test_anatomy"]),
        "subjects": [s.name for s in cohort.test],
        "reference": evaluation["reference"],
        "summary": summary,
        "scored_by": f"reconstudy train-dl --config {args.config} --out {args.out} --evaluate-only "
        f"--test-anatomy {data['test_anatomy']}",
    }
    validation.update(held_out_record(rows, data["test_anatomy"], evaluation["reference"]))
    manifest["validation"] = validation
    with atomic_path(manifest_path(args.out)) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    print(fold_summary(rows).round(4).to_string(index=False))
    log.info("held-out summary written to %s", manifest_path(args.out))
    return 0


def run(args: argparse.Namespace) -> int:
    from reconstudy.recon.dl.io import save_model
    from reconstudy.training.cohort import build_cohort
    from reconstudy.training.evaluate import fold_summary, held_out_record
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
    if args.evaluate_only:
        return evaluate_only(args, config)
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise ValueError(f"--max-minutes must be positive, got {args.max_minutes}")
    workdir = Path(args.workdir) if args.workdir else out.with_suffix(".work")
    evaluate = evaluation.get("enabled", True) and not args.no_evaluate

    started = time.perf_counter()
    roles = ("train", "val", "test") if evaluate else ("train", "val")
    cohort = build_cohort(
        data, workers=args.workers, roles=roles, coil_map_calibration=train_config.coil_map_calibration()
    )
    simulate_s = time.perf_counter() - started
    result = train(
        train_config,
        cohort.train,
        cohort.val,
        workdir,
        device=args.device,
        resume=not args.restart,
        max_minutes=args.max_minutes,
        workers=args.workers,
    )

    scores, record = None, {}
    if evaluate and cohort.test:
        rows = held_out_scores(
            result.model, cohort, train_config, data, evaluation, args.device, args.workers, args.threads
        )
        if args.scores:
            _write_scores(args.scores, rows)
        scores = fold_summary(rows).to_dict(orient="records")
        record = held_out_record(rows, data["test_anatomy"], evaluation["reference"])

    epochs = result.history
    validation = {
        "best_epoch": result.best_epoch,
        "best": result.best_metrics,
        "history": epochs,
        "seconds_per_epoch": sum(h["seconds"] for h in epochs) / max(len(epochs), 1),
        "held_out": {"anatomy": data["test_anatomy"], "summary": scores},
        **record,
    }
    command = f"reconstudy train-dl --config {shlex.quote(str(args.config))} --out {shlex.quote(str(out))}"
    if args.max_minutes is not None:
        command += f" --device {args.device} --max-minutes {args.max_minutes:g}"
    if args.test_anatomy is not None:
        command += f" --test-anatomy {args.test_anatomy}"
    if args.train_anatomies:
        command += " --train-anatomies " + " ".join(str(a) for a in args.train_anatomies)
    manifest = save_model(
        out,
        result.model,
        training={
            **asdict(train_config),
            "device": args.device,
            "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
            "threads": args.threads,
            "max_minutes": args.max_minutes,
            "stopped_on_time": result.stopped_on_time,
            "completed_epochs": len(result.history),
            "completed_steps": sum(h.get("steps", train_config.steps_per_epoch) for h in result.history),
            "train_seconds": round(result.train_seconds, 1),
        },
        data={**cohort.description, "simulation_seconds": simulate_s},
        validation=validation,
        retrain=command,
    )
    log.info("wrote %s (sha256 %s); held-out summary: %s", out, manifest["sha256"][:12], json.dumps(scores))
    return 0

"""Training loop for the embedded segmenter, apart from the model (seeded, checkpointed, resumable).

Step ``s`` trains on a batch drawn from ``numpy.random.default_rng([seed, s, i])`` for the
batch's ``i``-th image, so an interrupted run resumed from its checkpoint sees exactly the
images it would have seen. The loss is cross-entropy plus the soft Dice loss averaged over
classes (Milletari et al. 2016), which keeps small structures (amygdala, pallidum) from being
swamped by background. Adam with a linear warm-up and cosine decay of the learning rate.

References:
    Billot B et al. SynthSeg. Medical Image Analysis 86:102789, 2023.
    Milletari F, Navab N, Ahmadi SA. V-Net. 3DV 2016 (soft Dice loss).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from reconstudy.io.atomic import atomic_path
from reconstudy.progress import Progress
from reconstudy.segment import labels as L
from reconstudy.segment.synth import SynthConfig, sample_labels, synthesize_image, training_pair
from reconstudy.segment.unet3d import UNet3D, count_parameters

log = logging.getLogger("reconstudy")


# Fields a run may change and still resume its checkpoint: a longer run, another checkpoint
# interval, other threads. Every other field names a different run.
RESUMABLE_CHANGES = ("steps", "checkpoint_every", "threads")


@dataclass
class TrainConfig:
    """What a training run needs; stored in checkpoints and in the shipped manifest."""

    label_maps: list[str]
    steps: int = 1500
    batch_size: int = 1
    learning_rate: float = 2e-3
    warmup_steps: int = 50
    base_channels: int = 8
    levels: int = 4
    seed: int = 20261126
    threads: int = 2
    checkpoint_every: int = 50
    init_weights: str | None = None
    synth: SynthConfig = field(default_factory=SynthConfig)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["synth"] = self.synth.to_dict()
        return out

    def defining_fields(self) -> dict:
        """The fields that define the run (all but :data:`RESUMABLE_CHANGES`), as JSON types."""
        fields = {k: v for k, v in self.to_dict().items() if k not in RESUMABLE_CHANGES}
        return json.loads(json.dumps(fields))

    def run_key(self) -> str:
        """Short hash of :meth:`defining_fields`: a checkpoint folder named by it is resumed by
        the same run, never by another."""
        return hashlib.sha256(json.dumps(self.defining_fields(), sort_keys=True).encode()).hexdigest()[:12]

    def differences(self, other: TrainConfig) -> list[str]:
        """``field: other -> self`` for each defining field that differs (``synth.x`` for the generator's)."""

        def flat(config):
            fields = config.defining_fields()
            synth = fields.pop("synth")
            return {**fields, **{f"synth.{k}": v for k, v in synth.items()}}

        mine, theirs = flat(self), flat(other)
        return [f"{k}: {theirs[k]!r} -> {mine[k]!r}" for k in sorted(mine) if mine[k] != theirs[k]]

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        data = dict(data)
        synth = data.pop("synth", {}) or {}
        synth = {k: tuple(v) if isinstance(v, list) else v for k, v in synth.items()}
        return cls(**data, synth=SynthConfig(**synth))


def build_model(config: TrainConfig) -> UNet3D:
    return UNet3D(L.N_CLASSES, base_channels=config.base_channels, levels=config.levels)


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy + (1 - mean soft Dice over classes)."""
    ce = F.cross_entropy(logits, target)
    prob = logits.softmax(1)
    onehot = F.one_hot(target, logits.shape[1]).movedim(-1, 1).to(prob.dtype)
    dims = (0, 2, 3, 4)
    inter = (prob * onehot).sum(dims)
    denom = prob.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + 1.0) / (denom + 1.0)
    return ce + (1 - dice.mean())


def learning_rate(config: TrainConfig, step: int, time_fraction: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to 5 %; ``time_fraction`` (elapsed / budget of a
    ``max_minutes`` run) advances the decay when it is further along than the step count."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    progress = max(progress, time_fraction)
    return config.learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def _batch(config: TrainConfig, step: int, device=None):
    """The batch of ``step``: CPU tensors, or tensors synthesised on ``device``."""
    rngs = [np.random.default_rng([config.seed, step, i]) for i in range(config.batch_size)]
    pairs = [training_pair(config.label_maps, config.synth, rng, device=device) for rng in rngs]
    images, targets = zip(*pairs)
    if device is not None:
        return torch.stack(images)[:, None], torch.stack(targets)
    return torch.from_numpy(np.stack(images)[:, None]), torch.from_numpy(np.stack(targets))


class _StepBatches(torch.utils.data.Dataset):
    """Batch ``i`` is the batch of step ``start + i`` (seeded by the step, so workers do not matter)."""

    def __init__(self, config: TrainConfig, start: int):
        self.config, self.start = config, start

    def __len__(self) -> int:
        return max(0, self.config.steps - self.start)

    def __getitem__(self, index: int):
        return _batch(self.config, self.start + index)


def _batches(config: TrainConfig, start: int, workers: int, synth_device=None):
    """Training batches from ``start``: synthesised on ``synth_device`` in this process, else with
    ``workers`` > 0 in parallel CPU processes, else one after the other on the CPU."""
    if synth_device is not None:
        return (_batch(config, step, synth_device) for step in range(start, config.steps))
    if workers <= 0:
        return (_batch(config, step) for step in range(start, config.steps))
    for path in config.label_maps:  # warm the label-map cache before the workers fork
        from reconstudy.segment.synth import load_label_map

        load_label_map(str(path))
    loader = torch.utils.data.DataLoader(
        _StepBatches(config, start),
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        prefetch_factor=4,
        persistent_workers=False,
        pin_memory=torch.cuda.is_available(),
        multiprocessing_context="fork",
    )
    return iter(loader)


def save_checkpoint(path, model, optimizer, step, config: TrainConfig, history):
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": int(step),
        "config": json.dumps(config.to_dict()),
        "history": json.dumps(history),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def train(
    config: TrainConfig,
    checkpoint_path,
    *,
    device: str = "cpu",
    resume: bool = True,
    max_minutes=None,
    workers: int = 0,
    synth_on_device: bool = False,
):
    """Train (or resume) and return ``(model, history)``; checkpoints go to ``checkpoint_path``.

    ``max_minutes`` is a wall-clock budget: the learning rate decays on whichever of steps and
    time is further along, and training stops (checkpointed) when the budget is spent;
    ``history["completed_steps"]`` and ``history["stopped_on_time"]`` say where. ``workers``
    synthesises batches in that many processes (a GPU trains faster than one CPU core
    synthesises); ``synth_on_device`` synthesises on the training device instead (on a GPU the
    generator is then no longer CPU-bound; its per-voxel noise comes from the device's random
    stream, so resume a run in the mode it started). On CUDA the network runs under bfloat16
    autocast.

    ``history`` holds per-step losses (every 10th step), the wall time and steps/s.
    """
    if not config.label_maps:
        raise ValueError("TrainConfig.label_maps: give at least one label map (training_seg_0N.nii.gz)")
    for path in config.label_maps:
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: label map not found (resources/anatomy/training_seg_0N.nii.gz)")
    torch.set_num_threads(max(1, int(config.threads)))
    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    checkpoint_path = Path(checkpoint_path)
    start, history = 0, {"loss": [], "wall_s": 0.0}
    if resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        # through from_dict, so fields added since the checkpoint was written take their defaults
        changed = config.differences(TrainConfig.from_dict(json.loads(state["config"])))
        if changed:
            raise ValueError(
                f"{checkpoint_path}: checkpoint was written with another training config "
                f"({'; '.join(changed)}); delete it or pass the same config to resume"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, history = int(state["step"]), json.loads(state["history"])
        log.info("resuming segmenter training at step %d from %s", start, checkpoint_path)
    elif config.init_weights:
        history["init_sha256"] = load_initial_weights(model, config.init_weights)
        log.info("starting from the weights of %s", config.init_weights)
    log.info("training UNet3D (%d parameters) for %d steps", count_parameters(model), config.steps)
    budget_s = None if max_minutes is None else 60.0 * max_minutes
    progress = Progress(config.steps - start, "segmenter training", unit="step", budget_s=budget_s)
    t0 = time.perf_counter()
    wall0 = history["wall_s"]
    running = None
    stopped_on_time = False
    use_amp = torch.device(device).type == "cuda"
    model.train()
    batches = _batches(config, start, workers, torch.device(device) if synth_on_device else None)
    history["synthesis"] = f"on {device}" if synth_on_device else f"{workers} CPU worker(s)"
    for step in range(start, config.steps):
        fraction = 0.0 if max_minutes is None else (time.perf_counter() - t0) / (60 * max_minutes)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step, fraction)
        images, targets = next(batches)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
            logits = model(images.to(device, non_blocking=True))
        loss = segmentation_loss(logits.float(), targets.to(device, non_blocking=True))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        value = float(loss.detach())
        running = value if running is None else 0.95 * running + 0.05 * value
        if step % 10 == 0:
            history["loss"].append([step, round(value, 5)])
        done = step + 1
        history["wall_s"] = wall0 + time.perf_counter() - t0
        if done % config.checkpoint_every == 0 or done == config.steps:
            save_checkpoint(checkpoint_path, model, optimizer, done, config, history)
        progress.advance(1, loss=running)
        if max_minutes is not None and time.perf_counter() - t0 > 60 * max_minutes and done < config.steps:
            save_checkpoint(checkpoint_path, model, optimizer, done, config, history)
            log.warning("segmenter training stopped at step %d/%d (--max-minutes)", done, config.steps)
            stopped_on_time = True
            break
    else:
        done = config.steps
    del batches  # shuts the synthesis workers down
    history["completed_steps"] = done if config.steps > start else start
    history["stopped_on_time"] = stopped_on_time
    history["max_minutes"] = max_minutes
    history["steps_per_s"] = (history["completed_steps"] / history["wall_s"]) if history["wall_s"] else None
    model.eval()
    return model, history


def load_initial_weights(model: UNet3D, path) -> str:
    """Load a state dict (``segmenter.pt``, or the folder holding it) into ``model``; its sha256.

    Fine-tuning starts from it; the architecture (``--base-channels``, ``--levels``) must match.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "segmenter.pt"
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: initial weights not found (--init-weights: a segmenter.pt or its folder)"
        )
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as err:  # torch raises several types for corrupt or mismatched files
        raise ValueError(
            f"{path}: cannot start from these weights "
            f"({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
            "pass the --base-channels and --levels they were trained with"
        ) from err
    return sha256(path)


def train_and_export(
    config: TrainConfig,
    out_dir,
    *,
    checkpoint_path=None,
    device: str = "cpu",
    max_minutes=None,
    workers: int = 0,
    synth_on_device: bool = False,
    validate: int = 6,
    retrain: str | None = None,
) -> dict:
    """Train (resuming from ``checkpoint_path``, default ``out_dir/checkpoint.pt``), score
    ``validate`` synthetic images and write ``out_dir/segmenter.pt`` + ``manifest.json``.

    ``retrain`` is the command recorded in the manifest. Returns the manifest.
    """
    out_dir = Path(out_dir)
    checkpoint_path = Path(checkpoint_path) if checkpoint_path else out_dir / "checkpoint.pt"
    model, history = train(
        config,
        checkpoint_path,
        device=device,
        max_minutes=max_minutes,
        workers=workers,
        synth_on_device=synth_on_device,
    )
    model = model.cpu()
    extra = {"completed_steps": history.get("completed_steps", config.steps)}
    if retrain:
        extra["retrain"] = retrain
    if validate:
        torch.set_num_threads(max(1, config.threads))
        dice = validation_dice(model, config.label_maps, config.synth, validate, config.seed)
        extra["validation_synthetic_dice"] = {str(k): round(v, 4) for k, v in dice.items()}
        log.info("synthetic validation Dice (mean over structures): %.3f", sum(dice.values()) / len(dice))
    weights, manifest_path = out_dir / "segmenter.pt", out_dir / "manifest.json"
    manifest = export_weights(model, config, history, weights, manifest_path, extra)
    log.info("wrote %s (sha256 %s)", weights, manifest["sha256"][:12])
    return manifest


def validation_dice(model, label_maps, synth: SynthConfig, n: int, seed: int, *, deform: bool = True) -> dict:
    """Mean Dice per evaluated structure on ``n`` synthetic images from ``label_maps`` (seeded)."""
    from reconstudy.segment.dice import dice_per_label

    scores = []
    model.eval()
    for i in range(n):
        rng = np.random.default_rng([seed, 7777, i])
        path = label_maps[i % len(label_maps)]
        labels = sample_labels(path, synth, rng, deform=deform)
        image = synthesize_image(labels, synth, rng)
        with torch.no_grad():
            pred = model(torch.from_numpy(image)[None, None]).argmax(1)[0].numpy()
        scores.append(dice_per_label(L.to_labels(pred), L.fold_labels(labels), L.EVALUATED))
    return {k: float(np.nanmean([s[k] for s in scores])) for k in scores[0]}


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_weights(model, config: TrainConfig, history: dict, weights_path, manifest_path, extra=None):
    """Write the weights (state dict) and a manifest (sha256, architecture, config, metrics)."""
    weights_path, manifest_path = Path(weights_path), Path(manifest_path)
    with atomic_path(weights_path) as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    manifest = {
        "name": "reconstudy embedded segmenter",
        "file": weights_path.name,
        "sha256": sha256(weights_path),
        "architecture": {"class": "reconstudy.segment.unet3d.UNet3D", **model.config},
        "labels": [int(v) for v in L.LABELS],
        "voxel_mm": config.synth.voxel_mm,
        "training": {
            "config": config.to_dict(),
            "label_maps": [Path(p).name for p in config.label_maps],
            "wall_s": round(history.get("wall_s", 0.0), 1),
            "steps_per_s": history.get("steps_per_s"),
            "synthesis": history.get("synthesis"),
            "completed_steps": history.get("completed_steps"),
            "stopped_on_time": history.get("stopped_on_time", False),
            "max_minutes": history.get("max_minutes"),
            "init_sha256": history.get("init_sha256"),
            "machine": f"{platform.machine()} {platform.system()}, torch {torch.__version__}"
            + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""),
            "final_losses": history.get("loss", [])[-5:],
        },
        "retrain": "reconstudy train-seg --label-maps resources/anatomy/training_seg_0{1,2,3}.nii.gz "
        "--steps N --out resources/models/segmenter",
    }
    manifest.update(extra or {})
    with atomic_path(manifest_path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1))
    return manifest

"""The training loop: seeded, resumable, validated every epoch, mixed precision on CUDA only.

Determinism: the model is initialised from ``torch.manual_seed(seed)``; every batch and its
masks come from ``default_rng([seed, epoch, step])`` (see :class:`PlaneSampler`); the learning
rate is a pure function of the step. A checkpoint written after each epoch holds the model,
the optimiser, the best weights so far and the history, so a run that is stopped and resumed
produces the same weights as one that was never interrupted (bit for bit on CPU with the same
thread count).

Wall-clock budget (``max_minutes``, for lent GPUs): the cosine schedule then runs on whichever
of the step count and the elapsed time is further along, so the learning rate has decayed when
the budget ends; training stops cleanly at the budget (the partial epoch is validated and
checkpointed) and :class:`TrainResult` says so. A budgeted run is not bit-reproducible (its
schedule depends on the clock); its manifest records the budget and where it stopped.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from reconstudy.io.atomic import atomic_path
from reconstudy.progress import Progress
from reconstudy.recon.dl.io import build_model
from reconstudy.sampling import centre_box_mask
from reconstudy.training.data import (
    Batch,
    MaskBank,
    PlaneSampler,
    TrainingVolume,
    sampling_mask_function,
)
from reconstudy.training.losses import reconstruction_loss, ssim_2d

log = logging.getLogger("reconstudy")
CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainConfig:
    """Everything that determines a training run (recorded in the model manifest)."""

    architecture: str = "VarNet"
    model: dict = field(
        default_factory=lambda: dict(num_cascades=5, chans=8, num_pools=3, sens_chans=4, sens_pools=2)
    )
    epochs: int = 12
    steps_per_epoch: int = 40
    batch_size: int = 4
    lr: float = 2e-3
    lr_final_fraction: float = 0.05
    accelerations: list = field(default_factory=lambda: [4, 6, 8, 10, 12])
    pattern: str = "poisson"
    calibration: int = 12
    l1_weight: float = 1.0
    ssim_weight: float = 1.0
    val_accelerations: list = field(default_factory=lambda: [4, 8, 12])
    val_planes: int = 8
    seed: int = 0
    min_signal: float = 0.1
    grad_clip: float = 1.0
    mask_bank: int = 0  # > 0: draw training masks from this many pre-drawn masks per R (fast on GPU)

    def coil_map_calibration(self) -> int | None:
        """Calibration width for the training volumes' ESPIRiT maps, or None when the model makes its own."""
        # MoDL and SuperResolution always work with ESPIRiT maps; the VarNet only with coil_maps: espirit.
        if self.architecture in ("MoDL", "SuperResolution") or (
            self.architecture == "VarNet" and self.model.get("coil_maps") == "espirit"
        ):
            return int(self.calibration)
        return None

    def mask_function(self):
        if self.architecture == "SuperResolution":
            factor = int(self.model.get("factor", 2))
            return lambda shape, accel, rng: centre_box_mask(shape, factor)
        return sampling_mask_function(self.pattern, self.calibration)


@dataclass
class TrainResult:
    model: nn.Module  # the weights with the best validation SSIM
    history: list
    best_epoch: int
    best_metrics: dict
    stopped_on_time: bool = False  # the max_minutes budget ended training before config.epochs
    train_seconds: float = 0.0  # wall time of the training epochs (this run and resumed ones)


def learning_rate(config: TrainConfig, step: int, time_fraction: float = 0.0) -> float:
    """Cosine decay from ``lr`` to ``lr * lr_final_fraction`` over all steps.

    ``time_fraction`` (elapsed / budget, for time-budgeted runs) advances the schedule when it is
    further along than the step count.
    """
    total = max(config.epochs * config.steps_per_epoch - 1, 1)
    progress = max(step / total, time_fraction)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return config.lr * (config.lr_final_fraction + (1 - config.lr_final_fraction) * cosine)


def _to_device(batch: Batch, device: torch.device):
    """``(inputs, target, data_range)``: ``inputs`` are the model's positional arguments."""
    inputs = [torch.as_tensor(batch.kspace, device=device), torch.as_tensor(batch.mask, device=device)]
    if batch.maps is not None:
        inputs.append(torch.as_tensor(batch.maps, device=device))
    return (
        inputs,
        torch.as_tensor(batch.target, device=device),
        torch.as_tensor(batch.data_range, device=device),
    )


def evaluate(model: nn.Module, batches: list[Batch], device: torch.device) -> dict:
    """Mean SSIM and normalised L1 of ``model`` on fixed batches, overall and per R."""
    model.eval()
    per_r: dict[str, list[float]] = {}
    l1s = []
    with torch.no_grad():
        for batch, accel in batches:
            inputs, target, data_range = _to_device(batch, device)
            magnitude = model(*inputs).abs()
            ssim = ssim_2d(magnitude, target, data_range)
            per_r.setdefault(f"ssim_R{accel:g}", []).extend(ssim.cpu().tolist())
            l1s.extend(((magnitude - target).abs().mean(dim=(1, 2)) / data_range).cpu().tolist())
    metrics = {key: float(np.mean(values)) for key, values in per_r.items()}
    metrics["ssim"] = float(np.mean([v for values in per_r.values() for v in values]))
    metrics["l1"] = float(np.mean(l1s))
    return metrics


def _validation_set(config: TrainConfig, volumes, mask_fn) -> list[tuple[Batch, float]]:
    sampler = PlaneSampler(volumes, mask_fn, config.val_accelerations, 1, config.seed, config.min_signal)
    accels = config.val_accelerations if config.architecture != "SuperResolution" else [4]
    batches = sampler.fixed_batches(config.val_planes, accels, seed=config.seed + 1)
    return [(b, accels[i % len(accels)]) for i, b in enumerate(batches)]


def train(
    config: TrainConfig,
    train_volumes: list[TrainingVolume],
    val_volumes: list[TrainingVolume],
    workdir,
    device: str = "cpu",
    resume: bool = True,
    stop_after_epoch: int | None = None,
    max_minutes: float | None = None,
    workers: int = 1,
) -> TrainResult:
    """Train a model; checkpoints go to ``workdir/checkpoint.pt``.

    Args:
        config: the run's configuration.
        train_volumes, val_volumes: prepared volumes (see :func:`training_volume`).
        workdir: folder for the checkpoint; an existing checkpoint is resumed if ``resume``.
        device: ``cpu`` or ``cuda``; on CUDA the regulariser convolutions use float16 autocast.
        resume: continue from ``workdir/checkpoint.pt`` when it exists.
        stop_after_epoch: stop early after this epoch (to test resuming).
        max_minutes: wall-clock budget of the training epochs (validation included); the
            learning-rate schedule follows the clock when that is ahead of the step count, and
            training stops cleanly when the budget is spent (see the module docstring).
        workers: processes that pre-draw the mask bank (``config.mask_bank > 0``).
    """
    device = torch.device(device)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # Masks first: the bank's worker processes fork before CUDA is initialised.
    mask_fn = config.mask_function()
    train_mask_fn = mask_fn
    if config.mask_bank > 0 and config.architecture != "SuperResolution":
        shapes = sorted({tuple(v.planes.shape[-2:]) for v in train_volumes})
        train_mask_fn = MaskBank(
            config.pattern,
            config.calibration,
            shapes,
            config.accelerations,
            config.mask_bank,
            config.seed,
            workers,
        )
    sampler = PlaneSampler(
        train_volumes, train_mask_fn, config.accelerations, config.batch_size, config.seed, config.min_signal
    )
    torch.manual_seed(config.seed)
    model = build_model(config.architecture, config.model).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    val_batches = _validation_set(config, val_volumes or train_volumes, mask_fn)

    state = {
        "epoch": 0,
        "history": [],
        "best_state": None,
        "best_epoch": -1,
        "best_ssim": -math.inf,
        "train_seconds": 0.0,
    }
    checkpoint = workdir / CHECKPOINT
    if resume and checkpoint.exists():
        state = _load_checkpoint(checkpoint, config, model, optimiser, scaler)
        log.info("resuming DL training from %s after epoch %d", checkpoint, state["epoch"])

    budget_s = None if max_minutes is None else 60.0 * float(max_minutes)
    clock0, seconds0 = time.perf_counter(), float(state["train_seconds"])
    progress = Progress(
        (config.epochs - state["epoch"]) * config.steps_per_epoch,
        label="DL training",
        unit="batch",
        budget_s=None if budget_s is None else max(budget_s - seconds0, 0.0),
    )
    last_epoch = config.epochs if stop_after_epoch is None else min(config.epochs, stop_after_epoch)
    stopped_on_time = False

    def elapsed() -> float:
        return seconds0 + time.perf_counter() - clock0

    for epoch in range(state["epoch"], last_epoch):
        if budget_s is not None and elapsed() >= budget_s:
            stopped_on_time = True
            break
        model.train()
        start, losses = time.perf_counter(), []
        for step in range(config.steps_per_epoch):
            if budget_s is not None and elapsed() >= budget_s:
                stopped_on_time = True
                break
            fraction = 0.0 if budget_s is None else elapsed() / budget_s
            for group in optimiser.param_groups:
                group["lr"] = learning_rate(config, epoch * config.steps_per_epoch + step, fraction)
            inputs, target, data_range = _to_device(sampler.batch(epoch, step), device)
            optimiser.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                output = model(*inputs)
            loss, parts = reconstruction_loss(
                output, target, data_range, config.l1_weight, config.ssim_weight
            )
            scaler.scale(loss).backward()
            scaler.unscale_(optimiser)
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            scaler.step(optimiser)
            scaler.update()
            losses.append(float(loss.detach()))
            progress.advance(1, epoch=epoch + 1, loss=float(np.mean(losses[-10:])))
        if not losses:
            break
        seconds = time.perf_counter() - start
        metrics = evaluate(model, val_batches, device)
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "seconds": seconds, **metrics}
        if len(losses) < config.steps_per_epoch:
            record["steps"] = len(losses)  # a partial epoch, cut by the time budget
        state["history"].append(record)
        log.info("epoch %d: %s", epoch + 1, ", ".join(f"{k}={v:.4g}" for k, v in record.items()))
        if metrics["ssim"] > state["best_ssim"]:
            state.update(best_ssim=metrics["ssim"], best_epoch=epoch + 1)
            state["best_state"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        state["epoch"] = epoch + 1
        state["train_seconds"] = elapsed()
        _save_checkpoint(checkpoint, config, model, optimiser, scaler, state)
        if stopped_on_time:
            break
    if stopped_on_time:
        log.warning(
            "DL training stopped by the %.1f min budget after epoch %d of %d",
            max_minutes,
            state["epoch"],
            config.epochs,
        )

    best = build_model(config.architecture, config.model)
    best.load_state_dict(state["best_state"] if state["best_state"] is not None else model.state_dict())
    best_metrics = next((h for h in state["history"] if h["epoch"] == state["best_epoch"]), {})
    return TrainResult(
        best.eval(),
        state["history"],
        state["best_epoch"],
        best_metrics,
        stopped_on_time=stopped_on_time,
        train_seconds=float(state["train_seconds"]),
    )


def _save_checkpoint(path, config, model, optimiser, scaler, state):
    payload = {
        "config": asdict(config),
        "model": model.state_dict(),
        "optimiser": optimiser.state_dict(),
        "scaler": scaler.state_dict(),
        **state,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _load_checkpoint(path, config, model, optimiser, scaler) -> dict:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload["config"] != asdict(config):
        raise ValueError(
            f"checkpoint {path} was written with a different training config; delete it or start with "
            "resume=False (`--restart`) to train from scratch"
        )
    model.load_state_dict(payload["model"])
    optimiser.load_state_dict(payload["optimiser"])
    scaler.load_state_dict(payload["scaler"])
    state = {key: payload[key] for key in ("epoch", "history", "best_state", "best_epoch", "best_ssim")}
    state["train_seconds"] = float(payload.get("train_seconds", 0.0))
    return state

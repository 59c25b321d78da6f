"""DL reconstruction speed: inference seconds per volume and training seconds per epoch.

Runs on a synthetic 8-coil volume of the default phantom's size (72 x 88 x 72, planes of
72 x 88) so it needs neither the phantom nor a trained model; the architecture is the shipped
model's (read from its manifest when present). Prints figures and ratios (batch sizes, CPU vs
CUDA when a GPU is present).

Usage:
    python benchmarks/dl_speed.py [--model resources/models/modl_t1w.pt | sr_t1w.pt] [--threads 2]
        [--repeats 2] [--devices cpu,cuda] [--batch-planes 1,8,24] [--train-batch 4]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from reconstudy.recon.dl.inference import dl_reconstruct
from reconstudy.recon.dl.io import build_model, manifest_path
from reconstudy.training.data import training_volume
from reconstudy.training.evaluate import undersample
from reconstudy.training.loop import TrainConfig, train
from reconstudy.training.synthetic import synthetic_kspace

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "resources" / "models" / "modl_t1w.pt"


def architecture(model_path: Path) -> tuple[str, dict]:
    manifest = manifest_path(model_path)
    if manifest.is_file():
        arch = json.loads(manifest.read_text())["architecture"]
        return arch["name"], arch["config"]
    return "VarNet", TrainConfig().model


def time_inference(model, kspace, device, batch_planes, repeats) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        dl_reconstruct(kspace, None, device=device, batch_planes=batch_planes, model=model)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=10, help="steps of the timed training epoch")
    parser.add_argument("--train-batch", type=int, default=4, help="planes per training step")
    parser.add_argument("--devices", default="auto", help="cpu,cuda or auto (cuda when present)")
    parser.add_argument("--batch-planes", default="1,8,24", help="comma list of inference batch sizes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name, config = architecture(args.model)
    torch.manual_seed(0)
    model = build_model(name, config).eval()
    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, "
        f"threads {args.threads}, model {name} {config}"
    )

    full, _ = synthetic_kspace((72, 88, 72), n_coils=8, seed=0)
    from reconstudy.sampling import centre_box_mask, create_mask

    # The SR network takes a low-resolution acquisition (the centre box), the others R = 8.
    if name == "SuperResolution":
        mask = centre_box_mask((72, 88), int(config.get("factor", 2)))
    else:
        mask = create_mask("poisson", (72, 88), 8, calib=12, seed=0)
    kspace = undersample(full, mask)
    if args.devices == "auto":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    if "cuda" in devices:
        print(f"cuda device: {torch.cuda.get_device_name()}")
    sizes = [int(b) for b in args.batch_planes.split(",")]
    results = {}
    for device in devices:
        if device == "cuda":  # first call pays for CUDA context and cuFFT plans
            time_inference(model.to(device), kspace, device, sizes[-1], 1)
        for batch_planes in sizes:
            seconds = time_inference(model.to(device), kspace, device, batch_planes, args.repeats)
            results[(device, batch_planes)] = seconds
            print(
                f"inference {device} batch_planes={batch_planes:2d}: {seconds:7.2f} s/volume "
                f"({72 / seconds:6.1f} planes/s)"
            )
    for device in devices:
        if (device, 1) in results and (device, 8) in results:
            print(f"ratio batch 1 / batch 8 ({device}): {results[(device, 1)] / results[(device, 8)]:.2f}")
    for size in sizes:
        if ("cpu", size) in results and ("cuda", size) in results:
            print(f"ratio cpu / cuda (batch {size}): {results[('cpu', size)] / results[('cuda', size)]:.1f}")

    cfg = TrainConfig(
        architecture=name,
        model=config,
        epochs=1,
        steps_per_epoch=args.train_steps,
        batch_size=args.train_batch,
        val_planes=2,
        val_accelerations=[8],
    )
    volume = training_volume(full, name="synthetic", coil_map_calibration=cfg.coil_map_calibration())
    for device in devices:
        result = train(
            cfg, [volume], [volume], Path("/tmp") / f"dl_speed_{device}", device=device, resume=False
        )
        seconds = result.history[0]["seconds"]
        per_step = seconds / args.train_steps
        default_steps = TrainConfig().steps_per_epoch
        print(
            f"training {device}: {per_step:.3f} s/step (batch {cfg.batch_size}); "
            f"default epoch ({default_steps} steps) ~ {per_step * default_steps:.1f} s"
        )


if __name__ == "__main__":
    main()

"""Coil compression for many-coil arrays: time and image quality against the number of virtual coils.

Data: one simulated subject (``reconstudy.phantom``, T1w, default 72 x 88 x 72 grid at 2.5 mm)
with ``--coils`` receive coils, undersampled at ``--R`` with the study's Poisson mask and
calibration square. For each number of virtual coils V (``all`` = no compression) the script
times the coil maps (``estimate_coil_maps``, 3D ESPIRiT) and SENSE and CS with those maps, and
scores the magnitudes against CG-SENSE of the fully sampled data with every coil, inside the
brain mask (SSIM, NRMSE: ``reconstudy.metrics.image_metrics``).

Usage: ``python benchmarks/coil_compression.py [--coils 32] [--virtual all 16 12 8 6] [--R 6]``
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from reconstudy.metrics import image_metrics
from reconstudy.phantom import PhantomConfig, simulate_subject
from reconstudy.recon.api import estimate_coil_maps, reconstruct
from reconstudy.sampling import create_mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coils", type=int, default=32)
    parser.add_argument("--virtual", nargs="+", default=["all", "16", "12", "8", "6"])
    parser.add_argument("--R", type=float, default=6.0)
    parser.add_argument("--calibration", type=int, default=12)
    args = parser.parse_args()
    subject = simulate_subject("cc01", "control", 1, PhantomConfig.from_dict({"n_coils": args.coils}), 7)
    full, brain = subject.kspace["T1w"], np.asarray(subject.truth["brain_mask"], bool)
    reference = np.abs(reconstruct(full, "sense")[0])
    mask = create_mask("poisson", full.sampling_mask.shape, args.R, calib=args.calibration, seed=11)
    kspace = full.undersample(mask)
    grid = full.data.shape[2:]
    print(f"{platform.machine()} {platform.system()}; {args.coils} coils, grid {grid}, R = {args.R}")
    print("virtual coils | maps s | sense s | cs s | SSIM sense | SSIM cs | NRMSE cs")
    for virtual in args.virtual:
        compression = None if virtual == "all" else int(virtual)
        start = time.perf_counter()
        maps = estimate_coil_maps(kspace, coil_compression=compression)
        times, scores = [time.perf_counter() - start], []
        for method in ("sense", "cs"):
            start = time.perf_counter()
            image = np.abs(reconstruct(kspace, method, coil_maps=maps)[0])
            times.append(time.perf_counter() - start)
            scores.append(image_metrics(image, reference, brain))
        print(
            f"{virtual} | {times[0]:.1f} | {times[1]:.1f} | {times[2]:.1f} | {scores[0]['ssim']:.4f} | "
            f"{scores[1]['ssim']:.4f} | {scores[1]['nrmse']:.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

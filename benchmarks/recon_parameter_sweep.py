"""SENSE and CS parameter sweep on one subject of a finished workflow run (SSIM and CPU time).

Reads the run's undersampled raw data, coil maps, R = 1 reference and brain mask, reconstructs
each (acq, R) with a grid of lam and iteration counts, and prints SSIM in the brain mask against
the reference and the CPU seconds of each reconstruction (one thread gives comparable figures).
The defaults in config/config.yaml were chosen from this output (docs/reconstruction.md).

Usage:
    OMP_NUM_THREADS=1 python benchmarks/recon_parameter_sweep.py --results results --subject 01 --R 4,12
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from reconstudy.io.nifti import load_image
from reconstudy.io.readers import read_kspace
from reconstudy.metrics import ssim
from reconstudy.recon.api import reconstruct

GRID = {
    "sense": {"lam": (0.001, 0.01), "iterations": (5, 10, 20)},
    "cs": {"lam": (0.005, 0.01, 0.02), "iterations": (15, 25, 40)},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--subject", default="01")
    parser.add_argument("--R", default="4,12", help="comma-separated R values of the run")
    parser.add_argument("--acquisitions", default="T1w,mGRE")
    args = parser.parse_args()
    sub = args.results / f"sub-{args.subject}"
    mask = load_image(sub / "truth" / f"sub-{args.subject}_desc-brain_mask.nii.gz")[0] > 0
    print(f"{'acq':5} {'R':>3} {'method':6} {'lam':>6} {'iter':>4} {'SSIM':>7} {'CPU s':>6}")
    for acq in args.acquisitions.split(","):
        ref = load_image(sub / "anat" / f"sub-{args.subject}_acq-R1_rec-sense_part-mag_{acq}.nii.gz")[0]
        ref = ref[None] if ref.ndim == 3 else ref
        maps = np.load(sub / "coils" / f"sub-{args.subject}_part-{acq}_coilmaps.npy")
        for R in args.R.split(","):
            kspace = read_kspace(sub / "raw" / f"sub-{args.subject}_acq-R{R}_{acq}.h5")
            for method, grid in GRID.items():
                for lam, iterations in itertools.product(grid["lam"], grid["iterations"]):
                    start = time.process_time()
                    image = reconstruct(kspace, method, coil_maps=maps, lam=lam, iterations=iterations)
                    seconds = time.process_time() - start
                    score = np.mean([ssim(np.abs(image[e]), ref[e], mask) for e in range(image.shape[0])])
                    row = f"{acq:5} {R:>3} {method:6} {lam:6.3f} {iterations:4d} {score:7.4f} {seconds:6.1f}"
                    print(row, flush=True)


if __name__ == "__main__":
    main()

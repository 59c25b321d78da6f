"""Per-plane (espirit2d) ESPIRiT: map quality against kernel width and calibration box size.

Data: a synthetic ellipsoid head (``reconstudy.training.synthetic``) with known smooth coil
sensitivities, 8 and 32 coils, light complex noise, 40 x 48 x 36 (z, y, x). For each square
calibration box c (kz, ky) and kernel width k, the maps of every readout plane of the hybrid
(x, kz, ky) k-space are compared with the true sensitivities inside the object: the mean
phase-invariant disagreement ``1 - |<S_est, S_true>|`` and the fraction of the object that got
any sensitivity at all. ``*`` marks the width ``reconstudy.recon.coils.kernel_for`` picks.

Usage: ``python benchmarks/espirit2d_kernel.py [--coils 8 32] [--calib 7 8 9 10 12 16 24]``
"""

from __future__ import annotations

import argparse

import numpy as np

from reconstudy.fourier import fftc, ifftc
from reconstudy.recon.coils import centre_region, espirit_maps, kernel_for
from reconstudy.recon.operators import to_centred
from reconstudy.training.synthetic import coil_maps, ellipsoid_volume

SHAPE = (40, 48, 36)  # (z, y, x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coils", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--calib", type=int, nargs="+", default=[7, 8, 9, 10, 12, 16, 24])
    parser.add_argument("--kernels", type=int, nargs="+", default=[3, 4, 5, 6])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    image = ellipsoid_volume(SHAPE, rng)
    inside = np.abs(image) > 0
    print(f"object: {inside.mean():.1%} of a {SHAPE} grid; cells: disagreement / object covered")
    print("coils calib | " + " | ".join(f"k = {k}" for k in args.kernels))
    for n_coils in args.coils:
        truth = coil_maps(SHAPE, n_coils, rng)
        kspace = fftc(truth * image, axes=(-3, -2, -1))
        kspace += 0.002 * (rng.standard_normal(kspace.shape) + 1j * rng.standard_normal(kspace.shape))
        hybrid = np.moveaxis(ifftc(kspace.astype(np.complex64), axes=(-1,)), -1, 0)  # (x, C, kz, ky)
        for calib in args.calib:
            region = centre_region(hybrid, (calib, calib))
            cells = []
            for k in args.kernels:
                if k >= calib:
                    cells.append("-")
                    continue
                maps = np.moveaxis(to_centred(espirit_maps(region, SHAPE[:2], kernel=k)), 0, -1)
                agreement = np.abs((np.conj(maps) * truth).sum(axis=0))[inside]
                covered = (np.abs(maps).sum(axis=0) > 0)[inside].mean()
                mark = "*" if k == kernel_for((calib, calib)) else " "
                cells.append(f"{1 - agreement.mean():.4f} / {covered:.0%}{mark}")
            print(f"{n_coils:5d} {calib:5d} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()

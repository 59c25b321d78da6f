"""Our L1-wavelet CS against BART's ``ecalib`` + ``pics -l1`` on the same k-space and mask.

Data: brain-like images from the SynthSeg label maps in ../shared/data (a fixed random
intensity per label, slightly smoothed, smooth phase), 8 simulated coils, complex Gaussian
noise. 2D: axial slices 256x208. 3D: a 96x112x64 (kz, ky, kx) volume. Masks: our variable-
density Poisson disc with a 24x24 calibration box at R = 4, 6, 8, 12; BART sees the same
zero-filled k-space (``pics`` takes its pattern from the non-zero samples).

For each R both tools run a small lambda sweep; the best lambda by SSIM is reported with its
wall time (coil maps + reconstruction; BART = ``ecalib`` + ``pics`` as two processes). SSIM and
NRMSE are computed on magnitudes inside the head support after a least-squares intensity
scale (BART and we normalise ESPIRiT maps the same way, the fit only removes residual scale).

``--memory`` also measures the peak resident memory (VmHWM) of our 3D path in subprocesses for
several numbers of readout positions nx with a fixed batch and slab.

Installs nothing: needs the ``bart`` executable on PATH (Debian: ``apt-get install bart``).
Usage: ``OMP_NUM_THREADS=2 RECONSTUDY_THREADS=2 python benchmarks/cs_vs_bart.py [--quick] [--memory]``
(see ``--help`` for --no-2d, --no-3d, --accels, --lam-ours, --lam-bart, --no-cs, --regulariser,
--sweep-times, --no-bart, --no-ours, --coil-method: default espirit = one 3D calibration for the
volume, per-plane calibration for the 2D slices)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from reconstudy.fourier import fftc
from reconstudy.io.kspace import Geometry, KSpace
from reconstudy.metrics import nrmse, ssim
from reconstudy.recon import reconstruct
from reconstudy.sampling import create_mask

LABELS = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "synthseg_label_maps"
    / "training_seg_01.nii.gz"
)
OUR_LAMBDAS = (1e-3, 2e-3, 4e-3, 8e-3)
BART_LAMBDAS = (0.00075, 0.0015, 0.003, 0.006)


def write_cfl(stem: Path, array: np.ndarray) -> None:
    """BART's format: ``stem.hdr`` (dims, Fortran order) + ``stem.cfl`` (complex64 column-major)."""
    dims = list(array.shape) + [1] * (16 - array.ndim)
    stem.with_suffix(".hdr").write_text("# Dimensions\n" + " ".join(map(str, dims)) + "\n")
    np.asarray(array, np.complex64).ravel(order="F").tofile(stem.with_suffix(".cfl"))


def read_cfl(stem: Path) -> np.ndarray:
    dims = [int(d) for d in stem.with_suffix(".hdr").read_text().splitlines()[1].split()]
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    return np.fromfile(stem.with_suffix(".cfl"), np.complex64).reshape(dims, order="F")


def brain_volume(shape_zyx, seed=0) -> np.ndarray:
    """Complex brain-like (z, y, x) image: random intensity per label, smoothed, smooth phase."""
    labels = np.asarray(nib.load(str(LABELS)).dataobj).astype(np.int64).transpose(2, 1, 0)  # (z, y, x)
    rng = np.random.default_rng(seed)
    values = np.zeros(int(labels.max()) + 1, np.float32)
    values[1:] = rng.uniform(0.2, 1.0, values.size - 1)
    step = [max(1, s // t) for s, t in zip(labels.shape, shape_zyx)]
    labels = labels[:: step[0], :: step[1], :: step[2]]
    starts = [(s - t) // 2 for s, t in zip(labels.shape, shape_zyx)]
    labels = labels[tuple(slice(a, a + t) for a, t in zip(starts, shape_zyx))]
    image = ndimage.gaussian_filter(values[labels], 0.6)
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape_zyx], indexing="ij")
    phase = 0.6 * grid[0] + 0.4 * grid[1] - 0.3 * grid[-1] ** 2
    return (image * np.exp(1j * phase)).astype(np.complex64)


def coil_maps(n_coils, shape) -> np.ndarray:
    """Smooth coil sensitivities around the object, normalised to sum |S|^2 = 1."""
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    maps = []
    for c in range(n_coils):
        angle = 2 * np.pi * c / n_coils
        centre = [0.0] * (len(shape) - 2) + [1.4 * np.cos(angle), 1.4 * np.sin(angle)]
        dist = sum((g - o) ** 2 for g, o in zip(grid, centre))
        maps.append(np.exp(-dist / 2.5) * np.exp(1j * (angle + 0.5 * grid[-2] * np.cos(angle))))
    maps = np.array(maps)
    return (maps / np.sqrt((np.abs(maps) ** 2).sum(0))).astype(np.complex64)


def simulate(image, n_coils=8, noise=0.003, seed=0):
    maps = coil_maps(n_coils, image.shape)
    kspace = fftc(maps * image, axes=tuple(range(-image.ndim, 0)))
    rng = np.random.default_rng(seed)
    kspace += noise * (rng.standard_normal(kspace.shape) + 1j * rng.standard_normal(kspace.shape))
    return kspace.astype(np.complex64)


def score(recon, truth):
    ref = np.abs(truth)
    support = ndimage.binary_dilation(ref > 0.05, iterations=2)
    mag = np.abs(recon)
    mag = mag * (mag[support] @ ref[support]) / max(mag[support] @ mag[support], 1e-30)
    return ssim(mag, ref, support, data_range=float(ref.max())), nrmse(mag, ref, support)


def run_bart(kspace_bart, lam, workdir: Path, threads=1):
    """``bart ecalib -m1`` + ``bart pics -S -l1 -r lam``; returns image and wall times."""
    write_cfl(workdir / "ksp", kspace_bart)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    subprocess.run(
        ["bart", "ecalib", "-m1", "ksp", "sens"], cwd=workdir, check=True, capture_output=True, env=env
    )
    t1 = time.perf_counter()
    subprocess.run(
        ["bart", "pics", "-S", "-l1", "-r", str(lam), "ksp", "sens", "img"],
        cwd=workdir,
        check=True,
        capture_output=True,
        env=env,
    )
    t2 = time.perf_counter()
    return read_cfl(workdir / "img"), t1 - t0, t2 - t1


def run_ours(kspace: KSpace, lam, threads=2, regulariser="wavelet", coil_method="espirit"):
    os.environ["RECONSTUDY_THREADS"] = str(threads)
    t0 = time.perf_counter()
    image = reconstruct(kspace, "cs", lam=lam, regulariser=regulariser, coil_method=coil_method)[0]
    return image, time.perf_counter() - t0


def bench_2d(accels, workdir, quick, lambdas, opts):
    volume = brain_volume((256, 256, 208))
    slices = [120] if quick else [110, 140]
    for z in slices:
        truth = volume[z]  # (y, x) plane -> our (kz, ky) plane of a single readout position
        ksp = simulate(truth)
        for accel in accels:
            mask = create_mask("poisson", truth.shape, accel, calib=24, seed=[0, z, int(accel * 100)])
            data = ksp * mask
            ours = KSpace(
                data[None, :, :, :, None],
                Geometry.centred((1, *truth.shape[::-1]), (1, 1, 1)),
                sampling_mask=mask,
            )
            bart = np.transpose(data, (1, 2, 0))[:, :, None, :]
            _compare(f"2D z={z} R={accel:g}", truth, ours, bart, workdir, lambdas, opts)


def bench_3d(accels, workdir, lambdas, opts):
    truth = brain_volume((96, 112, 64))
    ksp = simulate(truth)
    for accel in accels:
        mask = create_mask("poisson", truth.shape[:2], accel, calib=24, seed=[0, 1, int(accel * 100)])
        data = ksp * mask[None, :, :, None]
        ours = KSpace(data[None], Geometry.centred(truth.shape[::-1], (1, 1, 1)), sampling_mask=mask)
        bart = np.transpose(data, (3, 2, 1, 0))  # (kx, ky, kz, coil)
        _compare(f"3D 96x112x64 R={accel:g}", truth, ours, bart, workdir, lambdas, opts, bart_axes=(2, 1, 0))


def _compare(label, truth, ours, bart, workdir, lambdas, opts, bart_axes=None):
    """Sweep lambda for quality, then time the best lambda of each tool with 1 and 2 threads.

    The faster thread setting counts for each tool: on a loaded shared machine OpenMP's
    spinning threads can make 2 threads several times slower than 1 (seen for BART here).
    With ``opts.sweep_times`` the best lambda's sweep run is the time (ours 2 threads, BART 1),
    which saves the two reruns per tool. One row per regulariser of ours; ``-`` for a tool
    that was skipped (``--no-bart`` / ``--no-ours``).
    """
    shape = truth.shape

    def sweep(run, lams, tag):
        rows = []
        for lam in lams:
            image, wall = run(lam)
            rows.append((*score(image.reshape(shape), truth), lam, wall))
            print(f"  {label} {tag} lambda={lam:g}: SSIM {rows[-1][0]:.4f} NRMSE {rows[-1][1]:.4f} "
                  f"{wall:.1f} s", file=sys.stderr, flush=True)
        return max(rows, key=lambda r: r[0])

    def bart_image(lam, threads=1):
        image, t_cal, t_pics = run_bart(bart, lam, workdir, threads)
        image = np.squeeze(image)
        return (np.transpose(image, bart_axes) if bart_axes else image), t_cal + t_pics

    best_ours = {}
    for reg in [] if opts.no_ours else opts.regularisers:
        o = sweep(
            lambda lam, reg=reg: run_ours(ours, lam, 2, reg, opts.coil_method), lambdas[0], f"ours {reg}"
        )
        if not opts.sweep_times:
            o = (*o[:3], min(run_ours(ours, o[2], threads, reg, opts.coil_method)[1] for threads in (1, 2)))
        best_ours[reg] = o
    b = None
    if not opts.no_bart:
        b = sweep(bart_image, lambdas[1], "BART")
        if not opts.sweep_times:
            b = (*b[:3], min(bart_image(b[2], threads)[1] for threads in (1, 2)))
    missing = ("-",) * 4
    for reg, o in best_ours.items() or {"-": None}.items():
        o_ssim, o_nrmse, o_lam, t_ours = (f"{o[0]:.4f}", f"{o[1]:.4f}", f"{o[2]:g}", o[3]) if o else missing
        b_ssim, b_nrmse, b_lam, t_bart = (f"{b[0]:.4f}", f"{b[1]:.4f}", f"{b[2]:g}", b[3]) if b else missing
        ratio = f"{t_ours / t_bart:.2f}" if o and b else "-"
        t_o = f"{t_ours:.2f}" if o else "-"
        t_b = f"{t_bart:.2f}" if b else "-"
        name = label if o is None or opts.regularisers == ["wavelet"] else f"{label} ours={reg}"
        print(
            f"| {name} | {o_ssim} | {b_ssim} | {o_nrmse} | {b_nrmse} | {o_lam} | {b_lam} | "
            f"{t_o} | {t_b} | {ratio} |",
            flush=True,
        )


def peak_memory(nx: int, batch: int, slab: int) -> int:
    """VmHWM (kB) of a subprocess reconstructing a (kz, ky, kx) = (96, 96, nx) 8-coil volume."""
    code = (
        "import numpy as np, re\n"
        "from reconstudy.io.kspace import Geometry, KSpace\n"
        "from reconstudy.recon import reconstruct\n"
        "from reconstudy.sampling import create_mask\n"
        f"nx={nx}\n"
        "rng=np.random.default_rng(0)\n"
        "data=(rng.standard_normal((1,8,96,96,nx),np.float32)+1j*rng.standard_normal((1,8,96,96,nx),np.float32))\n"
        "mask=create_mask('poisson',(96,96),4,calib=24,seed=0)\n"
        "data=(data*mask[:,:,None]).astype(np.complex64)\n"
        "ks=KSpace(data,Geometry.centred((nx,96,96),(1,1,1)),sampling_mask=mask)\n"
        "open('/proc/self/clear_refs','w').write('5')\n"  # reset VmHWM: count only the reconstruction
        "base=int(re.search(r'VmRSS:\\s+(\\d+)',open('/proc/self/status').read()).group(1))\n"
        f"reconstruct(ks,'cs',iterations=5,batch_planes={batch},slab_planes={slab})\n"
        "hwm=int(re.search(r'VmHWM:\\s+(\\d+)',open('/proc/self/status').read()).group(1))\n"
        "print(base, hwm)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return tuple(int(v) for v in out.split())


def bart_version() -> str:
    return subprocess.run(["bart", "version"], capture_output=True, text=True).stdout.strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one 2D slice, R = 4 and 8 only, no 3D")
    parser.add_argument("--memory", action="store_true", help="also measure peak memory against nx")
    parser.add_argument("--no-3d", action="store_true", help="skip the 3D volume")
    parser.add_argument("--no-2d", action="store_true", help="skip the 2D slices")
    parser.add_argument("--accels", type=float, nargs="+", help="accelerations (default 4 6 8 12)")
    parser.add_argument("--lam-ours", type=float, nargs="+", help=f"our lambdas (default {OUR_LAMBDAS})")
    parser.add_argument("--lam-bart", type=float, nargs="+", help=f"BART lambdas (default {BART_LAMBDAS})")
    parser.add_argument("--no-cs", action="store_true", help="only the memory measurement")
    parser.add_argument(
        "--regulariser",
        nargs="+",
        default=["wavelet"],
        choices=("wavelet", "wavelet3d", "tv"),
        help="our CS penalties to run, one table row each (default wavelet; wavelet3d is the 3D "
        "wavelet over consecutive readout positions, 2D slices keep the 2D wavelet)",
    )
    parser.add_argument(
        "--sweep-times", action="store_true", help="time = the best lambda's sweep run (no 1/2-thread reruns)"
    )
    parser.add_argument(
        "--coil-method",
        default="espirit",
        choices=("espirit", "espirit3d", "espirit2d", "lowres"),
        help="our coil maps (default espirit: the 3D calibration for the volume, per plane for 2D slices)",
    )
    parser.add_argument("--no-bart", action="store_true", help="run only ours (BART columns '-')")
    parser.add_argument("--no-ours", action="store_true", help="run only BART (our columns '-')")
    args = parser.parse_args(argv)
    args.regularisers = args.regulariser
    if shutil.which("bart") is None and not args.no_bart:
        sys.exit("bart not found on PATH: install it (Debian: apt-get install bart) and rerun")
    if not LABELS.exists():
        sys.exit(f"{LABELS} not found: the benchmark needs ../shared/data/synthseg_label_maps")
    accels = args.accels or ((4, 8) if args.quick else (4, 6, 8, 12))
    lambdas = (tuple(args.lam_ours or OUR_LAMBDAS), tuple(args.lam_bart or BART_LAMBDAS))
    print(
        f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} "
        f"RECONSTUDY_THREADS={os.environ.get('RECONSTUDY_THREADS')}; bart "
        + (bart_version() if shutil.which("bart") else "-")
    )
    print(
        "| case | SSIM ours | SSIM BART | NRMSE ours | NRMSE BART | lambda ours | lambda BART | "
        "time ours (s) | time BART (s) | ratio ours/BART |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        if args.no_cs:
            pass
        elif not args.no_2d:
            bench_2d(accels, Path(tmp), args.quick, lambdas, args)
        if not (args.quick or args.no_3d or args.no_cs):
            bench_3d(accels, Path(tmp), lambdas, args)
    if args.memory:
        print(
            "\n| nx (readout positions) | input k-space (MiB) | RSS before recon (MiB) "
            "| peak VmHWM (MiB) | peak - before (MiB) |"
        )
        print("|---|---|---|---|---|")
        for nx in (32, 64, 128, 256):
            base, hwm = peak_memory(nx, batch=8, slab=16)
            size = 8 * 96 * 96 * nx * 8 / 2**20
            print(
                f"| {nx} | {size:.0f} | {base / 1024:.0f} | {hwm / 1024:.0f} | {(hwm - base) / 1024:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""TGV-QSM speed: seconds per iteration and for 1,000 iterations, compile time, peak memory.

Runs ``reconstudy.qsm.tgv.tgv_solve`` on a brain-sized ellipsoid mask filling an N³ grid
(96³ and 160³; the mask's bounding box is the whole grid, so cropping does not help here),
compiled (torch.compile, inductor) and eager, on the CPU and on CUDA when available. Each
configuration runs in a fresh subprocess so the peak RSS (high-water mark) is its own.

The reference is the original Cython/OpenMP TGV-QSM: about 0.1 s per iteration on 160³ with 2
threads (issue 4), i.e. 100 s for 1,000 iterations and 0.55 GB peak. To judge numbers on a
shared machine, each run also times ``torch.add(x, y, out=z)`` on one volume (quiet 2-core
machine: 0.94 ms at 160³) and prints the iteration time in units of it.

Usage:
    python benchmarks/qsm_speed.py                 # 96 and 160, CPU (+ CUDA), 40 timed iterations
    python benchmarks/qsm_speed.py --sizes 160 --iterations 1000 --modes compiled
    python benchmarks/qsm_speed.py --device cuda --sizes 96,160 --modes compiled,eager --iterations 1000
        (GPU: ~60 s wall on an H200, of which ~30 s are the two inductor/triton compiles)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def run_one(size: int, device: str, mode: str, iterations: int, threads: int) -> dict:
    import numpy as np
    import torch

    from reconstudy.qsm import tgv

    torch.set_num_threads(threads)
    n = size
    g = (np.arange(n) - (n - 1) / 2) / (n / 2 - 4)
    zz, yy, xx = np.meshgrid(g, g, g, indexing="ij", sparse=True)
    mask = (zz**2 + yy**2 + xx**2) <= 1.0
    from reconstudy.qsm.mask import erode

    mask0 = erode(mask, 1)
    f = np.random.default_rng(0).standard_normal((n, n, n)).astype(np.float32) * 0.01
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    x = torch.randn((n, n, n), device=device)
    y, z = torch.randn_like(x), torch.empty_like(x)
    for _ in range(3):
        torch.add(x, y, out=z)
    sync()
    t = time.perf_counter()
    for _ in range(20):
        torch.add(x, y, out=z)
    sync()
    add_ms = (time.perf_counter() - t) / 20 * 1e3
    del x, y, z
    compile_flag = mode == "compiled"
    t = time.perf_counter()
    tgv.tgv_solve(f, mask, mask0, (1.0, 1.0, 1.0), iterations=2, device=device, use_compile=compile_flag)
    sync()
    warmup_s = time.perf_counter() - t
    t = time.perf_counter()
    chi = tgv.tgv_solve(
        f, mask, mask0, (1.0, 1.0, 1.0), iterations=iterations, device=device, use_compile=compile_flag
    )
    sync()
    total = time.perf_counter() - t
    assert np.isfinite(chi).all()
    per_it = total / iterations
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    out = {
        "size": n,
        "device": device,
        "mode": mode,
        "threads": threads,
        "timed_iterations": iterations,
        "s_per_iteration": per_it,
        "s_per_1000": per_it * 1000,
        "warmup_s_incl_compile": warmup_s,
        "add_ms": add_ms,
        "iteration_in_adds": per_it * 1e3 / add_ms,
        "peak_rss_gb": peak_gb,
    }
    if device == "cuda":
        out["peak_cuda_gb"] = torch.cuda.max_memory_allocated() / 1024**3
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="96,160")
    parser.add_argument("--modes", default="compiled,eager")
    parser.add_argument(
        "--devices", "--device", default="auto", help="cpu, cuda, cpu,cuda or auto (cpu, + cuda if available)"
    )
    parser.add_argument("--iterations", type=int, default=40, help="timed iterations (then scaled to 1,000)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        size, device, mode = args.one.split(":")
        print(json.dumps(run_one(int(size), device, mode, args.iterations, args.threads)))
        return 0
    devices = args.devices.split(",")
    if args.devices == "auto":
        import torch

        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for device in devices:
            for mode in args.modes.split(","):
                cmd = [
                    sys.executable,
                    __file__,
                    "--one",
                    f"{size}:{device}:{mode}",
                    "--iterations",
                    str(args.iterations),
                    "--threads",
                    str(args.threads),
                ]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    print(proc.stderr[-2000:], file=sys.stderr)
                    continue
                rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                r = rows[-1]
                print(
                    f"done {size}^3 {device} {mode}: {r['s_per_iteration'] * 1e3:.1f} ms/it", file=sys.stderr
                )
    print(
        f"{'size':>5} {'device':>6} {'mode':>8} {'thr':>3} {'ms/it':>8} {'s/1000 it':>9} {'warmup s':>8} "
        f"{'add ms':>7} {'it/add':>6} {'peak RSS GB':>11} {'peak CUDA GB':>12} {'vs Cython 100 s':>15}"
    )
    for r in rows:
        ratio = 100.0 / r["s_per_1000"] if r["size"] == 160 else float("nan")
        print(
            f"{r['size']:>5} {r['device']:>6} {r['mode']:>8} {r['threads']:>3} "
            f"{r['s_per_iteration'] * 1e3:>8.1f} "
            f"{r['s_per_1000']:>9.1f} {r['warmup_s_incl_compile']:>8.1f} {r['add_ms']:>7.2f} "
            f"{r['iteration_in_adds']:>6.1f} {r['peak_rss_gb']:>11.2f} "
            f"{r.get('peak_cuda_gb', float('nan')):>12.2f} {ratio:>14.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

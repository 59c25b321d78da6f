"""Threads per workflow job: two jobs side by side at 1 thread each vs one after another at 2.

On a 2-core machine a rule's declared ``threads`` decides whether Snakemake runs its jobs in
pairs. This script takes two finished jobs of each rule from an existing run (``make demo``
first), re-runs them with ``snakemake --cores 2 -f A B --set-threads RULE=N`` for N = 2 and
N = 1, alternating, and prints the wall time of the pair and each job's wall and CPU seconds
(Snakemake's benchmark files). It refuses to time a run that would also redo other jobs
(an outdated input), since that would not measure the rule alone.

Usage: ``python benchmarks/job_threads.py [--rules reconstruct undersample ...] [--repeats 2]``
Run it from the repository root after a complete run of the default config; it rewrites the
chosen outputs with identical content (the pipeline is deterministic), which leaves what depends
on them outdated: the next ``snakemake`` run redoes those subjects' later steps.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

from reconstudy.paths import bids

SUBJECTS = ("01", "02")


def anat(subject, R, rec, acq):
    return bids("results", subject, acq, datatype="anat", acq=f"R{R}", rec=rec, part="mag")


# rule -> (target of each subject, that job's benchmark file), downstream rules first: re-running
# an upstream job makes the outputs below it outdated, and a later forced run would redo them.
JOBS = {
    "qsm": (
        lambda s: bids("results", s, "Chimap", datatype="qsm", acq="R12", rec="cs", desc="tgv"),
        lambda s: f"logs/benchmarks/qsm/sub-{s}_desc-tgv.tsv",
    ),
    "reconstruct_dl_sr": (
        lambda s: anat(s, 12, "dl_sr", "T1w"),
        lambda s: f"logs/benchmarks/recon/sub-{s}_rec-dl_sr_T1w.tsv",
    ),
    "reconstruct_dl": (
        lambda s: anat(s, 12, "dl", "T1w"),
        lambda s: f"logs/benchmarks/recon/sub-{s}_rec-dl_T1w.tsv",
    ),
    "reconstruct": (
        lambda s: anat(s, 4, "cs", "mGRE"),
        lambda s: f"logs/benchmarks/recon/sub-{s}_acq-R4_mGRE.tsv",
    ),
    "undersample": (
        lambda s: bids("results", s, "coilmaps", datatype="coils", ext=".npy", part="mGRE"),
        lambda s: f"logs/benchmarks/undersample/sub-{s}_mGRE.tsv",
    ),
}


def snakemake_bin() -> str:
    local = Path(sys.executable).with_name("snakemake")
    return str(local) if local.exists() else "snakemake"


def jobs_planned(targets) -> list[str]:
    """Rules of the jobs a forced run of ``targets`` would execute (dry run)."""
    out = subprocess.run(
        [snakemake_bin(), "-n", "--cores", "2", "-f", *targets],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return re.findall(r"^(?:local)?rule (\w+):", out, flags=re.M)


def job_seconds(path) -> tuple[float, float]:
    header, values = Path(path).read_text().splitlines()[:2]
    row = dict(zip(header.split("\t"), values.split("\t")))
    return float(row["s"]), float(row["cpu_time"])


def time_pair(rule, threads) -> tuple[float, list[tuple[float, float]]]:
    target, benchmark = JOBS[rule]
    targets = [target(s) for s in SUBJECTS]
    start = time.perf_counter()
    subprocess.run(
        [snakemake_bin(), "--cores", "2", "-q", "-f", *targets, "--set-threads", f"{rule}={threads}"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start, [job_seconds(benchmark(s)) for s in SUBJECTS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", nargs="+", default=list(JOBS), choices=list(JOBS))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"{platform.machine()} {platform.system()}, {len(os.sched_getaffinity(0))} cores; pairs of jobs")
    print("| rule | threads per job | pair wall s (each repeat) | job wall / CPU s | pair: 1 / 2 threads |")
    print("|---|---|---|---|---|")
    for rule in [r for r in JOBS if r in args.rules]:  # downstream first
        planned = jobs_planned([JOBS[rule][0](s) for s in SUBJECTS])
        if planned != [rule, rule]:
            sys.exit(f"{rule}: a forced run would also run {planned}; finish the workflow run first")
        walls = {2: [], 1: []}
        jobs = {2: [], 1: []}
        for _ in range(args.repeats):
            for threads in (2, 1):
                wall, each = time_pair(rule, threads)
                walls[threads].append(wall)
                jobs[threads].extend(each)
        ratio = min(walls[1]) / min(walls[2])
        for threads in (2, 1):
            each = ", ".join(f"{w:.1f}/{c:.1f}" for w, c in jobs[threads])
            walls_text = ", ".join(f"{w:.1f}" for w in walls[threads])
            shown = f"{ratio:.2f}x" if threads == 1 else ""
            print(f"| {rule} | {threads} | {walls_text} | {each} | {shown} |")
    print("Pair wall includes Snakemake's own start (DAG, ~8-10 s here), the same both ways.")


if __name__ == "__main__":
    main()

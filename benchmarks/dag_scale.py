"""How long Snakemake takes to plan a large cohort: ``snakemake -n`` on a 1,000-subject sheet.

Builds a cohort sheet of N simulated subjects (groups, ages, sexes and anatomies cycled
deterministically) in a temporary directory, points a config at it that keeps every other default
(the default reconstruction methods and acceleration factors), and times a dry run of the
project's workflow from there. Prints the wall time, the job count and the per-job planning cost,
for the plain workflow and, with ``--profile``, for the same run planned through a profile
(default: the SLURM profile, which also groups small per-subject steps).

Usage::

    .venv/bin/python benchmarks/dag_scale.py                 # 1,000 subjects, plain + SLURM profile
    .venv/bin/python benchmarks/dag_scale.py --subjects 200 --no-profile

The dry run needs no SLURM daemons: the profile's executor only plans here. The acceptance target
(issue 8) is under 60 s for 1,000 subjects on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GROUPS = ("control", "impaired", "ms")


def write_sheet(path: Path, n_subjects: int) -> None:
    """A valid cohort sheet of ``n_subjects`` simulated subjects (``sub-0001`` ...)."""
    width = max(4, len(str(n_subjects)))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["subject", "group", "age", "sex", "anatomy"])
        for i in range(n_subjects):
            writer.writerow([f"{i + 1:0{width}d}", GROUPS[i % 3], 40 + (i * 7) % 45, "FM"[i % 2], 1 + i % 3])


def dry_run(workdir: Path, config: Path, extra: list[str]) -> tuple[float, float, int, str]:
    """Time ``snakemake -n`` in ``workdir``; return (wall s, CPU s, job count, output).

    The CPU time (user + system of the child) is reported next to the wall time because a shared
    machine stretches the wall time; on an idle machine the two are nearly equal (Snakemake plans
    on one core).
    """
    command = [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
        "--configfile", str(config), "--dry-run", "--quiet", "rules", *extra,
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise SystemExit(f"snakemake -n failed ({result.returncode}):\n{output[-3000:]}")
    match = re.search(r"^total\s+(\d+)\s*$", output, flags=re.MULTILINE)
    if match is None:
        raise SystemExit(f"no job count ('total N') in the dry-run output:\n{output[-3000:]}")
    return seconds, cpu, int(match.group(1)), output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=1000, help="cohort size (default 1000)")
    parser.add_argument("--profile", default=str(REPO / "profiles" / "slurm"),
                        help="profile for the second dry run (default profiles/slurm)")
    parser.add_argument("--no-profile", action="store_true", help="only time the plain dry run")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="dag_scale_") as tmp:
        workdir = Path(tmp)
        sheet = workdir / "subjects.tsv"
        write_sheet(sheet, args.subjects)
        config = workdir / "cohort.yaml"
        config.write_text(f"subjects: {sheet}\n")

        runs = [("plain (local executor)", [])]
        if not args.no_profile:
            runs.append((f"--profile {Path(args.profile).name}", ["--profile", args.profile]))
        print(f"DAG scale: snakemake -n, {args.subjects} subjects, default methods and R values")
        for label, extra in runs:
            seconds, cpu, jobs, output = dry_run(workdir, config, extra)
            print(
                f"  {label:28s} wall {seconds:6.1f} s  CPU {cpu:6.1f} s  {jobs:6d} jobs"
                f"  {1e3 * cpu / jobs:5.2f} ms CPU/job"
            )
            table = output[output.index("Job stats:"):].split("\ntotal")[0]
            rule_counts = re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.MULTILINE)
            print(f"  {'':28s} per rule: " + ", ".join(f"{rule} {count}" for rule, count in rule_counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

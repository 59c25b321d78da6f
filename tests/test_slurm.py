"""The workflow through real SLURM daemons (single-node cluster from ``.ci/slurm-cluster.sh``).

Skipped unless ``sinfo`` answers. One module-scoped scenario, checked by several tests:

1. the tiny config runs with ``--profile profiles/slurm`` through real ``sbatch`` jobs, is
   interrupted with SIGINT once some jobs have finished and one is running, and is run again;
2. SLURM's own job records (``scontrol show job``; no accounting database here) show every job
   ran in partition ``cpu`` except GPU rules, which ran in ``gpu`` with a GPU;
3. the rerun finished the remaining jobs without touching outputs that were complete, and left
   no incomplete outputs;
4. the results equal those of a local ``--cores 2`` run;
5. GPU routing and a cluster without GPUs, with a one-rule workflow named like the GPU rules:
   the job sees partition ``gpu`` and a GPU; after restarting the cluster without the GPU
   partition the same job fails at submission with a clear message instead of waiting forever.

Every Snakemake run is bounded (SIGINT at the limit, which makes Snakemake ``scancel`` its jobs).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
CLUSTER_SCRIPT = REPO / ".ci" / "slurm-cluster.sh"
GPU_RULES = ("train_dl", "reconstruct_dl", "recon_dl", "qsm_tgv", "train_seg")
# Short status polling: the CI cluster keeps finished jobs for MinJobAge=300 s, far above 3 x 2 s.
SLURM_ARGS = ("--profile", str(PROFILE), "--slurm-init-seconds-before-status-checks", "2", "--cores", "2")
RUN_LIMIT_S = 480  # per Snakemake run (a hang guard; on 2 idle cores a run takes 1-2 min)


def cluster_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


pytestmark = [
    pytest.mark.slurm,
    pytest.mark.timeout(1800),  # above the sum of the per-run limits, so those clean up first
    pytest.mark.skipif(not cluster_answers(), reason="no SLURM cluster answers (start .ci/slurm-cluster.sh)"),
]


# --------------------------------------------------------------------------------------------
# helpers


def snakemake_command(workdir: Path, *args: str, snakefile: Path = REPO / "Snakefile") -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(workdir), *args]


# The tiny config cut to one acquisition, one R and one method (plus the SENSE reference), run
# up to the cohort metrics table: 10 jobs in 5 SLURM jobs, so that a SLURM run, its rerun and the
# local reference fit the 10-minute budget of CI on 2 cores.
SMALLER = """\
acquisitions: [T1w]
sampling:
  accelerations: [4]
recon:
  methods: [zf]
"""
TARGET = "results/group/metrics.tsv"


def tiny_args(workdir: Path) -> tuple[str, ...]:
    configs = (str(workdir / "tests" / "configs" / "tiny.yaml"), str(workdir / "smaller.yaml"))
    return (TARGET, "--configfile", *configs)


def submitted_job_ids(log: str) -> list[str]:
    return [line.split("SLURM jobid ")[1].split()[0] for line in log.splitlines() if "SLURM jobid " in line]


def run_bounded(command, log_path: Path, limit_s: float, interrupt_when=None) -> tuple[int, str, bool]:
    """Run ``command`` with output to ``log_path``; SIGINT when ``interrupt_when(log)`` or at the limit.

    Returns (exit code, log text, whether the interrupt condition fired). SLURM jobs that are
    still known to SLURM afterwards are cancelled, so a failing test leaves no job behind.
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    fired = False
    with log_path.open("w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        start = time.monotonic()
        interrupted_at = None
        while process.poll() is None:
            time.sleep(1)
            elapsed = time.monotonic() - start
            if interrupted_at is None:
                if interrupt_when is not None and interrupt_when(log_path.read_text()):
                    fired = True
                    interrupted_at = elapsed
                    process.send_signal(signal.SIGINT)
                elif elapsed > limit_s:
                    interrupted_at = elapsed
                    process.send_signal(signal.SIGINT)
            elif elapsed - interrupted_at > 60:
                process.kill()
        code = process.wait()
    log = log_path.read_text()
    ids = submitted_job_ids(log)
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=30)
    return code, log, fired


def slurm_jobs(workdir: Path) -> dict[str, dict[str, str]]:
    """SLURM's records of the jobs run from ``workdir``: {job id: {field: value}}."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True, timeout=30).stdout
    jobs = {}
    for line in out.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if fields.get("WorkDir") == str(workdir):
            jobs[fields["JobId"]] = fields
    return jobs


def running_jobs(workdir: Path) -> int:
    return sum(job.get("JobState") == "RUNNING" for job in slurm_jobs(workdir).values())


def incomplete_outputs(workdir: Path) -> set[Path]:
    """Outputs Snakemake has marked incomplete (its ``.snakemake/incomplete`` records)."""
    root = workdir / ".snakemake" / "incomplete"
    marked = set()
    for path in root.rglob("*") if root.is_dir() else ():
        if path.is_file() and path.name != "migration_underway":
            encoded = "".join(part.lstrip("@") for part in path.relative_to(root).parts)
            marked.add((workdir / base64.urlsafe_b64decode(encoded).decode()).resolve())
    return marked


def result_files(workdir: Path) -> dict[str, float]:
    """Every file under results/ with its modification time."""
    files = (workdir / "results").rglob("*")
    return {str(p.relative_to(workdir)): p.stat().st_mtime for p in files if p.is_file()}


def rule_of(job: dict[str, str]) -> str:
    """The rule (or group) name from the plugin's job comment ``rule_<name>[_wildcards_...]``."""
    return job.get("Comment", "").removeprefix("rule_").split("_wildcards_")[0]


def make_workdir(root: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copytree(REPO / "tests" / "configs", root / "tests" / "configs")
    (root / "smaller.yaml").write_text(SMALLER)
    return root


# --------------------------------------------------------------------------------------------
# the scenario


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    base = tmp_path_factory.mktemp("slurm")
    slurm_dir = make_workdir(base / "slurm")
    local_dir = make_workdir(base / "local")
    records: dict[str, dict[str, str]] = {}

    # 1. SLURM run, interrupted once jobs have finished and another is running.
    def some_done_and_one_running(log: str) -> bool:
        return log.count("Finished jobid") >= 3 and running_jobs(slurm_dir) > 0

    command = snakemake_command(slurm_dir, *tiny_args(slurm_dir), *SLURM_ARGS)
    first_code, first_log, fired = run_bounded(
        command, base / "first.log", RUN_LIMIT_S, interrupt_when=some_done_and_one_running
    )
    records.update(slurm_jobs(slurm_dir))
    marked = incomplete_outputs(slurm_dir)
    before = {
        name: mtime
        for name, mtime in result_files(slurm_dir).items()
        if (slurm_dir / name).resolve() not in marked
    }

    # 2. The same command again finishes the rest. A Snakemake that had to be killed (it did not
    # stop within 60 s of SIGINT) leaves its lock behind; users clear it as docs/cluster.md says
    # (harmless when there is no lock).
    subprocess.run(
        snakemake_command(slurm_dir, *tiny_args(slurm_dir), "--unlock"),
        capture_output=True, text=True, timeout=120,
    )
    second_code, second_log, _ = run_bounded(command, base / "second.log", RUN_LIMIT_S)
    records.update(slurm_jobs(slurm_dir))

    # 3. Local reference run.
    local = subprocess.run(
        snakemake_command(local_dir, *tiny_args(local_dir), "--cores", "2"),
        capture_output=True, text=True, timeout=RUN_LIMIT_S, env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    return {
        "slurm_dir": slurm_dir, "local_dir": local_dir, "records": records, "fired": fired,
        "first": (first_code, first_log), "second": (second_code, second_log), "before": before,
        "local": local,
    }


def test_interrupt_happened_mid_run(scenario):
    code, log = scenario["first"]
    assert scenario["fired"], f"the run ended (code {code}) before it could be interrupted:\n{log[-3000:]}"
    assert code != 0
    assert scenario["before"], "nothing was complete when the run was interrupted"


def test_rerun_finishes_the_remaining_jobs(scenario):
    code, log = scenario["second"]
    assert code == 0, log[-6000:]
    assert "steps (100%) done" in log
    assert not incomplete_outputs(scenario["slurm_dir"])
    assert (scenario["slurm_dir"] / TARGET).is_file()


def test_rerun_does_not_redo_completed_outputs(scenario):
    after = result_files(scenario["slurm_dir"])
    redone = [name for name, mtime in scenario["before"].items() if after.get(name) != mtime]
    assert not redone, f"complete before the interrupt but rewritten by the rerun: {redone[:10]}"
    first_total = re.findall(r"\d+ of (\d+) steps", scenario["first"][1])
    second_total = re.findall(r"\d+ of (\d+) steps", scenario["second"][1])
    assert first_total and second_total
    assert int(second_total[-1]) < int(first_total[-1]), "the rerun planned the whole workflow again"


def test_jobs_ran_through_slurm_in_the_right_partitions(scenario):
    records = scenario["records"]
    assert records, "SLURM has no record of jobs from the test's working directory"
    submitted = set(submitted_job_ids(scenario["first"][1]) + submitted_job_ids(scenario["second"][1]))
    assert submitted <= set(records), f"jobs SLURM forgot (MinJobAge too low?): {submitted - set(records)}"
    states = {job["JobState"] for job in records.values()}
    assert states <= {"COMPLETED", "CANCELLED"}, states
    for job in records.values():
        rule = rule_of(job)
        if rule in GPU_RULES or (rule == "qsm" and job.get("Comment", "").endswith("_tgv")):
            assert job["Partition"] == "gpu", job
            assert "gpu" in job.get("TresPerJob", "") + job.get("TresPerNode", ""), job
        else:
            assert job["Partition"] == "cpu", (rule, job["Partition"])
    # The job logs the plugin keeps: logs/slurm/<rule or group>/.../<jobid>.log
    logs = {p.stem for p in (scenario["slurm_dir"] / "logs" / "slurm").rglob("*.log")}
    assert {i for i, job in records.items() if job["JobState"] == "COMPLETED"} <= logs


def test_results_equal_a_local_run(scenario):
    import nibabel as nib
    import pandas as pd

    local = scenario["local"]
    assert local.returncode == 0, local.stderr[-6000:]
    slurm_dir, local_dir = scenario["slurm_dir"], scenario["local_dir"]
    # The data: tables and images (sidecars and figures carry dates and versions).
    slurm_files = {name for name in result_files(slurm_dir) if name.endswith((".tsv", ".nii.gz"))}
    local_files = {name for name in result_files(local_dir) if name.endswith((".tsv", ".nii.gz"))}
    assert slurm_files == local_files, slurm_files ^ local_files
    compared = 0
    for name in sorted(local_files):
        if name.endswith(".tsv"):
            a = pd.read_csv(local_dir / name, sep="\t")
            b = pd.read_csv(slurm_dir / name, sep="\t")
            pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-5, atol=1e-8, obj=name)
            compared += 1
        elif name.endswith(".nii.gz"):
            a = np.asarray(nib.load(local_dir / name).dataobj)
            b = np.asarray(nib.load(slurm_dir / name).dataobj)
            assert a.shape == b.shape, name
            scale = max(float(np.max(np.abs(a))), 1e-12)
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6 * scale, err_msg=name)
            compared += 1
    assert compared >= 8


# --------------------------------------------------------------------------------------------
# GPU routing and a cluster without GPUs

GPU_SNAKEFILE = """
rule recon_dl:
    output: "gpu_env.txt"
    threads: 1
    resources: mem_mb=200, runtime=2
    shell: "echo partition=$SLURM_JOB_PARTITION cuda=$CUDA_VISIBLE_DEVICES > {output}"
"""


def restart_cluster(no_gpu: bool) -> None:
    env = dict(os.environ, SLURM_NO_GPU="1" if no_gpu else "0")
    subprocess.run(["bash", str(CLUSTER_SCRIPT), "restart"], check=True, timeout=120, env=env)


def test_gpu_rule_gets_the_gpu_partition_and_a_gpu(tmp_path):
    (tmp_path / "Snakefile").write_text(GPU_SNAKEFILE)
    code, log, _ = run_bounded(
        snakemake_command(tmp_path, *SLURM_ARGS, snakefile=tmp_path / "Snakefile"), tmp_path / "run.log", 120
    )
    assert code == 0, log[-4000:]
    assert (tmp_path / "gpu_env.txt").read_text().split() == ["partition=gpu", "cuda=0"]


@pytest.mark.skipif(os.geteuid() != 0, reason="restarting the cluster without GPUs needs root")
def test_gpu_rule_on_a_cluster_without_gpus_fails_clearly(tmp_path):
    (tmp_path / "Snakefile").write_text(GPU_SNAKEFILE)
    restart_cluster(no_gpu=True)
    try:
        sinfo = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=30)
        partitions = sinfo.stdout.split()
        assert "gpu" not in partitions
        start = time.monotonic()
        command = snakemake_command(tmp_path, *SLURM_ARGS, snakefile=tmp_path / "Snakefile")
        code, log, _ = run_bounded(command, tmp_path / "run.log", 120)
        elapsed = time.monotonic() - start
    finally:
        restart_cluster(no_gpu=False)
    assert code != 0
    assert elapsed < 100, f"took {elapsed:.0f} s: the job waited instead of failing"
    assert "Error in rule recon_dl" in log
    assert "SLURM sbatch failed" in log
    assert any(text in log for text in ("invalid partition", "Invalid generic resource")), log[-3000:]
    assert not (tmp_path / "gpu_env.txt").exists()

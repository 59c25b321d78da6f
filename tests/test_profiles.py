"""The SLURM profile without a cluster: it parses, routes GPU rules, and resolves by name.

`snakemake --profile slurm` must work from the repository root (Snakemake looks for a profile
name in the working directory and the user's config directories, not under ``profiles/``), so the
root holds a link ``slurm -> profiles/slurm``. The dry runs below plan jobs with the SLURM executor
without submitting anything.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
GPU_RULES = ("train_dl", "reconstruct_dl", "recon_dl", "reconstruct_dl_sr", "qsm_tgv", "train_seg")
# One rule for every QSM method; its `qsm` wildcard decides (TGV on a GPU, classic on CPU).
GPU_BY_WILDCARD = {"qsm": ("qsm", {"tgv"})}


def load(path: Path) -> dict:
    with path.open() as handle:
        data = yaml.safe_load(handle)
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def evaluate(value, **wildcards):
    """A profile resource as Snakemake evaluates it: quoted strings are Python expressions."""
    if not isinstance(value, str):
        return value
    try:
        return eval(value, {"wildcards": SimpleNamespace(**wildcards)})
    except (NameError, SyntaxError):
        return value


def gpu_requested(resources: dict, **wildcards) -> bool:
    gpu = evaluate(resources.get("gpu", 0), **wildcards)
    return int(gpu or 0) >= 1 or str(resources.get("gres", "")).startswith("gpu")


def expected_partition(rule: str, wildcards: dict) -> str:
    if rule in GPU_RULES:
        return "gpu"
    if rule in GPU_BY_WILDCARD:
        name, values = GPU_BY_WILDCARD[rule]
        return "gpu" if wildcards.get(name) in values else "cpu"
    return "cpu"


def test_profile_parses_with_the_settings_a_cluster_needs():
    profile = load(PROFILE / "config.yaml")
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] == "squeue"  # works without slurmdbd
    assert Path(profile["slurm-logdir"]).parts[:2] == ("logs", "slurm")
    assert profile["default-resources"]["slurm_partition"] == "cpu"
    assert {"mem_mb", "runtime"} <= set(profile["default-resources"])
    assert int(profile["jobs"]) >= 1 and int(profile["latency-wait"]) >= 5


@pytest.mark.parametrize("rule", GPU_RULES)
def test_gpu_rules_go_to_the_gpu_partition_with_one_gpu(rule):
    resources = load(PROFILE / "config.yaml")["set-resources"][rule]
    assert resources["slurm_partition"] == "gpu"
    assert gpu_requested(resources)


@pytest.mark.parametrize(("method", "partition"), [("tgv", "gpu"), ("classic", "cpu")])
def test_qsm_goes_to_the_gpu_only_for_tgv(method, partition):
    resources = load(PROFILE / "config.yaml")["set-resources"]["qsm"]
    assert evaluate(resources["slurm_partition"], qsm=method) == partition
    assert gpu_requested(resources, qsm=method) == (partition == "gpu")


def test_no_cpu_rule_is_sent_to_the_gpu_partition():
    for rule, resources in load(PROFILE / "config.yaml")["set-resources"].items():
        if resources.get("slurm_partition") == "gpu":
            assert rule in GPU_RULES and gpu_requested(resources), rule
        else:
            assert rule in GPU_BY_WILDCARD or "slurm_partition" not in resources, rule


def test_min_job_age_rule_of_thumb_is_respected_by_the_ci_cluster():
    """squeue only reports finished jobs for MinJobAge s: it must cover 3 first-check delays."""
    profile = load(PROFILE / "config.yaml")
    script = (REPO / ".ci" / "slurm-cluster.sh").read_text()
    min_job_age = int(re.search(r"^MinJobAge=(\d+)$", script, flags=re.MULTILINE).group(1))
    assert min_job_age >= 3 * int(profile["slurm-init-seconds-before-status-checks"])


def test_template_has_the_same_keys_and_every_gpu_rule():
    profile = load(PROFILE / "config.yaml")
    template = load(PROFILE / "config.template.yaml")
    assert template["slurm-status-command"] in ("squeue", "sacct")
    assert set(template["default-resources"]) >= {"slurm_account", "slurm_partition", "mem_mb", "runtime"}
    assert set(template["set-resources"]) >= set(GPU_RULES)
    for rule in GPU_RULES:
        assert gpu_requested(template["set-resources"][rule]), rule
    assert gpu_requested(template["set-resources"]["qsm"], qsm="tgv")
    assert not gpu_requested(template["set-resources"]["qsm"], qsm="classic")
    # Stacked on the project profile, the template replaces these mappings as a whole, so it
    # must repeat every entry of the project profile.
    assert set(template["default-resources"]) >= set(profile["default-resources"])
    assert set(template["set-resources"]) >= set(profile["set-resources"])


def test_repository_root_link_points_at_the_profile():
    link = REPO / "slurm"
    assert link.is_symlink(), "the repository root needs the link slurm -> profiles/slurm"
    assert link.resolve() == PROFILE.resolve()
    assert (link / "config.yaml").is_file()


def dry_run(*args: str, cwd: Path, workdir: Path) -> str:
    command = [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
        "--configfile", str(REPO / "tests" / "configs" / "tiny.yaml"), "--dry-run", *args,
    ]
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


def job_blocks(output: str) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """(rule, wildcards, resources) of every job block in a dry-run printout."""

    def pairs(match):
        text = match.group(1) if match else ""
        return dict(item.split("=", 1) for item in text.split(", ") if "=" in item)

    jobs = []
    # Grouped jobs are printed indented under their group: split at every (local)rule line.
    for block in re.split(r"\n(?=\s*(?:local)?rule \w+:)", output):
        rule = re.match(r"\s*(?:local)?rule (\w+):", block)
        resources = re.search(r"^\s+resources: (.*)$", block, flags=re.MULTILINE)
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, flags=re.MULTILINE)
        if rule and resources:
            jobs.append((rule.group(1), pairs(wildcards), pairs(resources)))
    return jobs


@pytest.mark.slow
def test_literal_profile_name_resolves_from_the_repository_root(tmp_path):
    output = dry_run("--profile", "slurm", cwd=REPO, workdir=tmp_path)
    assert re.search(r"Using profiles? slurm\b", output), output[:2000]
    jobs = job_blocks(output)
    assert jobs, "no job blocks in the dry-run output"
    for rule, wildcards, resources in jobs:
        if rule == "all":
            continue
        expected = expected_partition(rule, wildcards)
        assert resources.get("slurm_partition") == expected, (rule, wildcards, resources)
        assert (int(resources.get("gpu", 0)) >= 1) == (expected == "gpu"), (rule, wildcards, resources)
        assert int(resources["mem_mb"]) > 0 and int(resources["runtime"]) > 0, (rule, resources)

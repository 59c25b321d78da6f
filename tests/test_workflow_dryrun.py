"""The workflow's DAG for several configs, and its errors for bad configs and sheets."""

import re

import pytest
import yaml

from conftest import REPO, run_snakemake

CONFIGS = ["tiny", "retrospective_phyllotaxis", "equispaced_mgre"]


def job_counts(stdout: str) -> dict[str, int]:
    table = stdout.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_default_config_dry_run(workdir):
    counts = job_counts(run_snakemake(workdir, "-n", "--cores", "1").stdout)
    # 6 subjects x 2 acquisitions x (4 R x 3 methods + 1 reference)
    assert counts["reconstruct"] == 6 * 2 * (4 * 3 + 1)
    assert counts["undersample"] == 6 * 2 * 4
    assert counts["simulate_subject"] == 6


@pytest.mark.parametrize("name", CONFIGS)
def test_config_matrix_dry_run(workdir, name):
    config = workdir / "tests" / "configs" / f"{name}.yaml"
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", str(config))
    settings = yaml.safe_load(config.read_text())
    counts = job_counts(result.stdout)
    n_acq = len(settings.get("acquisitions", ["T1w", "mGRE"]))
    n_R = len(settings["sampling"]["accelerations"])
    assert counts["undersample"] == counts["simulate_subject"] * n_acq * n_R
    assert counts["reconstruct"] == counts["simulate_subject"] * n_acq * (
        n_R * len(settings["recon"]["methods"]) + 1
    )


def test_retrospective_masks_chain_from_r4(workdir):
    config = workdir / "tests" / "configs" / "retrospective_phyllotaxis.yaml"
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", str(config), "-p")
    # the R=8 undersampling reads the R=4 acquisition, not the fully sampled data
    assert re.search(
        r"input: results/sub-01/raw/sub-01_acq-R4_T1w\.h5\s+output: results/sub-01/raw/sub-01_acq-R8",
        result.stdout,
    )


def write_config(workdir, text):
    path = workdir / "bad.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "recon: {methods: [zf, fancy]}",
            r"recon.methods\[1\]: 'fancy' is not allowed; allowed values: 'zf', 'sense'",
        ),
        (
            "sampling: {accelerations: [0.5, 4]}",
            r"sampling.accelerations\[0\]: 0.5 is too small; it must be >= 1",
        ),
        (
            "sampling: {accelerations: [4], patern: poisson}",
            r"'patern' was unexpected.*known keys here: .*pattern",
        ),
        ("acquisitions: [T2w]", r"acquisitions\[0\]: 'T2w' is not allowed"),
        (
            "sampling: {accelerations: [4, 8], retrospective_from: 6}",
            r"sampling.retrospective_from: 6 must be one of",
        ),
    ],
)
def test_bad_config_is_named(workdir, text, message):
    result = run_snakemake(
        workdir, "-n", "--cores", "1", "--configfile", write_config(workdir, text), check=False
    )
    assert result.returncode != 0
    assert re.search(message, result.stdout + result.stderr), result.stderr[-3000:]
    assert not (workdir / "results").exists()


def test_subject_without_raw_data(workdir):
    sheet = workdir / "sheet.tsv"
    sheet.write_text("subject\tgroup\traw_T1w\n01\tcontrol\t\n02\tcontrol\t/data/02.h5\n")
    config = write_config(workdir, f"subjects: {sheet}\nsimulate: false\nacquisitions: [T1w]\n")
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", config, check=False)
    assert result.returncode != 0
    assert "subjects 01 have no raw data for T1w: fill column raw_T1w" in result.stdout + result.stderr


def test_raw_path_that_does_not_exist(workdir):
    sheet = workdir / "sheet.tsv"
    sheet.write_text("subject\tgroup\traw_T1w\n01\tcontrol\tmissing/sub-01.h5\n")
    config = write_config(workdir, f"subjects: {sheet}\nsimulate: false\nacquisitions: [T1w]\n")
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", config, check=False)
    assert result.returncode != 0
    assert "missing/sub-01.h5" in result.stdout + result.stderr


def test_bad_sheet_rows_are_listed(workdir):
    sheet = workdir / "sheet.tsv"
    sheet.write_text("subject\tgroup\tage\n01\tcontrol\tsixty\nsub_02\tpatient\t40\n01\tms\t50\n")
    config = write_config(workdir, f"subjects: {sheet}\n")
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", config, check=False)
    for expected in [
        "line 2: column age: 'sixty' is not a number",
        "line 3: key group: 'patient' is not allowed",
        "line 3: key subject",
        "subjects listed more than once: 01",
    ]:
        assert expected in result.stdout + result.stderr


def test_lint_is_clean():
    result = run_snakemake(REPO, "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr

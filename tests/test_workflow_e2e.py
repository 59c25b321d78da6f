"""A small complete run of the workflow: simulate -> undersample -> recon -> metrics -> figures -> report."""

import pandas as pd
import pytest

from conftest import run_snakemake

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import shutil

    from conftest import REPO

    workdir = tmp_path_factory.mktemp("tiny")
    shutil.copytree(REPO / "tests" / "configs", workdir / "tests" / "configs")
    config = str(workdir / "tests" / "configs" / "tiny.yaml")
    run_snakemake(workdir, "--cores", "2", "--configfile", config, timeout=1200)
    return workdir, config


def test_tables_have_every_combination(tiny_run):
    workdir, _ = tiny_run
    table = pd.read_csv(workdir / "results" / "group" / "metrics.tsv", sep="\t", dtype={"subject": str})
    assert len(table) == 2 * 2 * 2 * 3  # subjects x acquisitions x R x methods
    assert set(table["group"]) == {"control", "impaired"}
    assert table[["psnr", "ssim", "nmse"]].notna().all().all()
    summary = pd.read_csv(workdir / "results" / "group" / "metrics_summary.tsv", sep="\t")
    assert {"mean", "sd", "p_value", "p_fdr", "reference"} <= set(summary.columns)
    for ext in ("md", "tex", "json"):
        assert (workdir / "results" / "group" / f"metrics_summary.{ext}").stat().st_size > 0


def test_quality_orders_as_expected(tiny_run):
    workdir, _ = tiny_run
    table = pd.read_csv(workdir / "results" / "group" / "metrics.tsv", sep="\t")
    means = table.groupby(["acq", "rec", "R"])["ssim"].mean()
    for acq in ("T1w", "mGRE"):
        for rec in ("zf", "sense", "cs"):
            assert means[(acq, rec, 4.0)] > means[(acq, rec, 8.0)], (acq, rec)
        for R in (4.0, 8.0):
            assert means[(acq, "sense", R)] > means[(acq, "zf", R)], (acq, R)


def test_figures_and_report(tiny_run):
    workdir, config = tiny_run
    figures = workdir / "results" / "figures"
    for name in (
        "metrics_vs_R.png",
        "metrics_vs_R.pdf",
        "montage_sub-01_T1w.png",
        "montage_sub-01_mGRE.png",
        "qsm_montage_sub-01.png",
    ):
        assert (figures / name).stat().st_size > 5000, name
    run_snakemake(workdir, "--cores", "1", "--configfile", config, "--report", str(workdir / "report.html"))
    assert "metrics_vs_R.png" in (workdir / "report.html").read_text(errors="ignore")


def test_rerun_has_nothing_to_do(tiny_run):
    workdir, config = tiny_run
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", config)
    assert "Nothing to be done" in result.stdout + result.stderr


def test_segmentation_outputs(tiny_run):
    workdir, _ = tiny_run
    group = workdir / "results" / "group"
    dice = pd.read_csv(group / "segmentation_dice.tsv", sep="\t", dtype={"subject": str})
    assert set(dice["subject"]) == {"01", "02"}
    assert dice["dice"].between(0, 1).all()
    truth = dice[(dice["against"] == "truth") & (dice["image"] == "reference")]
    assert truth.groupby("structure")["dice"].mean().mean() > 0.6  # 0.81 measured on this 5 mm grid
    tests = pd.read_csv(group / "segmentation_group_tests.tsv", sep="\t")
    assert {"hippocampus", "amygdala"} <= set(tests["structure"].str.lower())
    for name in ("segmentation_dice.png", "segmentation_volumes.png"):
        assert (workdir / "results" / "figures" / name).stat().st_size > 5000, name

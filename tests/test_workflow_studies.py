"""A tiny run of the study rules: simulated readers, metric statistics, chunked prediction."""

import shutil

import pandas as pd
import pytest

from conftest import REPO, run_snakemake

pytestmark = pytest.mark.slow

SHEET = "subject\tgroup\tage\tsex\tanatomy\n01\tcontrol\t60\tF\t1\n02\timpaired\t70\tM\t2\n"
SHEET += "03\tcontrol\t55\tM\t3\n04\timpaired\t72\tF\t1\n"
STUDY = """
acquisitions: [T1w]
sampling: {accelerations: [4, 8]}
recon: {methods: [zf, sense]}
qsm: {methods: []}
studies:
  name: tiny_study
  readers: {enabled: true, n_readers: 2, reference: {rec: sense, R: 4}}
  method_stats: {enabled: true}
  prediction: {enabled: true, repetitions: 5, chunk_size: 2, folds: 2, n_estimators: 10}
"""


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("study")
    shutil.copytree(REPO / "tests" / "configs", workdir / "tests" / "configs")
    (workdir / "sheet.tsv").write_text(SHEET)
    (workdir / "study.yaml").write_text(f"subjects: {workdir / 'sheet.tsv'}\n" + STUDY)
    configs = [str(workdir / "tests" / "configs" / "tiny.yaml"), str(workdir / "study.yaml")]
    run_snakemake(workdir, "--cores", "2", "--configfile", *configs, timeout=1200)
    return workdir, configs


def test_reader_tables_and_figure(study_run):
    workdir, _ = study_run
    study = workdir / "results" / "study"
    ratings = pd.read_csv(study / "reading" / "ratings.tsv", sep="\t")
    assert len(ratings) == 4 * 4 * 2 * 3  # subjects x cases x readers x criteria
    assert set(ratings["source"]) == {"simulated"}
    tests = pd.read_csv(study / "tables" / "reader_wilcoxon.tsv", sep="\t")
    assert set(tests["reader"]) == {"sim-R1", "sim-R2", "pooled"}
    assert "SENSE R=4" not in set(tests["label"])  # the reference is not tested against itself
    kappa = pd.read_csv(study / "tables" / "reader_kappa.tsv", sep="\t")
    assert set(kappa["agreement"]) == {"inter-rater", "inter-method"}
    for ext in ("md", "tex", "json"):
        assert (study / "tables" / f"reader_wilcoxon.{ext}").stat().st_size > 0
    assert (study / "figures" / "rating_distributions.png").stat().st_size > 10000
    assert (study / "reading" / "packet" / "index.html").exists()


def test_prediction_gathers_exactly_n_repetitions(study_run):
    workdir, _ = study_run
    study = workdir / "results" / "study"
    assert len(list((study / "prediction" / "chunks").glob("*.tsv"))) == 3
    runs = pd.read_csv(study / "prediction" / "runs.tsv", sep="\t", keep_default_na=False)
    assert sorted(runs["repetition"].unique()) == [0, 1, 2, 3, 4]
    summary = pd.read_csv(study / "tables" / "prediction_summary.tsv", sep="\t", keep_default_na=False)
    assert set(summary.loc[summary["feature"] == "", "metric"]) == {"accuracy", "balanced_accuracy"}
    assert (summary["n_repetitions"] == 5).all()
    for name in ("prediction_scores.png", "prediction_importance.png", "metric_boxplots_T1w.png"):
        assert (study / "figures" / name).stat().st_size > 10000, name


def test_method_statistics_and_methods_text(study_run):
    workdir, _ = study_run
    study = workdir / "results" / "study"
    anova = pd.read_csv(study / "tables" / "method_anova.tsv", sep="\t")
    assert set(anova["metric"]) == {"psnr", "ssim"} and (anova["n_levels"] == 4).all()
    posthoc = pd.read_csv(study / "tables" / "method_posthoc.tsv", sep="\t")
    assert len(posthoc) == 2 * 6  # metrics x pairs of 4 conditions
    text = (study / "methods.md").read_text()
    assert "SIMULATED readers" in text and "random forests" in text


def test_report_gathers_study_outputs(study_run):
    workdir, configs = study_run
    report = workdir / "report.html"
    run_snakemake(workdir, "--cores", "1", "--configfile", *configs, "--report", str(report))
    assert "rating_distributions.png" in report.read_text(errors="ignore")

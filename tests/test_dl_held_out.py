"""Honest DL scoring in the default run: learned methods per acquisition, the anatomy column and
the held-out DL vs CS table (reconstudy.held_out), unit and dry-run tests."""

import re

import numpy as np
import pandas as pd
import pytest

from conftest import REPO, run_snakemake
from reconstudy.held_out import (
    SEEN_COLUMN,
    held_out_comparison,
    mark_seen_anatomy,
    simulated_anatomy,
    trained_anatomies,
)
from reconstudy.seeding import derive_seed


def test_simulated_anatomy_follows_the_sheet_then_the_subject_hash():
    assert simulated_anatomy("01", "3") == 3 and simulated_anatomy("01", 2) == 2
    assert simulated_anatomy("07", "") == 1 + derive_seed("07") % 3
    assert simulated_anatomy("07", float("nan")) == simulated_anatomy("07", None)


def test_trained_anatomies_from_shipped_and_workflow_manifests():
    assert trained_anatomies({"data": {"train_anatomies": [2, 1]}}) == [1, 2]
    workflow = {"data": {"subjects": {"train": ["01"], "val": ["03"], "test": ["02"]}}}
    assert trained_anatomies(workflow, {"01": 1, "02": 2, "03": 3}) == [1, 3]
    assert trained_anatomies(workflow, {"01": 1, "03": None}) is None  # a measured training subject
    assert trained_anatomies({"data": {}}) is None


def metrics_frame():
    """Four subjects: 01/04 of anatomy 1 (seen), 03/06 of anatomy 3 (unseen); 06 lacks DL at R 12."""
    ssim = {  # (rec, R) -> SSIM of subjects 03 and 06 (anatomy 3); seen subjects get 0.999
        ("cs", 4.0): (0.95, 0.93),
        ("cs", 6.0): (0.90, 0.88),
        ("cs", 8.0): (0.85, 0.83),
        ("cs", 12.0): (0.70, 0.68),
        ("dl", 4.0): (0.97, 0.95),
        ("dl", 6.0): (0.95, 0.93),
        ("dl", 8.0): (0.94, 0.92),
        ("dl", 12.0): (0.80, 0.78),
        ("sense", 4.0): (0.5, 0.5),
    }
    rows = []
    for (rec, R), (a, b) in ssim.items():
        for subject, value in (("01", 0.999), ("04", 0.999), ("03", a), ("06", b)):
            if subject == "06" and (rec, R) == ("dl", 12.0):
                continue
            row = {"subject": subject, "acq": "T1w", "R": R, "rec": rec, "ssim": value, "psnr": 30 * value}
            rows.append(row)
    rows.append({"subject": "03", "acq": "mGRE", "R": 4.0, "rec": "cs", "ssim": 0.9, "psnr": 27.0})
    anatomies = {"T1w": {"01": 1, "04": 1, "03": 3, "06": 3}, "mGRE": {"03": 3}}
    return mark_seen_anatomy(pd.DataFrame(rows), anatomies, {("T1w", "dl"): [1, 2]})


def test_seen_column_marks_learned_rows_only():
    table = metrics_frame()
    dl = table[table["rec"] == "dl"].set_index(["subject", "R"])[SEEN_COLUMN]
    assert dl[("01", 4.0)] == "yes" and dl[("03", 4.0)] == "no"
    assert set(table.loc[table["rec"] != "dl", SEEN_COLUMN]) == {""}
    measured = mark_seen_anatomy(table.drop(columns=SEEN_COLUMN), {"T1w": {"03": None}}, {("T1w", "dl"): [1]})
    assert set(measured[SEEN_COLUMN]) == {""}


def test_held_out_table_known_answer():
    summary = held_out_comparison(metrics_frame()).set_index("R")
    # 06 lacks DL at R 12: the pairing keeps one subject set for every R, so only 03 is scored
    assert list(summary.index) == [4.0, 6.0, 8.0, 12.0]
    assert (summary["n_subjects"] == 1).all() and (summary["subjects"] == "03").all()
    assert set(summary["acq"]) == {"T1w"}  # mGRE has no DL rows
    assert summary.loc[8.0, "ssim_dl"] == pytest.approx(0.94)
    assert summary.loc[8.0, "ssim_difference"] == pytest.approx(0.94 - 0.85)
    assert summary.loc[6.0, "psnr_cs"] == pytest.approx(27.0)
    # seed-000 claims against CS at R 4 (0.95): DL R 8 0.94 falls short, DL R 6 0.95 is not above
    assert summary.loc[8.0, "claim"] == "dl R=8 >= cs R=4 (SSIM)"
    assert summary.loc[8.0, "claim_met"] == "no" and summary.loc[6.0, "claim_met"] == "no"
    assert summary.loc[8.0, "cs_ssim_at_claim_R"] == pytest.approx(0.95)
    assert summary.loc[4.0, "claim"] == "" and np.isnan(summary.loc[4.0, "cs_ssim_at_claim_R"])


def test_held_out_table_pairs_both_unseen_subjects_and_meets_claims():
    table = metrics_frame()
    table = table[~((table["subject"] == "06") | (table["R"] == 12.0))]
    extra = table[table["subject"] == "03"].assign(subject="09")
    extra.loc[extra["rec"] == "dl", "ssim"] = 1.0
    summary = held_out_comparison(pd.concat([table, extra])).set_index("R")
    assert summary.loc[8.0, "subjects"] == "03,09"
    assert summary.loc[8.0, "ssim_dl"] == pytest.approx((0.94 + 1.0) / 2)
    assert summary.loc[8.0, "claim_met"] == "yes" and summary.loc[6.0, "claim_met"] == "yes"


def test_no_unseen_subject_gives_empty_rows_not_an_error():
    table = metrics_frame()
    table.loc[table["rec"] == "dl", SEEN_COLUMN] = "yes"
    summary = held_out_comparison(table)
    assert (summary["n_subjects"] == 0).all() and (summary["claim_met"] == "").all()
    assert summary["ssim_dl"].isna().all()


def test_table_without_the_column_is_refused():
    with pytest.raises(ValueError, match="model_saw_anatomy"):
        held_out_comparison(metrics_frame().drop(columns=SEEN_COLUMN))


def test_figure_draws_the_table(tmp_path):
    from reconstudy.figures import save_figure
    from reconstudy.figures.held_out import held_out_figure

    png = tmp_path / "held_out.png"
    save_figure(held_out_figure(held_out_comparison(metrics_frame())), png)
    assert png.stat().st_size > 5000


# --- the default workflow (dry runs) ---------------------------------------------------------


def dry_run(workdir, *args, check=True):
    return run_snakemake(workdir, "-n", "--cores", "1", *args, check=check)


def write_config(workdir, text):
    path = workdir / "dl.yaml"
    path.write_text(text)
    return str(path)


def test_default_run_reconstructs_dl_for_t1w_only_and_targets_the_held_out_table(workdir):
    stdout = dry_run(workdir).stdout
    outputs = re.findall(r"^rule reconstruct_dl:\n(?:    .*\n)*?    output: (.*)$", stdout, re.M)
    assert len(outputs) == 6  # one job per subject (every R), T1w only
    assert all("_mGRE" not in line for line in outputs)
    assert all(f"acq-R{R}_rec-dl_part-mag_T1w.nii.gz" in line for line in outputs for R in (4, 6, 8, 12))
    assert "results/group/dl_held_out.tsv" in stdout and "results/figures/dl_held_out.png" in stdout
    held_out = stdout.split("rule dl_held_out:")[1].split("\n\n")[0]
    assert "input: results/group/metrics.tsv" in held_out
    # the cohort table reads the shipped model's manifest (for the anatomy column)
    cohort = stdout.split("rule cohort_metrics:")[1].split("\n\n")[0]
    assert str(REPO / "resources/models/modl_t1w.json") in cohort
    # mGRE images are neither reconstructed by DL nor scored, montaged or mapped with it
    assert "rec-dl_part-mag_mGRE" not in stdout


def test_dl_for_both_acquisitions_when_listed(workdir):
    config = write_config(workdir, "recon: {dl: {acquisitions: [T1w, mGRE]}}\nqsm: {recons: [sense, dl]}\n")
    stdout = dry_run(workdir, "--configfile", config).stdout
    assert len(re.findall(r"^rule reconstruct_dl:", stdout, re.M)) == 6 * 2
    assert "rec-dl_part-mag_mGRE" in stdout and "rec-dl_desc-tgv_Chimap" in stdout


def test_dl_acquisition_outside_acquisitions_is_skipped(workdir):
    """An mGRE-only run with the default methods runs no DL (the default lists T1w) and no table."""
    config = write_config(workdir, "acquisitions: [mGRE]\n")
    stdout = dry_run(workdir, "--configfile", config).stdout
    assert "rule reconstruct_dl:" not in stdout and "dl_held_out" not in stdout
    assert "rule qsm:" in stdout

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from reconstudy.evaluation import _adjust_family, group_summary, score_reconstruction, score_subject
from reconstudy.io.nifti import save_image


def cohort_table(seed=0, n=6):
    rng = np.random.default_rng(seed)
    rows = []
    for subject in range(n):
        base = rng.normal(0.9, 0.02)
        for R in (4.0, 8.0):
            for rec, penalty in (("zf", 0.2), ("sense", 0.05), ("cs", 0.03)):
                ssim = base - penalty * R / 4 + rng.normal(0, 0.005)
                rows.append(
                    {
                        "subject": f"{subject:02d}",
                        "acq": "T1w",
                        "R": R,
                        "rec": rec,
                        "ssim": ssim,
                        "psnr": 30 - 10 * penalty * R + rng.normal(0, 0.3),
                    }
                )
    return pd.DataFrame(rows)


def test_group_summary_matches_scipy():
    table = cohort_table()
    summary = group_summary(table, "sense")
    row = summary.query("rec == 'zf' and R == 8 and metric == 'ssim'").iloc[0]
    zf = table.query("rec == 'zf' and R == 8").sort_values("subject")["ssim"].to_numpy()
    sense = table.query("rec == 'sense' and R == 8").sort_values("subject")["ssim"].to_numpy()
    expected = stats.wilcoxon(zf, sense)
    assert row["wilcoxon_W"] == expected.statistic and row["p_value"] == pytest.approx(expected.pvalue)
    assert row["mean"] == pytest.approx(zf.mean()) and row["sd"] == pytest.approx(zf.std(ddof=1))
    assert row["median_difference"] == pytest.approx(np.median(zf - sense))
    # every zf subject is worse than sense: the exact two-sided p for n = 6 is 2 / 2**6
    assert row["p_value"] == pytest.approx(2 / 64)
    reference = summary.query("rec == 'sense' and R == 8 and metric == 'ssim'").iloc[0]
    assert np.isnan(reference["p_value"]) and reference["reference"] == "sense R=8"


def test_group_summary_fixed_reference_r():
    summary = group_summary(cohort_table(), "cs", reference_R=4)
    row = summary.query("rec == 'cs' and R == 8 and metric == 'ssim'").iloc[0]
    assert row["reference"] == "cs R=4" and row["p_value"] == pytest.approx(2 / 64)


def test_benjamini_hochberg_matches_statsmodels():
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.2, 0.5])
    expected = multipletests(p[~np.isnan(p)], method="fdr_bh")[1]
    np.testing.assert_allclose(_adjust_family(p)[~np.isnan(p)], expected)
    assert np.isnan(_adjust_family(p)[2])


def test_unknown_reference_is_named():
    with pytest.raises(ValueError, match="reference_rec='dl' is not among the methods"):
        group_summary(cohort_table(), "dl")


def test_multi_echo_scores_are_echo_means():
    rng = np.random.default_rng(3)
    reference = rng.random((2, 6, 7, 8)) + 1
    image = reference + 0.1 * rng.standard_normal(reference.shape)
    per_echo = [score_reconstruction(i, r, None) for i, r in zip(image, reference)]
    combined = score_reconstruction(image, reference, None)
    assert combined["ssim"] == pytest.approx(np.mean([m["ssim"] for m in per_echo]))


def test_score_subject_reads_nifti(tmp_path):
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    reference = np.ones((6, 7, 8), np.float32)
    mask = np.zeros((6, 7, 8), np.uint8)
    mask[1:5, 1:6, 1:7] = 1
    save_image(tmp_path / "ref.nii.gz", reference, affine)
    save_image(tmp_path / "mask.nii.gz", mask, affine)
    save_image(tmp_path / "r4.nii.gz", reference * 0.9, affine)
    table = score_subject(
        "01",
        {("T1w", "4", "zf"): tmp_path / "r4.nii.gz"},
        {"T1w": tmp_path / "ref.nii.gz"},
        tmp_path / "mask.nii.gz",
    )
    assert list(table[["subject", "acq", "R", "rec"]].iloc[0]) == ["01", "T1w", 4.0, "zf"]
    assert table["nmse"].iloc[0] == pytest.approx(0.01)
    save_image(tmp_path / "mask2.nii.gz", mask, np.diag([1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="grid differs from the brain mask"):
        score_subject("01", {}, {"T1w": tmp_path / "ref.nii.gz"}, tmp_path / "mask2.nii.gz")

"""Sensitivity/specificity with Wilson intervals, and map errors / ROI means."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, mean_absolute_error, mean_squared_error
from statsmodels.stats.proportion import proportion_confint

from reconstudy.stats import diagnostic_table, map_errors, roi_differences, roi_means, sensitivity_specificity
from reconstudy.stats.diagnostic import wilson_interval


def test_sensitivity_specificity_by_hand():
    # TP=8, FN=2, TN=85, FP=5
    truth = [1] * 10 + [0] * 90
    pred = [1] * 8 + [0] * 2 + [1] * 5 + [0] * 85
    res = sensitivity_specificity(pred, truth)
    assert (res["tp"], res["fn"], res["tn"], res["fp"]) == (8, 2, 85, 5)
    assert res["sensitivity"] == pytest.approx(0.8)
    assert res["specificity"] == pytest.approx(85 / 90)
    assert res["ppv"] == pytest.approx(8 / 13) and res["npv"] == pytest.approx(85 / 87)
    tn, fp, fn, tp = confusion_matrix(truth, pred).ravel()
    assert (tn, fp, fn, tp) == (85, 5, 2, 8)


@pytest.mark.parametrize("k,n", [(8, 10), (0, 12), (12, 12), (37, 433)])
def test_wilson_matches_statsmodels(k, n):
    assert wilson_interval(k, n) == pytest.approx(proportion_confint(k, n, alpha=0.05, method="wilson"))


def test_wilson_hand_value():
    # k=8, n=10, z=1.959964: centre (0.8 + z^2/20)/(1 + z^2/10), half z*sqrt(0.016 + z^2/400)/(1 + z^2/10)
    z = 1.959963984540054
    centre = (0.8 + z**2 / 20) / (1 + z**2 / 10)
    half = z * np.sqrt(0.8 * 0.2 / 10 + z**2 / 400) / (1 + z**2 / 10)
    assert wilson_interval(8, 10) == pytest.approx((centre - half, centre + half))
    assert wilson_interval(8, 10)[0] == pytest.approx(0.4902, abs=1e-4)


def test_diagnostic_table_against_consensus():
    consensus = pd.DataFrame({"lesion": range(6), "finding": ["PRL", "PRL", "none", "none", "none", "PRL"]})
    findings = pd.DataFrame(
        {
            "lesion": list(range(6)) * 2,
            "rater": ["R1"] * 6 + ["R2"] * 6,
            "finding": [
                "PRL",
                "none",
                "none",
                "none",
                "PRL",
                "PRL",
                "PRL",
                "PRL",
                "none",
                "none",
                "none",
                "PRL",
            ],
        }
    )
    out = diagnostic_table(
        findings, consensus, finding="finding", item="lesion", by=["rater"], positive="PRL"
    )
    r1 = out.set_index("rater").loc["R1"]
    assert r1["sensitivity"] == pytest.approx(2 / 3) and r1["specificity"] == pytest.approx(2 / 3)
    assert out.set_index("rater").loc["R2", "sensitivity"] == 1.0
    with pytest.raises(ValueError, match="no consensus"):
        diagnostic_table(
            findings, consensus.iloc[1:], finding="finding", item="lesion", by=["rater"], positive="PRL"
        )


def test_diagnostic_malformed():
    with pytest.raises(ValueError, match="paired"):
        sensitivity_specificity([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="positive="):
        sensitivity_specificity(["yes", "no"], ["yes", "yes"])
    with pytest.raises(ValueError, match="missing"):
        sensitivity_specificity([1, None], [1, 0])


def test_map_errors_match_sklearn_and_hand():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 0.05, (6, 7, 8))
    est = ref + rng.normal(0.002, 0.01, ref.shape)
    mask = rng.random(ref.shape) > 0.3
    res = map_errors(est, ref, mask, scale=1000, unit="ppb")
    assert res["mae"] == pytest.approx(1000 * mean_absolute_error(ref[mask], est[mask]))
    assert res["rmse"] == pytest.approx(1000 * np.sqrt(mean_squared_error(ref[mask], est[mask])))
    assert res["n_voxels"] == int(mask.sum()) and res["unit"] == "ppb"
    hand = map_errors(np.array([1.0, 2.0, 4.0]), np.array([1.0, 1.0, 2.0]))
    assert hand["mae"] == pytest.approx(1.0) and hand["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert hand["bias"] == pytest.approx(1.0)
    assert hand["rmse_percent"] == pytest.approx(100 * np.sqrt(5) / np.sqrt(6))


def test_roi_means_and_differences():
    labels = np.array([[0, 1, 1], [2, 2, 2]])
    ref = np.array([[9.0, 1.0, 3.0], [0.0, 0.1, 0.2]])
    est = ref + 0.5
    means = roi_means(ref, labels, {1: "caudate", 2: "putamen"})
    assert list(means["structure"]) == ["caudate", "putamen"]
    assert means["mean"].to_numpy() == pytest.approx([2.0, 0.1])
    diffs = roi_differences(est, ref, labels, scale=1000)
    assert diffs["diff"].to_numpy() == pytest.approx([500.0, 500.0])
    with pytest.raises(ValueError, match="not in the label map"):
        roi_means(ref, labels, {7: "red nucleus"})


def test_map_errors_malformed():
    with pytest.raises(ValueError, match="shape"):
        map_errors(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        map_errors(np.array([np.nan, 1.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="no voxels"):
        map_errors(np.ones(3), np.ones(3), np.zeros(3, bool))


def test_diagnostic_table_keeps_a_grouping_column_named_method():


    findings = pd.DataFrame(
        {"lesion": [1, 2, 1, 2], "method": ["CS", "CS", "DL", "DL"], "rim": [1, 0, 0, 0]}
    )
    consensus = pd.DataFrame({"lesion": [1, 2], "rim": [1, 0]})
    table = diagnostic_table(findings, consensus, finding="rim", item="lesion", by=["method"], positive=1)
    assert list(table["method"]) == ["CS", "DL"]
    assert list(table["sensitivity"]) == [1.0, 0.0]
    assert set(table["ci_method"]) == {"wilson"}

"""Regional χ statistics, lesion-wise features and lesion classification."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reconstudy.segment.biomarkers import (
    classification_metrics,
    classify_lesions,
    labels_on_grid,
    lesion_features,
    regional_chi,
)


def test_regional_chi_known_answers():
    labels = np.zeros((6, 6, 6), np.int16)
    labels[:3] = 13  # pallidum
    labels[3:] = 2
    chi = np.where(labels == 13, 0.15, -0.03).astype(float)
    chi[0, 0, 0] = 0.25
    table = regional_chi(chi, labels, structures=[13, 2, 17]).set_index("label")
    assert table.loc[13, "n_voxels"] == 108
    assert table.loc[13, "chi_median_ppm"] == pytest.approx(0.15)
    assert table.loc[13, "chi_mean_ppm"] == pytest.approx((107 * 0.15 + 0.25) / 108)
    assert table.loc[2, "chi_sd_ppm"] == pytest.approx(0.0)
    assert table.loc[17, "n_voxels"] == 0 and np.isnan(table.loc[17, "chi_mean_ppm"])
    assert table.loc[13, "structure"] == "left pallidum"
    with pytest.raises(ValueError, match="different grids"):
        regional_chi(chi[:5], labels)


def test_labels_on_grid_through_affines():
    labels = np.zeros((4, 4, 4), np.int16)
    labels[1:3, 1:3, 1:3] = 17
    fine = np.diag([0.5, 0.5, 0.5, 1.0])
    fine[:3, 3] = -0.25
    moved = labels_on_grid(labels, np.eye(4), (8, 8, 8), fine)
    assert (moved == 17).sum() == 8 * 8  # 2x2x2 voxels -> 4x4x4 voxels at half the size


def _phantom_lesions():
    """White matter at -0.03 ppm with three spherical lesions: rim, hyperintense, isointense."""
    shape = (40, 40, 40)
    labels = np.full(shape, 2, np.int16)
    chi = np.full(shape, -0.03)
    lesions = np.zeros(shape, np.int16)
    z, y, x = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    for lesion_id, (cz, kind) in enumerate([(8, "prl"), (20, "hyper"), (32, "iso")], start=1):
        r = np.sqrt((z - cz) ** 2 + (y - 20) ** 2 + (x - 20) ** 2)
        inside = r <= 3.2
        lesions[inside] = lesion_id
        if kind == "prl":
            chi[inside] = -0.02
            chi[inside & (r > 1.7)] = 0.08  # a 1.5 mm rim, as the phantom draws it
        elif kind == "hyper":
            chi[inside] = 0.015
    return chi, lesions, labels


def test_lesion_features_and_classification():
    chi, lesions, labels = _phantom_lesions()
    features = lesion_features(chi, lesions, labels, voxel_zyx=(1, 1, 1), shell_mm=4)
    assert list(features["lesion_id"]) == [1, 2, 3]
    row = features.set_index("lesion_id")
    assert row.loc[1, "nawm_chi_ppm"] == pytest.approx(-0.03)
    assert row.loc[1, "rim_rel_ppm"] > 0.09 and row.loc[1, "core_rel_ppm"] < 0.02
    assert row.loc[2, "lesion_rel_ppm"] == pytest.approx(0.045)
    assert row.loc[3, "lesion_rel_ppm"] == pytest.approx(0.0)
    assert list(classify_lesions(features)) == ["prl", "hyper", "iso"]


def test_classification_metrics_known_answers():
    truth = ["prl", "prl", "hyper", "iso", "iso"]
    predicted = ["prl", "iso", "hyper", "iso", "hyper"]
    table = classification_metrics(predicted, truth).set_index("kind")
    assert table.loc["prl", "sensitivity"] == 0.5 and table.loc["prl", "specificity"] == 1.0
    assert table.loc["hyper", "sensitivity"] == 1.0 and table.loc["hyper", "specificity"] == 0.75
    assert table.loc["iso", "sensitivity"] == 0.5 and table.loc["iso", "specificity"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="unknown lesion kinds"):
        classification_metrics(["prl"], ["rim"])
    empty = classification_metrics([], [])
    assert isinstance(empty, pd.DataFrame) and empty["sensitivity"].isna().all()

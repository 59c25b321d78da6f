"""Scoring helpers of the segmenter evaluation (reconstudy.segment.evaluate) on hand-made tables."""

import json

import numpy as np
import pandas as pd
import pytest

from reconstudy.segment import labels as L
from reconstudy.segment.evaluate import (
    EFFECT_STRUCTURES,
    group_volume_effects,
    manifest_block,
    summarise,
    volume_ratio_to_truth,
)


def _volumes_row(subject, group, anatomy, image, hippocampus, amygdala, ventricles):
    row = {"subject": subject, "group": group, "anatomy": anatomy, "image": image}
    for name, total in zip(EFFECT_STRUCTURES, (hippocampus, amygdala, ventricles)):
        left, right = EFFECT_STRUCTURES[name]
        row[left], row[right] = 0.4 * total, 0.6 * total  # the sides are summed
    return row


@pytest.fixture
def tables():
    """Two subject pairs (anatomies 1 and 3): truth loses 20 % / 30 % hippocampus; the segmenter
    calls 1.1x truth on anatomy 1 and 0.5x on anatomy 3, and half the change."""
    rows = []
    for subject, anatomy, seg_scale in (("a1", 1, 1.1), ("b3", 3, 0.5)):
        loss = 0.2 if anatomy == 1 else 0.3
        for group, factor, growth in (("control", 1.0, 1.0), ("impaired", 1 - loss, 1.4)):
            truth = (4000 * factor, 1600 * factor, 20000 * growth)
            rows.append(_volumes_row(subject, group, anatomy, "truth", *truth))
            seg_factor = 1 - loss / 2 if group == "impaired" else 1.0
            seg = (4000 * seg_factor * seg_scale, 1600 * seg_scale, 20000 * growth)
            rows.append(_volumes_row(subject, group, anatomy, "T1w_full", *seg))
    volumes = pd.DataFrame(rows)
    dice_rows = []
    for subject, anatomy in (("a1", 1), ("b3", 3)):
        for group in ("control", "impaired"):
            for label in L.EVALUATED:
                value = 0.7 if label in (17, 53) else 0.6 if label in (18, 54) else 0.9
                dice_rows.append(
                    {
                        "subject": subject,
                        "anatomy": anatomy,
                        "group": group,
                        "image": "T1w_full",
                        "label": label,
                        "structure": L.CSV_NAMES[label],
                        "dice": value,
                    }
                )
    return pd.DataFrame(dice_rows), volumes


def test_summary_effects_and_ratios_have_the_known_values(tables):
    dice, volumes = tables
    n = len(L.EVALUATED)
    summary = summarise(dice).loc["T1w_full"]
    assert summary["mean_dice"] == pytest.approx((2 * 0.7 + 2 * 0.6 + (n - 4) * 0.9) / n)
    assert summary["hippocampus"] == pytest.approx(0.7) and summary["amygdala"] == pytest.approx(0.6)
    effects = group_volume_effects(volumes, "truth").set_index(["subject", "structure"])["change_percent"]
    assert effects["a1", "hippocampus"] == pytest.approx(-20) and effects[
        "b3", "hippocampus"
    ] == pytest.approx(-30)
    assert effects["a1", "lateral ventricles"] == pytest.approx(40)
    segmented = group_volume_effects(volumes, "T1w_full").set_index(["subject", "structure"])[
        "change_percent"
    ]
    assert segmented["b3", "hippocampus"] == pytest.approx(-15) and segmented[
        "a1", "amygdala"
    ] == pytest.approx(0)
    ratio = volume_ratio_to_truth(volumes, "T1w_full")
    assert list(ratio.index) == [1, 3]
    # anatomy 1: control 1.1, impaired 1.1 x 0.9 / 0.8; anatomy 3: 0.5 and 0.5 x 0.85 / 0.7
    assert ratio.loc[1, "hippocampus"] == pytest.approx((1.1 + 1.1 * 0.9 / 0.8) / 2)
    assert ratio.loc[3, "hippocampus"] == pytest.approx((0.5 + 0.5 * 0.85 / 0.7) / 2)
    assert ratio.loc[3, "lateral ventricles"] == pytest.approx(1.0)


def test_manifest_block_is_json_with_what_the_manifest_records(tables):
    dice, volumes = tables
    block = json.loads(json.dumps(manifest_block(dice, volumes)))  # plain JSON types only
    entry = block["T1w_full"]
    assert entry["subjects"] == ["a1", "b3"]
    assert entry["hippocampus"] == 0.7 and entry["amygdala"] == 0.6
    assert set(entry["per_structure"]) == {L.CSV_NAMES[label] for label in L.EVALUATED}
    assert entry["volume_change_percent"]["hippocampus"] == {"segmented": -12.5, "truth": -25.0}
    assert entry["volume_change_percent"]["lateral ventricles"] == {"segmented": 40.0, "truth": 40.0}
    assert entry["volume_ratio_to_truth"]["anatomy 1"]["amygdala"] == pytest.approx(
        np.mean([1.1, 1.1 / 0.8]), abs=0.005
    )


def test_the_command_scores_the_shipped_model_on_an_unseen_pair(tmp_path):
    """One control/impaired pair of the held-out anatomy: the TSVs and the manifest block agree,
    name the shipped weights, and the atrophy shows in the right direction."""
    from reconstudy.segment.evaluate import main

    prefix = tmp_path / "unseen"
    argv = ["--anatomy", "3", "--ids", "t01", "--images", "T1w_full", "--out", str(prefix)]
    assert main(argv) == 0
    shipped = json.loads(_shipped_manifest().read_text())
    block = json.loads(prefix.with_name("unseen_manifest.json").read_text())
    assert block["model_sha256"] == shipped["sha256"]
    assert block["command"].endswith(" ".join(argv))
    dice = pd.read_csv(prefix.with_name("unseen_dice.tsv"), sep="\t")
    assert set(dice["subject"]) == {"t01a3"} and set(dice["group"]) == {"control", "impaired"}
    entry = block["T1w_full"]
    assert entry["mean_dice"] == pytest.approx(dice["dice"].mean(), abs=1e-4)
    assert entry["mean_dice"] > 0.8  # issue 6's unseen-anatomy target
    change = entry["volume_change_percent"]
    assert -35 < change["hippocampus"]["truth"] < -10 and change["lateral ventricles"]["truth"] > 10
    assert change["hippocampus"]["segmented"] < 0 and change["amygdala"]["segmented"] < 0
    assert change["lateral ventricles"]["segmented"] > 0
    assert list(entry["volume_ratio_to_truth"]) == ["anatomy 3"]


def _shipped_manifest():
    from reconstudy.resources import resource_path

    return resource_path("models/segmenter/manifest.json")

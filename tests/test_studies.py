"""reconstudy.studies: study plans, prediction features, simulated lesion raters, figures, methods text."""

import numpy as np
import pandas as pd
import pytest

from reconstudy.io.nifti import save_image
from reconstudy.segment.biomarkers import classify_lesions
from reconstudy.segment.volumes import STRUCTURE_COLUMNS, TIV
from reconstudy.stats import importance_differences, summarise
from reconstudy.studies.features import feature_columns, segmentation_features, volume_features
from reconstudy.studies.figures import (
    feature_importances,
    importance_differences_plot,
    metric_boxplots,
    prediction_scores,
)
from reconstudy.studies.lesion_reading import consensus_from_truth, simulate_lesion_ratings
from reconstudy.studies.methods import study_methods_paragraph
from reconstudy.studies.plan import chunk_ranges, prediction_sources, reading_cases, source_id


def test_chunks_cover_every_repetition_once():
    chunks = chunk_ranges(1000, 300)
    assert chunks == [(0, 300), (300, 600), (600, 900), (900, 1000)]
    reps = [r for a, b in chunk_ranges(1000, 100) for r in range(a, b)]
    assert reps == list(range(1000))
    assert chunk_ranges(5, 100) == [(0, 5)]
    with pytest.raises(ValueError, match="chunk_size"):
        chunk_ranges(10, 0)


def test_reading_cases_labels_and_errors():
    cases = reading_cases([{"rec": "cs", "R": 4}, {"rec": "dl", "R": 8}], ["cs", "dl"], ["4", "8"])
    assert [c["label"] for c in cases] == ["CS R=4", "DL R=8"]
    every = reading_cases(None, ["zf", "sense"], [4, 8])
    assert [c["label"] for c in every] == ["ZF R=4", "ZF R=8", "SENSE R=4", "SENSE R=8"]
    with pytest.raises(ValueError, match=r"cases\[0\]: rec 'dl' is not in recon.methods"):
        reading_cases([{"rec": "dl", "R": 4}], ["cs"], [4])
    with pytest.raises(ValueError, match="R 6 is not in sampling.accelerations"):
        reading_cases([{"rec": "cs", "R": 6}], ["cs"], [4])
    with pytest.raises(ValueError, match="listed twice"):
        reading_cases([{"rec": "cs", "R": 4}, {"rec": "cs", "R": 4.0}], ["cs"], [4])


def lesion_table(n=40, seed=0):
    rng = np.random.default_rng(seed)
    kinds = np.array(["prl", "hyper", "iso"])[rng.integers(0, 3, n)]
    rim = np.where(kinds == "prl", 0.11, np.where(kinds == "hyper", 0.045, 0.0))
    core = np.where(kinds == "prl", 0.01, np.where(kinds == "hyper", 0.045, 0.0))
    lesion = np.where(kinds == "prl", 0.05, core)
    rows = []
    for method, noise in (("sense", 0.004), ("dl", 0.001)):
        e = rng.normal(0, noise, (3, n))
        rows.append(
            pd.DataFrame(
                {
                    "subject": [f"{i // 10:02d}" for i in range(n)],
                    "lesion_id": [i % 10 + 1 for i in range(n)],
                    "method": method,
                    "rim_rel_ppm": rim + e[0],
                    "core_rel_ppm": core + e[1],
                    "lesion_rel_ppm": lesion + e[2],
                    "true_kind": kinds,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_noise_free_raters_follow_the_classifier():
    features = lesion_table()
    ratings = simulate_lesion_ratings(
        features, seed=1, n_raters=2, threshold_sd_ppm=0, noise_sd_ppm=0, leniency_sd=0, confidence_noise_sd=0
    )
    expected = classify_lesions(features).to_numpy()
    order = features.sort_values(["subject", "lesion_id", "method"]).index
    for rater in ("sim-Q1", "sim-Q2"):
        got = ratings[ratings["rater"] == rater]["kind"].to_numpy()
        np.testing.assert_array_equal(got, expected[order])
    assert set(ratings["source"]) == {"simulated"}
    assert ratings["confidence"].between(1, 5).all()
    assert (ratings.loc[ratings["kind"] == "prl", "prl"] == "yes").all()
    # the simulated contrasts are well separated, so the classes are right for every lesion
    truth = features.loc[order, "true_kind"].to_numpy()
    np.testing.assert_array_equal(ratings[ratings["rater"] == "sim-Q1"]["kind"].to_numpy(), truth)


def test_lesion_raters_are_seeded_and_order_free():
    features = lesion_table()
    a = simulate_lesion_ratings(features, seed=3)
    b = simulate_lesion_ratings(features.sample(frac=1.0, random_state=1), seed=3)
    pd.testing.assert_frame_equal(a, b)
    c = simulate_lesion_ratings(features, seed=4)
    assert not a["confidence"].equals(c["confidence"])
    # noisier readings disagree more often with the truth than noise-free ones
    noisy = simulate_lesion_ratings(features, seed=3, noise_sd_ppm=0.05)
    merged = noisy.merge(features[["subject", "lesion_id", "method", "true_kind"]])
    assert (merged["kind"] != merged["true_kind"]).mean() > 0.1


def test_worse_maps_lower_confidence():
    features = lesion_table()
    features["map_nrmse"] = np.where(features["method"] == "dl", 0.2, 0.8)
    ratings = simulate_lesion_ratings(features, seed=5)
    means = ratings.groupby("method")["confidence"].mean()
    assert means["dl"] > means["sense"] + 1  # 4x the error: 2 points less before clipping
    with pytest.raises(ValueError, match="map_nrmse must be positive"):
        simulate_lesion_ratings(features.assign(map_nrmse=0.0), seed=5)


def test_lesion_rater_errors():
    with pytest.raises(ValueError, match="lack column"):
        simulate_lesion_ratings(pd.DataFrame({"subject": ["01"]}), seed=0)
    features = lesion_table(n=3)
    with pytest.raises(ValueError, match="more than once"):
        simulate_lesion_ratings(pd.concat([features, features.iloc[:1]]), seed=0)


def test_consensus_from_truth():
    truth = pd.DataFrame({"subject": [1, 1, 2], "lesion_id": [1, 2, 1], "kind": ["prl", "iso", "hyper"]})
    out = consensus_from_truth(truth)
    assert out["subject"].tolist() == ["1", "1", "2"]
    assert out["prl"].tolist() == ["yes", "no", "no"]
    assert out["contrast"].tolist() == ["hyper", "iso", "hyper"]


def test_volume_features_from_label_maps(tmp_path):
    labels = np.zeros((4, 5, 6), np.int16)
    labels[0] = 2  # 30 voxels of left cerebral white matter
    labels[1, :2] = 17  # 12 voxels of left hippocampus
    labels[2, 0, 0] = 25  # a lesion label: folded into white matter as SynthSeg does
    affine = np.diag([2.0, 2.0, 2.0, 1.0])  # 8 mm^3 voxels
    path = save_image(tmp_path / "labels.nii.gz", labels, affine)
    sheet = pd.DataFrame({"subject": ["01"], "group": ["control"], "age": [61], "sex": ["f"]})
    table = volume_features({"01": path}, sheet)
    row = table.iloc[0]
    assert row["left cerebral white matter"] == pytest.approx(31 * 8)
    assert row["left hippocampus"] == pytest.approx(12 * 8)
    assert row[TIV] == pytest.approx(43 * 8)
    assert (row["sex"], row["age"], row["source"]) == (0, 61.0, "truth")
    assert set(feature_columns()) <= set(table.columns)
    assert feature_columns(("age", "sex")) == ["age", "sex"]
    bad = sheet.assign(sex="x")
    with pytest.raises(ValueError, match="sex F or M"):
        volume_features({"01": path}, bad)


def test_figures_draw_every_panel():
    metrics = pd.DataFrame(
        [
            {"subject": s, "acq": "T1w", "R": R, "rec": rec, "psnr": 30 - R + i, "ssim": 0.9 - R / 100}
            for i, s in enumerate(["01", "02", "03"])
            for R in (4.0, 8.0)
            for rec in ("sense", "cs")
        ]
    )
    fig = metric_boxplots(metrics, ["psnr", "ssim"], acq="T1w", simulated=True)
    assert len(fig.axes) == 2 and "SIMULATED" in fig._suptitle.get_text()
    assert len(fig.axes[0].get_xticklabels()) == 4
    with pytest.raises(ValueError, match="no metric rows"):
        metric_boxplots(metrics, acq="mGRE")
    runs = pd.DataFrame(
        [
            {"repetition": r, "metric": m, "feature": f, "value": v, "source": "truth"}
            for r in range(5)
            for m, f, v in (("accuracy", "", 0.7), ("balanced_accuracy", "", 0.6), ("importance", "age", 0.2))
        ]
    )
    assert len(prediction_scores(runs).axes) == 1
    summary = pd.DataFrame(
        {
            "metric": "importance",
            "feature": ["a", "b", "a", "b"],
            "mean": [0.3, 0.1, 0.2, 0.2],
            "ci_low": [0.2, 0.05, 0.1, 0.1],
            "ci_high": [0.4, 0.15, 0.3, 0.3],
            "source": ["truth", "truth", "cs", "cs"],
        }
    )
    assert len(feature_importances(summary).axes) == 2  # second panel: differences to the first source
    assert len(feature_importances(summary[summary["source"] == "truth"]).axes) == 1


def test_methods_paragraph_names_enabled_blocks_only():
    config = {
        "sampling": {"accelerations": [4, 8], "pattern": "poisson", "calibration": 12},
        "recon": {"methods": ["cs"], "reference": "sense"},
        "studies": {"readers": {"enabled": True, "n_readers": 3}, "prediction": {"enabled": False}},
    }
    text = study_methods_paragraph(config, 5)
    assert "3 SIMULATED readers" in text and "Wilcoxon" in text
    assert "random forest" not in text
    config["studies"]["prediction"] = {"enabled": True, "repetitions": 1000}
    text = study_methods_paragraph(config, 5)
    assert "repeated 1000 times" in text and "segmentation of the fully sampled reference" in text
    assert "upper bound" in text and "bootstrap (2000 samples)" in text


SEGMENTED = [("1", "sense"), ("4", "cs"), ("4", "dl"), ("8", "cs"), ("8", "dl")]


def test_prediction_sources_follow_the_segmentation():
    every = prediction_sources(truth=True, recons=None, segmented=SEGMENTED)
    assert [s["id"] for s in every] == ["reference", "R4_cs", "R4_dl", "R8_cs", "R8_dl", "truth"]
    assert every[0]["label"] == "Reference (SENSE R=1)" and every[3]["label"] == "CS R=8"
    assert every[-1] == {
        "id": "truth",
        "label": "Phantom truth (upper bound)",
        "kind": "truth",
        "R": None,
        "rec": None,
    }
    chosen = prediction_sources(
        truth=False, recons=[{"rec": "dl", "R": 8}, {"rec": "cs", "R": 8}], segmented=SEGMENTED
    )
    assert [(s["id"], s["R"], s["rec"]) for s in chosen] == [
        ("reference", 1.0, "sense"),
        ("R8_dl", 8.0, "dl"),
        ("R8_cs", 8.0, "cs"),
    ]
    assert [s["id"] for s in prediction_sources(truth=True, recons=[], segmented=SEGMENTED)] == ["truth"]
    assert [s["id"] for s in prediction_sources(truth=True, recons=None, segmented=[])] == ["truth"]
    assert source_id("2.5", "cs") == "R2.5_cs" and source_id(1, "sense") == "reference"
    with pytest.raises(ValueError, match=r"recons\[0\]: zf at R=4 is not segmented.*segmentation.recons"):
        prediction_sources(truth=True, recons=[{"rec": "zf", "R": 4}], segmented=SEGMENTED)
    with pytest.raises(ValueError, match="listed twice"):
        prediction_sources(
            truth=True, recons=[{"rec": "cs", "R": 4}, {"rec": "cs", "R": 4.0}], segmented=SEGMENTED
        )
    with pytest.raises(ValueError, match="nothing to predict from"):
        prediction_sources(truth=False, recons=None, segmented=[])


def volume_table(subject, images):
    """A per-subject table as the segment rule writes it: truth row, then one row per image."""
    rows = [{"subject": subject, "R": np.nan, "rec": "truth", "image": "truth"}]
    rows += [{"subject": subject, "R": float(R), "rec": rec, "image": f"R{R} {rec}"} for R, rec in images]
    table = pd.DataFrame(rows)
    for k, column in enumerate([TIV, *STRUCTURE_COLUMNS]):
        table[column] = 1000.0 * (k + 1) + np.arange(len(rows))  # row i of structure k: 1000 (k + 1) + i
    return table


def test_segmentation_features_pick_one_image_per_subject(tmp_path):
    sheet = pd.DataFrame(
        {"subject": ["01", "02"], "group": ["control", "impaired"], "age": [60, 70], "sex": ["F", "M"]}
    )
    path = tmp_path / "sub-02_segvolumes.tsv"
    volume_table("02", SEGMENTED).to_csv(path, sep="\t", index=False)
    tables = {"01": volume_table("01", SEGMENTED), "02": path}
    table = segmentation_features(tables, sheet, R=8, rec="cs", source="R8_cs")
    assert list(table.columns[:5]) == ["subject", "source", "group", "age", "sex"]
    assert list(table["subject"]) == ["01", "02"] and set(table["source"]) == {"R8_cs"}
    assert (
        table["left hippocampus"].tolist()
        == [1000.0 * (2 + STRUCTURE_COLUMNS.index("left hippocampus")) + 4] * 2
    )
    assert (table["sex"].tolist(), table["group"].tolist()) == ([0, 1], ["control", "impaired"])
    reference = segmentation_features(tables, sheet, R=1, rec="sense", source="reference")
    assert reference[TIV].tolist() == [1001.0, 1001.0]  # row 1: the reference after the truth row
    assert set(feature_columns()) <= set(table.columns)
    with pytest.raises(ValueError, match=r"sub-02_segvolumes.tsv has 0 rows for R=4 rec=zf"):
        segmentation_features(tables, sheet, R=4, rec="zf", source="R4_zf")
    with pytest.raises(ValueError, match="lacks columns"):
        segmentation_features(
            {"01": volume_table("01", SEGMENTED).drop(columns=TIV)}, sheet, R=1, rec="sense", source="x"
        )
    with pytest.raises(ValueError, match="subject 03 is not in the sheet"):
        segmentation_features({"03": volume_table("03", SEGMENTED)}, sheet, R=1, rec="sense", source="x")


def test_prediction_figures_per_source():
    rng = np.random.default_rng(0)
    sources = {"reference": (None, 1.0, "sense"), "R8_cs": (-0.1, 8.0, "cs"), "truth": (0.05, None, None)}
    rows = []
    for source, (shift, _, _) in sources.items():
        for r in range(20):
            rows += [
                {"source": source, "repetition": r, "metric": m, "feature": "", "value": 0.8 + (shift or 0)}
                for m in ("accuracy", "balanced_accuracy")
            ]
            rows += [
                {"source": source, "repetition": r, "metric": "importance", "feature": f,
                 "value": v + (shift or 0) * (f == "left hippocampus") + rng.normal(0, 0.01)}
                for f, v in (("left hippocampus", 0.4), ("age", 0.3), ("sex", 0.1))
            ]  # fmt: skip
    runs = pd.DataFrame(rows).assign(seed=1)
    labels = {"reference": "Reference (SENSE R=1)", "R8_cs": "CS R=8", "truth": "Phantom truth (upper bound)"}
    fig = prediction_scores(runs, order=list(sources), labels=labels, simulated=True)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][1] == "CS R=8"
    summary = pd.concat([summarise(runs[runs.source == s]).assign(source=s) for s in sources])
    meta = pd.DataFrame([{"source": s, "R": R, "rec": rec} for s, (_, R, rec) in sources.items()])
    diffs = meta.merge(importance_differences(runs, reference="reference", n_boot=200), on="source")
    fig = importance_differences_plot(summary, diffs, reference="reference", labels=labels, simulated=True)
    assert len(fig.axes) == 2 and "SIMULATED" in fig._suptitle.get_text()
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["left hippocampus", "age", "sex"]
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == [
        "CS R=8",
        "Phantom truth (upper bound)",
    ]
    with pytest.raises(ValueError, match="no importance rows of the reference"):
        importance_differences_plot(summary, diffs, reference="dl")


@pytest.mark.parametrize(
    "coil_method, words",
    [
        ("espirit", "3D (kz, ky, kx) calibration"),
        ("espirit2d", "per readout plane"),
        ("lowres", "low-resolution"),
    ],
)
def test_methods_paragraph_names_the_coil_map_estimator(coil_method, words):
    from reconstudy.provenance import methods_paragraph

    config = {
        "sampling": {"accelerations": [4, 8], "pattern": "poisson", "calibration": 12},
        "recon": {"methods": ["cs"], "reference": "sense", "coil_method": coil_method},
    }
    assert words in methods_paragraph(config, 5)

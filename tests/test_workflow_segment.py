"""Segmentation in the workflow: its library helpers (Dice rows, ICV fractions, group tests) and DAG."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from conftest import REPO, run_snakemake
from reconstudy.segment import labels as L
from reconstudy.segment.study import (
    dice_rows,
    group_volume_tests,
    image_name,
    on_grid,
    structure_fractions,
    volume_record,
)
from reconstudy.segment.volumes import TIV
from test_workflow_dryrun import job_counts, write_config


def test_dice_rows_known_overlap():
    reference = np.zeros((4, 6, 6), np.int16)
    reference[:, :3] = 17  # left hippocampus: 72 voxels
    prediction = reference.copy()
    prediction[:2, :3] = 2  # half of it called white matter
    rows = {r["label"]: r for r in dice_rows(prediction, reference, "truth", {"subject": "01"})}
    assert rows[17]["dice"] == pytest.approx(2 * 36 / (36 + 72))
    assert rows[17]["structure"] == "left hippocampus" and rows[17]["against"] == "truth"
    assert rows[2]["dice"] == 0.0  # predicted only
    assert np.isnan(rows[53]["dice"])  # in neither map
    assert set(rows) == set(L.EVALUATED)


def test_volume_record_and_fractions():
    labels = np.zeros((10, 10, 10), np.int16)
    labels[:5] = 2  # 500 voxels of white matter
    labels[5, :2, :5] = 17  # 10 voxels left hippocampus
    labels[5, 2, :5] = 53  # 5 voxels right hippocampus
    labels[6, :4] = 4  # 40 voxels of ventricle
    affine = np.diag([2.0, 2.0, 2.0, 1.0])  # 8 mm^3 voxels
    record = volume_record(labels, affine, {"image": "reference"}, {"score": 0.9, "flags": ["x", "y"]}, "01")
    assert record[TIV] == pytest.approx(555 * 8)
    assert record["quality_flags"] == "x; y" and record["quality_score"] == 0.9
    table = pd.DataFrame([{**record, "group": "control"}])
    fractions = structure_fractions(table).set_index("structure")
    assert fractions.loc["hippocampus", "volume_mm3"] == pytest.approx(15 * 8)
    assert fractions.loc["lateral ventricles", "fraction_icv"] == pytest.approx(40 / 555)
    assert fractions.loc["amygdala", "volume_mm3"] == 0


def _fractions(values):
    rows = []
    for (group, structure), fractions in values.items():
        for i, value in enumerate(fractions):
            rows.append(
                {
                    "subject": f"{group}{i}",
                    "group": group,
                    "image": "reference",
                    "structure": structure,
                    "fraction_icv": value,
                }
            )
    return pd.DataFrame(rows)


def test_group_tests_direction_and_pvalues():
    control = [0.50, 0.52, 0.51, 0.53, 0.49]
    impaired = [0.40, 0.42, 0.41, 0.39, 0.43]
    fractions = _fractions(
        {
            ("control", "hippocampus"): control,
            ("impaired", "hippocampus"): impaired,
            ("control", "amygdala"): control,
            ("impaired", "amygdala"): control,  # no effect
            ("control", "lateral ventricles"): impaired,
            ("impaired", "lateral ventricles"): control,  # larger in the impaired group
            ("ms", "hippocampus"): [0.1],  # other groups are ignored
        }
    )
    tests = group_volume_tests(fractions).set_index("structure")
    expected = sps.mannwhitneyu(control, impaired, alternative="two-sided").pvalue
    assert tests.loc["hippocampus", "p_value"] == pytest.approx(expected)
    assert tests.loc["hippocampus", "change_percent"] == pytest.approx(100 * (0.41 - 0.51) / 0.51)
    assert tests.loc["hippocampus", "direction_ok"] and tests.loc["lateral ventricles", "direction_ok"]
    assert tests.loc["amygdala", "change_percent"] == 0 and not tests.loc["amygdala", "direction_ok"]
    assert tests.loc["hippocampus", "n_control"] == 5 and tests.loc["hippocampus", "n_impaired"] == 5
    # BH over the three structures of the image: the two equal smallest p become 3/2 p
    assert tests.loc["hippocampus", "p_fdr"] == pytest.approx(min(1, expected * 3 / 2))
    welch = group_volume_tests(fractions, test="ttest").set_index("structure")
    assert welch.loc["hippocampus", "p_value"] == pytest.approx(
        sps.ttest_ind(control, impaired, equal_var=False).pvalue
    )


def test_group_tests_with_an_empty_group_and_bad_test():
    fractions = _fractions({("control", "hippocampus"): [0.5, 0.4]})
    tests = group_volume_tests(fractions)
    assert tests["p_value"].isna().all() and tests["p_fdr"].isna().all()
    with pytest.raises(ValueError, match="mannwhitney"):
        group_volume_tests(fractions, test="anova")


def test_image_name_and_same_grid():
    assert image_name("1", "sense") == "reference" and image_name("12", "cs") == "R12 cs"
    labels = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    assert on_grid(labels, np.eye(4), (2, 3, 4), np.eye(4)) is labels
    finer = np.diag([0.5, 0.5, 0.5, 1.0])  # the same field of view at half the voxel size
    moved = on_grid(labels, np.eye(4), (4, 6, 8), finer)
    assert (
        moved.shape == (4, 6, 8)
        and moved[0, 0, 0] == labels[0, 0, 0]
        and moved[2, 2, 2] == labels[1, 1, 1]  # fine voxel 2 lies on coarse voxel 1
    )


def test_default_dry_run_has_one_segment_job_per_subject(workdir):
    counts = job_counts(run_snakemake(workdir, "-n", "--cores", "1").stdout)
    assert counts["segment"] == 6  # 6 subjects: each job segments the reference + 2 recons x 2 R
    assert counts["segment_cohort"] == 1 and counts["figure_segmentation"] == 1


def test_segmentation_can_be_switched_off(workdir):
    config = write_config(workdir, "segmentation: {enabled: false}\n")
    counts = job_counts(run_snakemake(workdir, "-n", "--cores", "1", "--configfile", config).stdout)
    assert not [rule for rule in counts if rule.startswith(("segment", "figure_segmentation"))]


def test_segmentation_images_follow_the_config(workdir):
    config = write_config(workdir, "segmentation: {recons: [cs], accelerations: [6, 8]}\n")
    result = run_snakemake(
        workdir,
        "-n",
        "--cores",
        "1",
        "--configfile",
        config,
        "--",
        "results/sub-01/metrics/sub-01_segdice.tsv",
    )
    job = result.stdout.split("rule segment:")[1].split("\n\n")[0]
    inputs = job.split("input:")[1].split("\n")[0]
    for R, rec in (("1", "sense"), ("6", "cs"), ("8", "cs")):
        assert f"sub-01_acq-R{R}_rec-{rec}_part-mag_T1w.nii.gz" in inputs
    assert inputs.count("_T1w.nii.gz") == 3 and "truth_dseg" in inputs


def test_unknown_segmentation_acceleration_is_named(workdir):
    config = write_config(workdir, "segmentation: {accelerations: [5]}\n")
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", config, check=False)
    assert result.returncode != 0
    assert (
        "segmentation.accelerations: ['5'] are not in sampling.accelerations" in result.stdout + result.stderr
    )


def test_figures_from_small_tables(tmp_path):
    from reconstudy.figures import save_figure
    from reconstudy.segment.figures import dice_figure, volumes_figure

    labels = np.zeros((6, 6, 6), np.int16)
    labels[:3] = 2
    labels[3, :2] = 17
    labels[4, :2] = 4
    volumes, dice = [], []
    for subject, group in (("01", "control"), ("02", "impaired")):
        for R, rec in (("1", "sense"), ("4", "cs")):
            keys = {
                "subject": subject,
                "group": group,
                "R": float(R),
                "rec": rec,
                "image": image_name(R, rec),
            }
            volumes.append(volume_record(labels, np.eye(4), keys, {"score": 0.9, "flags": []}, subject))
            dice += dice_rows(labels, labels, "truth", keys)
    paths = [tmp_path / name for name in ("dice.png", "dice.pdf", "volumes.png", "volumes.pdf")]
    save_figure(dice_figure(pd.DataFrame(dice)), paths[0], paths[1])
    save_figure(volumes_figure(pd.DataFrame(volumes)), paths[2], paths[3])
    assert all(path.stat().st_size > 5000 for path in paths)


def test_no_segmentation_without_t1w(workdir):
    config = write_config(workdir, "acquisitions: [mGRE]\n")
    counts = job_counts(run_snakemake(workdir, "-n", "--cores", "1", "--configfile", config).stdout)
    assert "segment" not in counts and counts["qsm"] == 6


def test_train_seg_feeds_every_segment_job(workdir):
    """segmentation.train: one train_seg job (three training maps); every segment job reads its manifest."""
    config = write_config(workdir, "segmentation: {train: {enabled: true, max_minutes: 30}}\n")
    stdout = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", config).stdout
    counts = job_counts(stdout)
    assert counts["train_seg"] == 1 and counts["segment"] == 6
    job = stdout.split("rule train_seg:")[1].split("\n\n")[0]
    inputs = job.split("input:")[1].split("\n")[0].split(", ")
    assert sorted(Path(p).name for p in inputs) == [f"training_seg_0{i}.nii.gz" for i in (1, 2, 3)]
    assert "results/models/segmenter/manifest.json" in job.split("output:")[1].split("\n")[0]
    segments = stdout.split("rule segment:")[1:]
    assert len(segments) == 6
    assert all("results/models/segmenter/manifest.json" in block.split("\n\n")[0] for block in segments)
    # without training the shipped model is used (its manifest an input: new weights re-segment)
    stdout = run_snakemake(workdir, "-n", "--cores", "1").stdout
    assert "train_seg" not in job_counts(stdout) and "results/models/segmenter" not in stdout
    shipped = str(REPO / "resources/models/segmenter/manifest.json")
    assert all(shipped in block.split("\n\n")[0] for block in stdout.split("rule segment:")[1:])


def test_lint_with_segmenter_training_is_clean(workdir):
    config = write_config(workdir, "segmentation: {train: {enabled: true}}\n")
    result = run_snakemake(workdir, "--lint", "--configfile", config, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "segmentation: {backend: synthseg, train: {enabled: true}}",
            "segmentation.train.enabled trains the embedded segmenter, but segmentation.backend is",
        ),
        (
            "segmentation: {model: my/segmenter, train: {enabled: true}}",
            "segmentation.model (my/segmenter) and segmentation.train.enabled both say",
        ),
        (
            "segmentation: {train: {enabled: true, resize_probability: 1.5}}",
            "segmentation.train.resize_probability: 1.5 is greater than the maximum of 1",
        ),
    ],
)
def test_train_seg_config_errors_are_named(workdir, text, message):
    result = run_snakemake(
        workdir, "-n", "--cores", "1", "--configfile", write_config(workdir, text), check=False
    )
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (workdir / "results").exists()


@pytest.mark.slow
def test_tiny_train_seg_run_writes_a_loadable_segmenter(workdir):
    """Two steps of a tiny U-Net on one label map: manifest, progress in the log, loadable weights."""
    import json

    from reconstudy.segment.embedded import EmbeddedSegmenter

    text = (
        "segmentation:\n  train: {enabled: true, label_maps: [resources/anatomy/training_seg_01.nii.gz],\n"
        "    steps: 2, batch_size: 1, base_channels: 2, levels: 2, patch: [16, 16, 16], warmup_steps: 1,\n"
        "    threads: 1, validate: 1, resize_probability: 1.0, harmonise_probability: 1.0,\n"
        "    atrophy_probability: 1.0, atrophy_max: 0.2}\n"
    )
    target = "results/models/segmenter/manifest.json"
    run_snakemake(workdir, "--cores", "1", "--configfile", write_config(workdir, text), "--", target)
    manifest = json.loads((workdir / target).read_text())
    training = manifest["training"]
    assert training["completed_steps"] == 2 and training["label_maps"] == ["training_seg_01.nii.gz"]
    assert training["config"]["synth"]["resize_probability"] == 1.0
    assert training["config"]["synth"]["harmonise_probability"] == 1.0
    assert training["config"]["synth"]["atrophy_probability"] == 1.0
    assert training["config"]["synth"]["atrophy_max"] == 0.2
    assert manifest["architecture"]["base_channels"] == 2 and "validation_synthetic_dice" in manifest
    assert "segmentation.train" in manifest["retrain"]
    segmenter = EmbeddedSegmenter.load(workdir / "results/models/segmenter")
    assert segmenter.provenance["sha256"] == manifest["sha256"] and segmenter.patch == (16, 16, 16)
    log = (workdir / "logs/train/segmenter.log").read_text()
    assert "segmenter training: 2/2 steps" in log
    assert list((workdir / "results/models/segmenter.work").glob("*/checkpoint.pt"))

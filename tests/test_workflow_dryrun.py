"""The workflow's DAG for several configs, and its errors for bad configs and sheets."""

import re

import pytest
import yaml

from conftest import REPO, run_snakemake
from reconstudy.io.readers import read_kspace

CONFIGS = ["tiny", "retrospective_phyllotaxis", "equispaced_mgre"]


def job_counts(stdout: str) -> dict[str, int]:
    table = stdout.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_default_config_dry_run(workdir):
    counts = job_counts(run_snakemake(workdir, "-n", "--cores", "1").stdout)
    # 6 subjects x 2 acquisitions: one job per R runs zf, SENSE and CS; one reference job;
    # one undersampling job writes every R
    assert counts["reconstruct"] == 6 * 2 * 4
    assert counts["reconstruct_reference"] == 6 * 2
    assert counts["reconstruct_dl"] == 6  # every R in one job; shipped MoDL, T1w only
    assert counts["reconstruct_dl_sr"] == 6  # the same, low-resolution acquisitions + shipped SR
    assert counts["dl_held_out"] == 1
    assert counts["undersample"] == 6 * 2
    assert counts["simulate_subject"] == 6
    # segmentation: one job per subject (every chosen T1w image), one cohort table job, one figure job
    assert counts["segment"] == 6
    assert counts["segment_cohort"] == counts["figure_segmentation"] == 1


# sub-<label>_<key>-<label>..._<suffix>.<ext>, labels letters and digits only (BIDS).
BIDS_NAME = re.compile(
    r"sub-(?P<sub>[A-Za-z0-9]+)/[a-z]+/sub-(?P=sub)(_[a-z]+-[A-Za-z0-9]+)*_[A-Za-z0-9]+\.[a-z0-9.]+"
)


def test_every_subject_output_has_a_bids_name(workdir):
    """dl_sr and a fractional R are written as BIDS labels (rec-dlsr, acq-R2p5), not split by parsers."""
    config = workdir / "fractional.yaml"
    config.write_text("sampling: {accelerations: [2.5, 4]}\nrecon: {methods: [sense, cs, dl]}\n")
    fractional = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", str(config)).stdout
    default = run_snakemake(workdir, "-n", "--cores", "1").stdout
    names = set(re.findall(r"results/(sub-[^\s,;]+)", default + fractional))
    assert names and all(BIDS_NAME.fullmatch(name) for name in names), sorted(
        n for n in names if not BIDS_NAME.fullmatch(n)
    )
    assert any("_rec-dlsr_" in n for n in names) and any("_acq-R2p5_" in n for n in names)
    # the per-R job matches the label form of a fractional R
    assert "logs/recon/sub-01_acq-R2p5_T1w.log" in fractional


@pytest.mark.parametrize("name", CONFIGS)
def test_config_matrix_dry_run(workdir, name):
    config = workdir / "tests" / "configs" / f"{name}.yaml"
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", str(config))
    settings = yaml.safe_load(config.read_text())
    counts = job_counts(result.stdout)
    n_acq = len(settings.get("acquisitions", ["T1w", "mGRE"]))
    n_R = len(settings["sampling"]["accelerations"])
    assert counts["undersample"] == counts["simulate_subject"] * n_acq
    assert counts["reconstruct"] == counts["simulate_subject"] * n_acq * n_R
    assert counts["reconstruct_reference"] == counts["simulate_subject"] * n_acq


def test_retrospective_masks_chain_from_r4(workdir):
    """Real undersampling jobs: every higher-R mask is a subset of the acquired R=4 mask."""
    tiny = yaml.safe_load((workdir / "tests" / "configs" / "tiny.yaml").read_text())
    tiny["acquisitions"] = ["T1w"]
    tiny["sampling"].update(pattern="phyllotaxis", accelerations=[4, 6, 8], retrospective_from=4)
    path = workdir / "retro.yaml"
    path.write_text(yaml.safe_dump(tiny))
    raw = [f"results/sub-01/raw/sub-01_acq-R{R}_T1w.h5" for R in (4, 6, 8)]
    run_snakemake(workdir, *raw, "--cores", "1", "--configfile", str(path))
    masks = [read_kspace(workdir / p).sampling_mask for p in raw]
    for R, mask in zip((6, 8), masks[1:]):
        assert not (mask & ~masks[0]).any()
        assert mask.size / mask.sum() == pytest.approx(R, rel=0.02)


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
        (
            "recon: {methods: [zf, dl_sr]}\nsampling: {accelerations: [2, 4]}",
            r"recon.methods has dl_sr.*is R = 4 already; sampling.accelerations \['2'\] are below it",
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


def test_unreadable_sr_manifest_is_named(workdir):
    """The dl_sr factor is read at DAG time: a broken manifest is a named config error, no traceback."""
    model = workdir / "sr.pt"
    model.write_bytes(b"weights")
    model.with_suffix(".json").write_text('{"architecture": "SuperResolution"}')
    config = write_config(workdir, f"recon: {{methods: [zf, dl_sr], dl: {{sr_model: {model}}}}}\n")
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", config, check=False)
    assert result.returncode != 0
    assert f"{model.with_suffix('.json')}: not a valid DL model manifest" in result.stdout + result.stderr
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


STUDIES = {
    # study config -> study jobs its DAG must hold
    "000_7t_dl": {"study_reading_packet": 1, "study_reader_statistics": 1, "study_figure_ratings": 1},
    "003_qsm_ms": {"study_qsm_subject": 8, "study_qsm_cohort": 1},
    "004_synthetic_7t": {"study_prediction_chunk": 10, "study_prediction_gather": 1},
}


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_study_config_dry_run(workdir, name):
    config = REPO / "config" / "studies" / f"{name}.yaml"
    counts = job_counts(run_snakemake(workdir, "-n", "--cores", "1", "--configfile", str(config)).stdout)
    for rule, expected in STUDIES[name].items():
        assert counts[rule] == expected, (rule, counts)
    assert counts["study_methods"] == 1


def test_default_config_has_no_study_jobs(workdir):
    counts = job_counts(run_snakemake(workdir, "-n", "--cores", "1").stdout)
    assert not [rule for rule in counts if rule.startswith("study_")]


def test_study_chunks_follow_the_config(workdir):
    config = REPO / "config" / "studies" / "004_synthetic_7t.yaml"
    overlay = write_config(workdir, "studies: {prediction: {repetitions: 250, chunk_size: 100}}")
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", str(config), overlay)
    assert job_counts(result.stdout)["study_prediction_chunk"] == 3


def test_bad_study_case_is_named(workdir):
    methods = "recon: {methods: [zf, sense, cs, dl]}\n"
    text = methods + "studies: {readers: {enabled: true, cases: [{rec: dl_sr, R: 4}]}}"
    config = write_config(workdir, text)
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", config, check=False)
    assert result.returncode != 0
    assert "studies.readers.cases[0]: rec 'dl_sr' is not in recon.methods" in result.stdout + result.stderr


def test_coil_compression_runs_through_the_workflow(workdir):
    """recon.coil_compression: the maps have rank V and every reconstruction runs on V virtual coils."""
    import numpy as np

    tiny = yaml.safe_load((workdir / "tests" / "configs" / "tiny.yaml").read_text())
    tiny["acquisitions"] = ["T1w"]
    tiny["recon"].update(methods=["sense"], coil_compression=4)
    path = workdir / "compressed.yaml"
    path.write_text(yaml.safe_dump(tiny))
    images = [f"results/sub-01/anat/sub-01_acq-R{R}_rec-sense_part-mag_T1w.nii.gz" for R in (1, 4)]
    run_snakemake(workdir, *images, "--cores", "1", "--configfile", str(path))
    maps = np.load(workdir / "results/sub-01/coils/sub-01_part-T1w_coilmaps.npy")
    singular = np.linalg.svd(maps.reshape(maps.shape[0], -1), compute_uv=False)
    assert maps.shape[0] == 8 and singular[3] > 1e-2 * singular[0] and singular[4] < 1e-5 * singular[0]
    for log in ("sub-01_acq-R1_T1w.log", "sub-01_acq-R4_T1w.log"):
        assert "coil compression: 8 coils -> 4 virtual coils" in (workdir / "logs/recon" / log).read_text()

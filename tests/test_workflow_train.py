"""Rule train_dl: the VarNet trained on the workflow's own cohort (recon.dl.train)."""

import json
import re

import pandas as pd
import pytest
import yaml

from conftest import REPO, run_snakemake
from reconstudy.recon.dl.io import load_model

SHEET = (
    "subject\tgroup\tage\tsex\tanatomy\tsplit\n"
    "01\tcontrol\t60\tF\t1\ttrain\n"
    "02\timpaired\t70\tM\t2\ttest\n"
    "03\tcontrol\t65\tM\t3\t\n"
)
TINY_MODEL = {
    "architecture": "VarNet",
    "model": {"num_cascades": 1, "chans": 4, "num_pools": 2, "sens_chans": 2, "sens_pools": 1},
    "training": {
        "epochs": 2,
        "steps_per_epoch": 2,
        "batch_size": 2,
        "accelerations": [4, 8],
        "val_accelerations": [4],
        "val_planes": 2,
        "seed": 5,
    },
}


def train_config(workdir, sheet=SHEET, **dl):
    (workdir / "sheet.tsv").write_text(sheet)
    (workdir / "tiny_train.yaml").write_text(yaml.safe_dump(TINY_MODEL))
    config = yaml.safe_load((workdir / "tests" / "configs" / "tiny.yaml").read_text())
    config["subjects"] = str(workdir / "sheet.tsv")
    config["recon"]["methods"] = ["zf", "dl"]
    config["recon"]["dl"] = {
        "train": True,
        "train_config": "tiny_train.yaml",
        "max_minutes": 1,
        "val_fraction": 0.5,
        "test_fraction": 0.0,
        **dl,
    }
    path = workdir / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def jobs(stdout, rule):
    """Input and output lines of every job of ``rule`` in a dry run's listing."""
    blocks = re.findall(rf"^rule {rule}:\n((?:    .*\n)+)", stdout, re.M)
    return [dict(re.findall(r"^    (input|output): (.*)$", block, re.M)) for block in blocks]


def test_one_train_dl_job_per_acquisition_feeds_reconstruct_dl(workdir):
    path = train_config(workdir, acquisitions=["T1w", "mGRE"])
    stdout = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", path).stdout
    trained = jobs(stdout, "train_dl")
    assert sorted(job["output"].split(", ")[0] for job in trained) == [
        "results/models/dl_T1w.pt",
        "results/models/dl_mGRE.pt",
    ]
    for job in trained:
        acq = re.search(r"dl_(\w+)\.pt", job["output"])[1]
        # 01 is train by the sheet, 03 drawn (val_fraction 0.5 of one free subject keeps it train
        # or val); 02 is test and never enters training
        raw = sorted(p for p in job["input"].split(", ") if p.endswith(".h5"))
        assert raw == [f"results/sub-01/raw/sub-01_{acq}.h5", f"results/sub-03/raw/sub-03_{acq}.h5"]
    recons = jobs(stdout, "reconstruct_dl")
    assert len(recons) == 3 * 2  # subjects x acquisitions (every R in one job)
    for job in recons:
        acq = re.search(r"_(T1w|mGRE)\.h5", job["input"])[1]
        assert f"results/models/dl_{acq}.pt" in job["input"].split(", ")


def test_default_dl_uses_the_shipped_model(workdir):
    path = train_config(workdir, train=False)
    stdout = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", path).stdout
    assert not jobs(stdout, "train_dl")
    shipped = str(REPO / "resources/models/modl_t1w.pt")
    assert all(shipped in job["input"] for job in jobs(stdout, "reconstruct_dl"))


def test_no_training_subject_is_a_config_error(workdir):
    sheet = "subject\tgroup\tsplit\n01\tcontrol\ttest\n02\tcontrol\tval\n"
    path = train_config(workdir, sheet=sheet)
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", path, check=False)
    assert result.returncode != 0
    sheet = workdir / "sheet.tsv"
    expected = f"cohort sheet {sheet}: recon.dl.train is true but no subject has split 'train'"
    assert expected in result.stdout + result.stderr
    assert not (workdir / "results").exists()


def test_lint_with_training_is_clean(workdir):
    result = run_snakemake(workdir, "--lint", "--configfile", train_config(workdir), check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_tiny_training_run_writes_model_and_manifest(workdir):
    """Two simulated subjects (T1w), one cascade, 2 x 2 steps: the model loads and records its fold."""
    sheet = SHEET.replace("\t3\t\n", "\t3\tval\n")  # 01 train, 02 test, 03 val
    config = yaml.safe_load(open(train_config(workdir, sheet=sheet)))
    config["acquisitions"] = ["T1w"]
    config["recon"]["methods"] = ["zf", "dl", "dl_sr"]  # dl_sr: the trained dl, then the shipped SR
    (workdir / "train.yaml").write_text(yaml.safe_dump(config))
    target = "results/sub-02/anat/sub-02_acq-R4_rec-dl_part-mag_T1w.nii.gz"
    metrics = "results/group/metrics.tsv"
    run_snakemake(workdir, target, metrics, "--cores", "2", "--configfile", str(workdir / "train.yaml"))
    # The cohort table scores the test split only (every method), not the images trained on.
    table = pd.read_csv(workdir / metrics, sep="\t", dtype={"subject": str})
    assert set(table["subject"]) == {"02"} and {"zf", "dl", "dl_sr"} <= set(table["rec"])
    # 02 is anatomy 2: the dl model (01, 03: anatomies 1, 3) never saw it, the shipped SR did.
    seen = table.groupby("rec")["model_saw_anatomy"].agg(set)
    assert seen["dl"] == {"no"} and seen["dl_sr"] == {"yes"}
    sidecar = target.replace("rec-dl_", "rec-dlsr_").replace(".nii.gz", ".json")  # BIDS label of dl_sr
    sr = json.loads((workdir / sidecar).read_text())
    assert sr["AccelerationAchieved"] == pytest.approx(4.0, rel=0.02) and sr["low_resolution_factor"] == 2
    model, manifest = load_model(workdir / "results/models/dl_T1w.pt")
    assert manifest["architecture"]["config"]["num_cascades"] == 1
    subjects = manifest["data"]["subjects"]
    assert subjects == {"train": ["01"], "val": ["03"], "test": ["02"]}
    assert manifest["validation"]["on"] == "val subjects" and manifest["validation"]["best_epoch"] >= 1
    assert manifest["data"]["fold"]["splits"]["02"] == "test"
    assert manifest["training"]["completed_epochs"] == 2 and manifest["training"]["max_minutes"] == 1
    assert manifest["training"]["pattern"] == "poisson" and manifest["training"]["calibration"] == 8
    sidecar = json.loads((workdir / target.replace(".nii.gz", ".json")).read_text())
    assert sidecar["model"] == "results/models/dl_T1w.pt"
    log = (workdir / "logs/train/dl_T1w.log").read_text()
    assert "DL training: 4/4" in log and "epoch 2:" in log
    assert (workdir / "logs/benchmarks/train/dl_T1w.tsv").is_file()


def test_no_test_subject_is_a_config_error(workdir):
    """The cohort metrics keep the test split only; without one the workflow stops at once."""
    sheet = "subject\tgroup\tsplit\n01\tcontrol\ttrain\n02\tcontrol\tval\n"
    path = train_config(workdir, sheet=sheet)
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", path, check=False)
    assert result.returncode != 0
    expected = f"cohort sheet {workdir / 'sheet.tsv'}: recon.dl.train is true but no subject has split 'test'"
    assert expected in result.stdout + result.stderr
    assert not (workdir / "results").exists()

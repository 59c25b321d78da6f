"""Model files: manifest contents, checksum, wrong architecture, corrupted weights."""

import json

import numpy as np
import pytest
import torch

from reconstudy.recon.dl.io import load_model, manifest_path, save_model, sha256_of
from reconstudy.recon.dl.modl import MoDL
from reconstudy.recon.dl.superres import SuperResolution
from reconstudy.recon.dl.varnet import VarNet

torch.set_num_threads(1)
SMALL = dict(num_cascades=2, chans=4, num_pools=2, sens_chans=2, sens_pools=1)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = VarNet(**SMALL)
    path = tmp_path / "varnet.pt"
    save_model(
        path,
        model,
        training={"epochs": 1},
        data={"subjects": ["a"]},
        validation={"ssim": 0.9},
        retrain="reconstudy train-dl --config c.yaml --out varnet.pt",
    )
    return model, path


def test_round_trip_and_manifest(saved):
    model, path = saved
    manifest = json.loads(manifest_path(path).read_text())
    assert manifest["sha256"] == sha256_of(path)
    assert manifest["architecture"] == {"name": "VarNet", "config": {**SMALL, "coil_maps": "network"}}
    assert manifest["validation"] == {"ssim": 0.9} and "train-dl" in manifest["retrain"]
    loaded, loaded_manifest = load_model(path)
    assert loaded_manifest == manifest and not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])


def test_superresolution_round_trip(tmp_path):
    path = tmp_path / "sr.pt"
    save_model(path, SuperResolution(chans=4, num_pools=2))
    model, manifest = load_model(path)
    assert isinstance(model, SuperResolution) and manifest["architecture"]["config"]["factor"] == 2


def test_corrupted_file_names_the_manifest(saved):
    _, path = saved
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"corrupted.*varnet\.json.*retrain"):
        load_model(path)


def test_unreadable_weights_with_matching_checksum(saved):
    _, path = saved
    path.write_bytes(b"not a torch file")
    manifest = json.loads(manifest_path(path).read_text())
    manifest["sha256"] = sha256_of(path)
    manifest_path(path).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"cannot read DL weights.*varnet\.json"):
        load_model(path)


def test_wrong_architecture_names_the_manifest(saved):
    _, path = saved
    manifest = json.loads(manifest_path(path).read_text())
    manifest["architecture"]["config"]["chans"] = 8
    manifest_path(path).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"do not fit architecture VarNet.*varnet\.json"):
        load_model(path)
    manifest["architecture"] = {"name": "SuperResolution", "config": {"chans": 4, "num_pools": 2}}
    manifest_path(path).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"varnet\.json"):
        load_model(path)
    manifest["architecture"] = {"name": "ResNet", "config": {}}
    manifest_path(path).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"unknown DL architecture.*varnet\.json"):
        load_model(path)


def test_missing_files(tmp_path, saved):
    _, path = saved
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "absent.pt")
    manifest_path(path).unlink()
    with pytest.raises(FileNotFoundError, match=r"no manifest .*varnet\.json"):
        load_model(path)


def test_weights_only_loading_rejects_pickled_code(saved):
    _, path = saved
    torch.save({"weights": np.arange(3)}, path)  # numpy objects need full unpickling
    manifest = json.loads(manifest_path(path).read_text())
    manifest["sha256"] = sha256_of(path)
    manifest_path(path).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"cannot read DL weights.*varnet\.json"):
        load_model(path)


def test_shipped_model_loads_with_its_manifest():
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[1] / "resources" / "models" / "modl_t1w.pt"
    if not shipped.exists():
        pytest.skip("no shipped model in resources/models")
    model, manifest = load_model(shipped)
    assert isinstance(model, MoDL) and "train-dl" in manifest["retrain"]
    assert manifest["size_bytes"] < 10 * 2**20  # the repository ships it: keep it small
    # the held-out scores are of an anatomy the model never saw, and compare DL with CS at R = 4
    held_out = manifest["validation"]["held_out"]
    assert held_out["anatomy"] not in manifest["data"]["train_anatomies"]
    scored = {(row["rec"], row["R"]) for row in held_out["summary"]}
    assert ("cs", 4.0) in scored and {("dl", r) for r in (4.0, 6.0, 8.0, 12.0)} <= scored
    rows = manifest["validation"]["leave_one_anatomy_out"]["rows"]
    assert {row["fold_test_anatomy"] for row in rows} == {held_out["anatomy"]}
    # every leave-one-anatomy-out fold is reported, each on the anatomy it did not train on
    folds = manifest["validation"]["folds"]["folds"]
    assert sorted(f["test_anatomy"] for f in folds) == [1, 2, 3]
    assert all(f["test_anatomy"] not in f["train_anatomies"] for f in folds)

"""Blinded reading packets: contents, blinding, determinism, atomicity, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image

from reconstudy.cli import main as cli_main
from reconstudy.io.kspace import Geometry
from reconstudy.io.nifti import save_image
from reconstudy.readers import ReadingCase, blind_order, export_packet, key_path_for
from reconstudy.readers import packet as packet_module

# Distinctive names: if any of them appears in the packet, blinding is broken.
SUBJECTS = ("subjZebra01", "subjOkapi02")
METHODS = (("MethodQuokka", 4), ("MethodNarwhal", 8))


def _cases(shape=(10, 14, 12)):
    rng = np.random.default_rng(0)
    roi = ((2, 6), (3, 9), (4, 10)) if shape == (10, 14, 12) else None
    affine = Geometry.centred(shape[::-1], (0.9, 1.1, 1.5)).affine
    return [
        ReadingCase(
            subject, method, rng.random(shape).astype(np.float32) * (n + 1), R=R, affine=affine, roi=roi
        )
        for subject in SUBJECTS
        for n, (method, R) in enumerate(METHODS)
    ]


@pytest.fixture(scope="module")
def packet(tmp_path_factory):
    return export_packet(_cases(), tmp_path_factory.mktemp("p") / "packet", seed=42)


def test_layout_and_key_outside(packet):
    out = packet.directory
    assert packet.key_path == key_path_for(out) == out.parent / "packet_key.tsv"
    assert packet.key_path.exists() and packet.key_path.with_suffix(".json").exists()
    names = {p.name for p in out.rglob("*")}
    assert not any("key" in n for n in names)
    assert {"index.html", "packet.json", "README.txt"} <= names
    manifest = json.loads((out / "packet.json").read_text())
    ids = [c["id"] for c in manifest["cases"]]
    assert ids == packet.key["case"].tolist()
    assert len(set(ids)) == 4 and all(i.startswith("case-") for i in ids)
    for cid in ids:
        assert (out / "images" / f"{cid}.png").exists()
        assert len(list((out / "dicom" / cid).glob("*.dcm"))) == 10
    key = pd.read_csv(packet.key_path, sep="\t")
    assert set(zip(key.subject, key.method, key.R)) == {(s, m, r) for s in SUBJECTS for m, r in METHODS}
    assert not list(out.parent.glob(".packet*"))  # no temporary folder left behind
    # One timestamp for everything: write times must not reveal which cases were built together.
    assert len({p.stat().st_mtime for p in out.rglob("*")}) == 1
    assert all(p.stat().st_mode & 0o444 == 0o444 for p in [out, *out.rglob("*")])  # shareable
    assert packet.key_path.stat().st_mode & 0o077 == 0  # the key stays private to its owner


def test_no_subject_or_method_anywhere_in_packet(packet):
    secrets = [s.lower() for s in SUBJECTS] + [m.lower() for m, _ in METHODS]
    for path in packet.directory.rglob("*"):
        assert not any(s in path.name.lower() for s in secrets), path
        if path.is_file():
            blob = path.read_bytes().lower()
            assert not any(s.encode() in blob for s in secrets), path
    png = Image.open(next((packet.directory / "images").iterdir()))
    assert not png.info.get("Software") and not getattr(png, "text", {})
    ds = pydicom.dcmread(next((packet.directory / "dicom").rglob("*.dcm")))
    for element in ds.iterall():
        text = str(element.value).lower()
        assert not any(s in text for s in secrets), element
    assert ds.PatientName == ds.PatientID == ds.SeriesDescription
    assert ds.PatientIdentityRemoved == "YES"
    assert all(
        not ds.get(tag)
        for tag in (
            "StudyDate",
            "SeriesDate",
            "AcquisitionDate",
            "ContentDate",
            "PatientBirthDate",
            "InstitutionName",
        )
    )


def test_shuffle_is_deterministic_by_seed_and_input_order():
    cases = _cases((4, 5, 6))
    a = blind_order(cases, seed=3)
    assert blind_order(cases, seed=3) == a
    reordered = list(reversed(cases))
    order_r, ids_r, pid_r = blind_order(reordered, seed=3)
    # Same case (subject, method) gets the same ID and position whatever the input order.
    as_ids = lambda cs, order, ids: {(cs[i].subject, cs[i].label): (n, ids[n]) for n, i in enumerate(order)}  # noqa: E731
    assert as_ids(reordered, order_r, ids_r) == as_ids(cases, a[0], a[1]) and pid_r == a[2]
    others = [blind_order(cases, seed=s) for s in range(4, 12)]
    assert any(o[0] != a[0] for o in others) and all(o[1] != a[1] for o in others)


def test_same_seed_gives_identical_packet(tmp_path):
    cases = _cases((4, 6, 5))
    p1 = export_packet(cases, tmp_path / "a", seed=9)
    p2 = export_packet(cases, tmp_path / "b", seed=9)
    files1 = sorted(p.relative_to(p1.directory) for p in p1.directory.rglob("*") if p.is_file())
    files2 = sorted(p.relative_to(p2.directory) for p in p2.directory.rglob("*") if p.is_file())
    assert files1 == files2
    assert all((p1.directory / f).read_bytes() == (p2.directory / f).read_bytes() for f in files1)


def test_existing_packet_refused_and_failure_leaves_nothing(tmp_path, monkeypatch):
    cases = _cases((4, 6, 5))
    export_packet(cases, tmp_path / "p", seed=1, dicom=False)
    with pytest.raises(ValueError, match="already exists"):
        export_packet(cases, tmp_path / "p", seed=1)
    export_packet(cases, tmp_path / "p", seed=2, overwrite=True, dicom=False)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(packet_module, "write_dicom_series", boom)
    with pytest.raises(RuntimeError):
        export_packet(cases, tmp_path / "q", seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p", "p_key.json", "p_key.tsv"]


def test_bad_cases_rejected(tmp_path):
    vol = np.zeros((3, 4, 5))
    with pytest.raises(ValueError, match="once"):
        export_packet(
            [ReadingCase("s", "CS R=4", vol), ReadingCase("s", "CS", vol, R=4)], tmp_path / "x", seed=1
        )
    with pytest.raises(ValueError, match="3D"):
        export_packet([ReadingCase("s", "CS", np.zeros((3, 4)))], tmp_path / "x", seed=1)
    with pytest.raises(ValueError, match="roi"):
        export_packet([ReadingCase("s", "CS", vol, roi=((0, 9), (0, 2), (0, 2)))], tmp_path / "x", seed=1)
    with pytest.raises(ValueError, match="criteria"):
        export_packet([ReadingCase("s", "CS", vol)], tmp_path / "x", seed=1, criteria=["Bad Name"])
    assert not list(tmp_path.iterdir())
    case = ReadingCase("s", "DL R=12", vol)
    assert (case.method, case.R, case.label) == ("DL", 12, "DL R=12")


def test_montage_orientation_radiological():
    """A bright voxel block on the patient's left/anterior/superior shows up on the image right/top."""
    from reconstudy.readers.montage import Window, render_montage

    vol = np.zeros((20, 20, 20), np.float32)
    vol[14:18, 14:18, 14:18] = 1.0  # high x (patient right), high y (anterior), high z (superior)
    roi = ((13, 19), (13, 19), (13, 19))  # slices through the block; outline drawn in yellow (blue = 0)
    image = np.asarray(render_montage(vol, np.eye(4), Window(0.0, 1.0), roi=roi, size_px=100))[..., 2]
    panels = {"axial": image[:, :100], "coronal": image[:, 108:208], "sagittal": image[:, 216:316]}
    centroid = {name: [idx.mean() for idx in np.nonzero(p > 128)] for name, p in panels.items()}
    # RAS +x is the patient's right, shown on the image LEFT (radiological); anterior and superior at the top;
    # sagittal views put anterior on the left.
    assert centroid["axial"][0] < 50 and centroid["axial"][1] < 50
    assert centroid["coronal"][0] < 50 and centroid["coronal"][1] < 50
    assert centroid["sagittal"][0] < 50 and centroid["sagittal"][1] < 50
    assert image.shape[1] == 4 * 100 + 3 * 8  # three views and the zoom


def test_cli_packet_from_nifti(tmp_path, capsys):
    affine = Geometry.centred((6, 5, 4), (1.0, 1.0, 2.0)).affine
    rows = []
    for method, R in (("CS", 4), ("DL", 8)):
        path = tmp_path / f"s1_{method}.nii.gz"
        save_image(path, np.random.default_rng(R).random((4, 5, 6)), affine)
        rows.append({"subject": "s1", "method": method, "R": R, "image": path.name, "roi": "0:2,1:4,1:5"})
    pd.DataFrame(rows).to_csv(tmp_path / "cases.tsv", sep="\t", index=False)
    args = [
        "reading",
        "packet",
        "--cases",
        str(tmp_path / "cases.tsv"),
        "--out",
        str(tmp_path / "pk"),
        "--seed",
        "5",
        "--criteria",
        "overall_quality,noise",
    ]
    assert cli_main(args) == 0
    manifest = json.loads((tmp_path / "pk" / "packet.json").read_text())
    assert [c["id"] for c in manifest["criteria"]] == ["overall_quality", "noise"]
    assert cli_main(args) == 1 and "already exists" in capsys.readouterr().err

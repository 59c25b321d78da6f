"""Volumes in SynthSeg's CSV layout, the mri_synthseg interface, backend choice, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reconstudy.io.nifti import save_image
from reconstudy.segment import app
from reconstudy.segment import labels as L
from reconstudy.segment.embedded import DEFAULT_MODEL_DIR
from reconstudy.segment.synthseg import SynthSeg
from reconstudy.segment.volumes import (
    COLUMNS,
    TIV,
    read_volumes_csv,
    tidy_volumes,
    volumes_row,
    volumes_table,
    write_volumes_csv,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data" / "synthseg_label_maps"


def test_volumes_known_answer_and_layout():
    labels = np.zeros((10, 10, 10), np.int16)
    labels[:2] = 17  # 200 voxels
    labels[5, 5, 5] = 25  # white-matter lesion -> left cerebral white matter
    labels[9, 9, 9] = 507  # extra-cerebral -> background
    affine = np.diag([2.0, 1.0, 1.5, 1.0])  # 3 mm^3 voxels
    row = volumes_row(labels, affine, "sub-01")
    assert row["left hippocampus"] == pytest.approx(600.0)
    assert row["left cerebral white matter"] == pytest.approx(3.0)
    assert row[TIV] == pytest.approx(603.0)
    assert COLUMNS[:4] == ["subject", TIV, "left cerebral white matter", "left cerebral cortex"]
    if SHARED.exists():  # SynthSeg 2.0 order: increasing label value, names from its own table
        names = np.load(SHARED / "synthseg_segmentation_names_2.0.npy")
        values = np.load(SHARED / "synthseg_segmentation_labels_2.0.npy")
        expected = [str(n) for _, n in sorted(set(zip(values.tolist(), names.tolist()))) if _ != 0]
        assert COLUMNS[2:] == expected


def test_csv_round_trip_and_malformed_files(tmp_path):
    table = volumes_table([volumes_row(np.full((4, 4, 4), 3, np.int16), np.eye(4), "a")])
    path = write_volumes_csv(tmp_path / "vol.csv", table)
    back = read_volumes_csv(path)
    assert list(back.columns) == COLUMNS and back.loc[0, "left cerebral cortex"] == 64.0
    assert json.loads(path.with_suffix(".json").read_text())["Units"] == "mm^3"
    tidy = tidy_volumes(back)
    assert set(tidy.columns) == {"subject", "structure", "label", "volume_mm3"}
    assert tidy.loc[tidy.structure == "left cerebral cortex", "label"].item() == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("name,volume\na,1\n")
    with pytest.raises(ValueError, match="subject,total intracranial"):
        read_volumes_csv(bad)
    table.loc[0, "left hippocampus"] = -1
    table.to_csv(bad, index=False)
    with pytest.raises(ValueError, match="left hippocampus"):
        read_volumes_csv(bad)
    with pytest.raises(FileNotFoundError):
        read_volumes_csv(tmp_path / "none.csv")


def test_synthseg_command_line(tmp_path):
    image = tmp_path / "T1.nii.gz"
    image.write_bytes(b"")
    seg = SynthSeg(in_file=str(image), out_file="seg.nii.gz")
    assert seg.cmdline == f"mri_synthseg --i {image} --o seg.nii.gz"
    seg = SynthSeg(
        in_file=str(image), out_file="seg.nii.gz", vol="vol.csv", parc=True, robust=True, threads=4
    )
    assert seg.cmdline == f"mri_synthseg --i {image} --o seg.nii.gz --parc --robust --threads 4 --vol vol.csv"


def test_auto_backend_follows_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert app.choose_backend("auto") == "embedded"
    tool = tmp_path / "mri_synthseg"
    tool.write_text("#!/bin/sh\nexit 1\n")  # never run: only its presence on PATH is tested
    tool.chmod(0o755)
    assert app.choose_backend("auto") == "synthseg"
    assert app.choose_backend("embedded") == "embedded"
    with pytest.raises(ValueError, match="backend"):
        app.choose_backend("freesurfer")


class _Done:
    def __init__(self, code, err):
        self.returncode, self.stderr = code, err


def _cli(*args):
    """Run ``reconstudy ARGS`` in-process (the CLI's own error handling included)."""
    import contextlib
    import io

    from reconstudy.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(list(args))
    return _Done(code, err.getvalue())


def test_cli_refuses_2d_and_empty_images_and_writes_nothing(tmp_path):
    flat = tmp_path / "flat.nii.gz"
    save_image(flat, np.random.default_rng(0).random((1, 64, 64)).astype(np.float32), np.diag([1, 1, 1, 1.0]))
    out = tmp_path / "seg.nii.gz"
    done = _cli("segment", "--image", str(flat), "--backend", "embedded", "--out", str(out))
    assert done.returncode == 1 and "3D brain volume" in done.stderr
    empty = tmp_path / "empty.nii.gz"
    save_image(empty, np.zeros((40, 40, 40), np.float32), np.diag([2.5, 2.5, 2.5, 1.0]))
    done = _cli("segment", "--image", str(empty), "--backend", "embedded", "--out", str(out))
    assert done.returncode == 1 and "empty or constant" in done.stderr
    assert not out.exists() and not list(tmp_path.glob("seg*"))


shipped = pytest.mark.skipif(
    not (DEFAULT_MODEL_DIR / "manifest.json").exists(), reason="no shipped segmenter"
)


@shipped
def test_embedded_csv_is_read_by_the_synthseg_reader(tmp_path):
    """A real CSV from our embedded backend, in SynthSeg's layout, read by the synthseg backend's reader."""
    from reconstudy.segment.synth import SynthConfig, sample_labels, tissue_image

    anatomy = ROOT / "resources" / "anatomy" / "training_seg_02.nii.gz"
    if not anatomy.exists():
        pytest.skip("resources/anatomy label maps absent")
    labels = sample_labels(anatomy, SynthConfig(patch=(64, 80, 64)), np.random.default_rng(0), deform=False)
    image = tmp_path / "T1w.nii.gz"
    save_image(
        image, tissue_image(labels, "t1w", rng=np.random.default_rng(3)), np.diag([2.5, 2.5, 2.5, 1.0])
    )
    seg, vol = tmp_path / "seg.nii.gz", tmp_path / "vol.csv"
    # no --allow-low-quality: the shipped model segments a head of its training maps unflagged
    done = _cli(
        "segment",
        "--image",
        str(image),
        "--backend",
        "embedded",
        "--out",
        str(seg),
        "--volumes",
        str(vol),
    )
    assert done.returncode == 0, done.stderr
    sidecar = json.loads((tmp_path / "seg.json").read_text())
    assert sidecar["Backend"] == "embedded" and sidecar["Model"]["sha256"]
    table = read_volumes_csv(vol)
    assert table.shape == (1, len(COLUMNS))
    assert table.loc[0, TIV] == pytest.approx(table.iloc[0, 2:].sum(), rel=1e-6)
    voxels = table.iloc[0, 2:].sum() / 2.5**3
    assert voxels == pytest.approx(round(voxels))  # volumes are whole voxels of 15.625 mm^3
    raw = pd.read_csv(vol, header=None, nrows=1).iloc[0].tolist()
    assert raw[:3] == ["subject", "total intracranial", "left cerebral white matter"]


@shipped
def test_cli_refuses_noise_unless_allowed(tmp_path):
    noise = tmp_path / "noise.nii.gz"
    save_image(
        noise, np.random.default_rng(0).random((64, 80, 64)).astype(np.float32), np.diag([2.5, 2.5, 2.5, 1])
    )
    out = tmp_path / "seg.nii.gz"
    done = _cli("segment", "--image", str(noise), "--backend", "embedded", "--out", str(out))
    assert done.returncode == 1 and "quality checks" in done.stderr and not out.exists()
    done = _cli(
        "segment", "--image", str(noise), "--backend", "embedded", "--out", str(out), "--allow-low-quality"
    )
    assert done.returncode == 0 and out.exists()
    sidecar = json.loads((tmp_path / "seg.json").read_text())
    assert sidecar["Quality"]["flags"] and sidecar["Model"]["flip_average"] is True
    assert sidecar["Model"]["clean_up"] is True and sidecar["Model"]["tile_divisor"] == 3
    assert L.N_CLASSES == 33
    args = ("--image", str(noise), "--backend", "embedded", "--out", str(out), "--allow-low-quality")
    assert _cli("segment", *args, "--no-flip-average", "--no-clean-up", "--tile-divisor", "2").returncode == 0
    model = json.loads((tmp_path / "seg.json").read_text())["Model"]
    assert model["flip_average"] is False and model["clean_up"] is False and model["tile_divisor"] == 2
    refused = _cli("segment", *args, "--tile-divisor", "0")
    assert refused.returncode != 0 and "tile_divisor" in refused.stderr

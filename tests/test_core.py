"""Canonical k-space, NIfTI I/O, atomic writes, FFT and progress."""

import logging
import re

import nibabel as nib
import numpy as np
import pytest

from reconstudy.fourier import fftc, ifftc
from reconstudy.io import Geometry, KSpace, load_image, save_image
from reconstudy.io.atomic import atomic_path
from reconstudy.progress import Progress


def make_kspace(shape=(1, 2, 6, 8, 10)):
    rng = np.random.default_rng(0)
    data = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    geometry = Geometry.centred(shape[:1:-1], (1.0, 1.5, 2.0), echo_times_ms=(4.0,) * shape[0])
    return KSpace(data, geometry, "T1w")


def test_geometry_centres_the_grid():
    geometry = Geometry.centred((10, 8, 6), (1.0, 1.5, 2.0))
    centre = geometry.affine @ np.array([4.5, 3.5, 2.5, 1.0])
    np.testing.assert_allclose(centre[:3], 0.0)
    assert geometry.fov_mm == (10.0, 12.0, 12.0)
    with pytest.raises(ValueError, match="b0_direction"):
        Geometry.centred((4, 4, 4), (1, 1, 1), b0_direction=(0, 0, 0))


def test_kspace_checks_shapes():
    kspace = make_kspace()
    assert kspace.acceleration == 1.0 and kspace.sampling_mask.shape == (6, 8)
    with pytest.raises(ValueError, match="does not match the geometry"):
        KSpace(kspace.data[:, :, :5], kspace.geometry)
    with pytest.raises(ValueError, match="axes"):
        KSpace(kspace.data[0], kspace.geometry)


def test_undersample_keeps_only_masked_lines():
    kspace = make_kspace()
    mask = np.zeros((6, 8), bool)
    mask[::2, ::2] = True
    under = kspace.undersample(mask)
    assert under.acceleration == pytest.approx(4.0)
    np.testing.assert_array_equal(under.data[:, :, ~mask], 0)
    np.testing.assert_array_equal(under.data[:, :, mask], kspace.data[:, :, mask])
    with pytest.raises(ValueError, match="not acquired"):
        under.undersample(np.ones((6, 8), bool))
    with pytest.raises(ValueError, match="mask shape"):
        kspace.undersample(np.ones((8, 6), bool))


def test_nifti_round_trip_keeps_axes_and_affine(tmp_path):
    volume = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)  # (echo, z, y, x)
    affine = np.array([[0, 0, 2.0, -10], [1.5, 0, 0, -5], [0, 1.0, 0, 3], [0, 0, 0, 1]])
    path = save_image(tmp_path / "v.nii.gz", volume, affine)
    raw = nib.load(str(path))
    assert raw.shape == (5, 4, 3, 2)  # NIfTI order (x, y, z, echo)
    assert raw.get_fdata()[4, 3, 2, 1] == volume[1, 2, 3, 4]
    np.testing.assert_allclose(raw.header.get_sform(), affine)
    back, back_affine = load_image(path)
    np.testing.assert_array_equal(back, volume)
    np.testing.assert_allclose(back_affine, affine)


def test_nifti_refuses_complex_and_bad_files(tmp_path):
    with pytest.raises(TypeError, match="magnitude and phase"):
        save_image(tmp_path / "c.nii.gz", np.ones((2, 2, 2), np.complex64), np.eye(4))
    assert not list(tmp_path.iterdir())
    (tmp_path / "bad.nii.gz").write_bytes(b"not nifti")
    with pytest.raises(ValueError, match="bad.nii.gz: not a readable NIfTI"):
        load_image(tmp_path / "bad.nii.gz")


def test_save_reconstruction_writes_magnitude_phase_and_sidecar(tmp_path):
    import json

    from reconstudy.io.nifti import save_reconstruction

    geometry = Geometry.centred((5, 4, 3), (1.0, 1.0, 2.0), echo_times_ms=(4.0,))
    kspace = KSpace(np.zeros((1, 2, 3, 4, 5), np.complex64), geometry, "T1w")
    image = (np.arange(60).reshape(1, 3, 4, 5) * np.exp(0.5j)).astype(np.complex64)
    paths = {"mag": tmp_path / "m.nii.gz", "phase": tmp_path / "p.nii.gz", "sidecar": tmp_path / "m.json"}
    save_reconstruction(paths, image, kspace, method="dl", model="x.pt")
    magnitude, affine = load_image(paths["mag"])
    assert magnitude.shape == (3, 4, 5)  # one echo -> a 3D volume
    np.testing.assert_allclose(magnitude, np.abs(image[0]), rtol=1e-6)
    np.testing.assert_allclose(load_image(paths["phase"])[0][1:], 0.5, rtol=1e-6)
    np.testing.assert_allclose(affine, geometry.affine)
    sidecar = json.loads(paths["sidecar"].read_text())
    assert sidecar["method"] == "dl" and sidecar["model"] == "x.pt" and sidecar["EchoTime"] == [0.004]


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.nii.gz"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.nii.gz"]
    with atomic_path(target) as tmp:
        assert tmp.name.endswith(".nii.gz")
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o644 == 0o644  # readable by others, like any ordinary output


def test_centred_fft_is_unitary_and_centred():
    rng = np.random.default_rng(1)
    image = rng.standard_normal((8, 10, 12)) + 1j * rng.standard_normal((8, 10, 12))
    kspace = fftc(image)
    assert np.linalg.norm(kspace) == pytest.approx(np.linalg.norm(image))
    np.testing.assert_allclose(ifftc(kspace), image, atol=1e-12)
    constant = fftc(np.ones((8, 10, 12)))
    assert np.unravel_index(np.abs(constant).argmax(), constant.shape) == (4, 5, 6)


def test_progress_reports_rate_and_eta(caplog):
    progress = Progress(total=4, label="planes", unit="plane", every_s=0.0)
    with caplog.at_level(logging.INFO, logger="reconstudy"):
        progress.advance(2)
        progress.advance(2, residual=0.5)
    assert "planes: 2/4 planes" in caplog.messages[0] and "ETA" in caplog.messages[0]
    assert "4/4" in caplog.messages[-1] and "residual=0.5" in caplog.messages[-1]
    # With a wall-clock budget (--max-minutes) the ETA is the budget's end when that comes first.
    budgeted = Progress(total=1_000_000, label="steps", unit="step", budget_s=60.0)
    budgeted.done = 1
    line = budgeted.line(budgeted.start + 10.0)  # 1 step in 10 s: the steps would take ~4 months
    assert float(re.search(r"ETA ([0-9.]+) s", line)[1]) == pytest.approx(50.0) and "(time budget)" in line
    quick = Progress(total=2, label="steps", unit="step", budget_s=3600.0)
    quick.done = 1
    line = quick.line(quick.start + 10.0)
    assert float(re.search(r"ETA ([0-9.]+) s", line)[1]) == pytest.approx(10.0) and "budget" not in line

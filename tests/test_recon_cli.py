"""`reconstudy mask` and `reconstudy recon`: outputs, transposition, errors leave nothing behind."""

from dataclasses import replace

import numpy as np
import pytest

from phantoms import ellipsoid_phantom
from reconstudy.cli import main
from reconstudy.commands import recon as recon_command
from reconstudy.fourier import fftc
from reconstudy.io.ismrmrd_io import write_ismrmrd
from reconstudy.io.kspace import Geometry, KSpace
from reconstudy.io.nifti import load_image


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    shape = (24, 32, 8)  # (z, y, x)
    image = ellipsoid_phantom(shape).astype(np.complex64)
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    maps = np.array([np.exp(-((grid[1] - np.cos(a)) ** 2 + (grid[0] - np.sin(a)) ** 2)) for a in (0, 2, 4)])
    maps = (maps / np.sqrt((maps**2).sum(0))).astype(np.complex64)
    data = fftc(maps * image, axes=(-3, -2, -1))[None].astype(np.complex64)
    geometry = Geometry.centred((8, 32, 24), (1.0, 0.9, 1.2), echo_times_ms=(5.0,))
    kspace = KSpace(data, geometry, acquisition="T1w")
    path = tmp_path_factory.mktemp("raw") / "raw.h5"
    write_ismrmrd(path, kspace)
    return path, kspace


def test_mask_command_writes_ky_kz_boolean(tmp_path):
    out = tmp_path / "mask.npy"
    assert (
        main(
            [
                "mask",
                "--shape",
                "32,24",
                "--accel",
                "4",
                "--pattern",
                "poisson",
                "--calib",
                "8",
                "--seed",
                "0",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    mask = np.load(out)
    assert mask.dtype == bool and mask.shape == (32, 24)
    assert abs(mask.size / mask.sum() - 4) <= 0.08


def test_mask_command_rejects_bad_r(tmp_path, capsys):
    out = tmp_path / "mask.npy"
    assert main(["mask", "--shape", "32,24", "--accel", "0.5", "--out", str(out)]) == 1
    assert "R must be" in capsys.readouterr().err and not out.exists()


def test_recon_command_with_mask_writes_magnitude_nifti(raw, tmp_path):
    path, kspace = raw
    mask = tmp_path / "mask.npy"
    main(["mask", "--shape", "32,24", "--accel", "3", "--calib", "10", "--out", str(mask)])
    out = tmp_path / "cs.nii.gz"
    assert (
        main(
            [
                "recon",
                "--method",
                "cs",
                "--kspace",
                str(path),
                "--mask",
                str(mask),
                "--iterations",
                "10",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    volume, affine = load_image(out)
    assert volume.shape == (24, 32, 8)
    assert np.allclose(affine, kspace.geometry.affine)
    assert (volume >= 0).all() and volume.max() > 0


def test_recon_command_rejects_mask_of_wrong_shape(raw, tmp_path, capsys):
    path, _ = raw
    mask = tmp_path / "mask.npy"
    np.save(mask, np.ones((24, 32), bool))  # (kz, ky) instead of (ky, kz)
    out = tmp_path / "x.nii.gz"
    assert (
        main(["recon", "--method", "zf", "--kspace", str(path), "--mask", str(mask), "--out", str(out)]) == 1
    )
    assert "does not match" in capsys.readouterr().err
    assert list(tmp_path.glob("*.nii*")) == []


def test_recon_command_rejects_nan_kspace(raw, tmp_path, monkeypatch, capsys):
    path, kspace = raw
    data = kspace.data.copy()
    data[0, 0, 0, 0, 0] = np.nan
    monkeypatch.setattr(recon_command, "read_kspace", lambda p: replace(kspace, data=data))
    out = tmp_path / "x.nii.gz"
    assert main(["recon", "--method", "sense", "--kspace", str(path), "--out", str(out)]) == 1
    assert "NaN" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def tiny_dl_model(tmp_path_factory):
    """An untrained MoDL written as train-dl writes models (untrained MoDL = CG-SENSE)."""
    from reconstudy.recon.dl.io import save_model
    from reconstudy.recon.dl.modl import MoDL

    path = tmp_path_factory.mktemp("model") / "modl.pt"
    model = MoDL(num_unrolls=1, chans=2, num_pools=1, cg_init=20, cg_iterations=2, eps=1e-3)
    save_model(path, model, training={}, data={}, validation={})
    return path


def recon_dl(model, kspace_path, out) -> int:
    args = ["--model", str(model), "--kspace", str(kspace_path), "--out", str(out)]
    return main(["recon", "--method", "dl", *args])


def test_recon_dl_writes_the_network_image(raw, tmp_path, tiny_dl_model):
    path, kspace = raw
    out = tmp_path / "dl.nii.gz"
    assert recon_dl(tiny_dl_model, path, out) == 0
    dl, _ = load_image(out)
    sense = tmp_path / "sense.nii.gz"
    args = ["--lam", "0.001", "--kspace", str(path), "--out", str(sense)]
    assert main(["recon", "--method", "sense", *args]) == 0
    reference, _ = load_image(sense)
    assert dl.shape == reference.shape == kspace.data.shape[2:]
    # the untrained network is CG-SENSE: it agrees with the sense command in the object
    inside = reference > 0.2 * reference.max()
    assert np.abs(dl[inside] - reference[inside]).mean() < 0.02 * reference[inside].mean()


def test_recon_dl_missing_model_names_it_and_writes_nothing(raw, tmp_path, capsys):
    path, _ = raw
    out = tmp_path / "dl.nii.gz"
    assert recon_dl(tmp_path / "nope.pt", path, out) == 1
    assert "nope.pt: no such DL model" in capsys.readouterr().err and not out.exists()


def test_recon_dl_sr_of_a_low_resolution_mask(raw, tmp_path, tiny_dl_model):
    """mask --low-resolution 2 -> recon --method dl_sr; the untrained SR is CG-SENSE of the centre."""
    from reconstudy.recon.dl.io import save_model
    from reconstudy.recon.dl.superres import SuperResolution

    path, kspace = raw
    mask = tmp_path / "lr.npy"
    low_resolution = ["--shape", "32,24", "--accel", "4", "--low-resolution", "2", "--out", str(mask)]
    assert main(["mask", *low_resolution]) == 0
    lowres = np.load(mask)
    assert lowres.sum() == 16 * 12 and lowres[8:24, 6:18].all()  # the central half of ky and kz
    sr_model = tmp_path / "sr.pt"
    save_model(sr_model, SuperResolution(chans=2, num_pools=1, cg_iterations=20))
    out, sense = tmp_path / "dl_sr.nii.gz", tmp_path / "sense.nii.gz"
    common = ["--kspace", str(path), "--mask", str(mask)]
    models = ["--model", str(tiny_dl_model), "--sr-model", str(sr_model)]
    assert main(["recon", "--method", "dl_sr", *common, *models, "--out", str(out)]) == 0
    assert main(["recon", "--method", "sense", "--lam", "0.001", *common, "--out", str(sense)]) == 0
    image, reference = load_image(out)[0], load_image(sense)[0]
    assert image.shape == kspace.data.shape[2:]
    inside = reference > 0.2 * reference.max()
    assert np.abs(image[inside] - reference[inside]).mean() < 0.03 * reference[inside].mean()


def test_recon_dl_sr_refuses_a_full_resolution_mask(raw, tmp_path, tiny_dl_model, capsys):
    path, _ = raw
    out = tmp_path / "dl_sr.nii.gz"
    args = ["--model", str(tiny_dl_model), "--kspace", str(path), "--out", str(out)]
    assert main(["recon", "--method", "dl_sr", *args]) == 1
    assert "low_resolution_mask" in capsys.readouterr().err and not out.exists()

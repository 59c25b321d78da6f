"""`reconstudy convert` end to end through reconstudy.cli.main, including bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reconstudy.cli import main
from reconstudy.fourier import fftc
from reconstudy.io.cfl import write_bart_kspace
from reconstudy.io.ismrmrd_io import read_ismrmrd, write_ismrmrd
from reconstudy.io.kspace import Geometry, KSpace
from reconstudy.io.nifti import load_image

TWIX = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "twix"


def _kspace(ne=2, nc=3, shape_zyx=(6, 8, 10)):
    """k-space of a known image: coil c sees (c + 1) * image, so RSS = sqrt(sum (c+1)^2) * |image|."""
    rng = np.random.default_rng(21)
    image = rng.random((ne, *shape_zyx)).astype(np.float32) + 0.5
    weights = np.arange(1, nc + 1, dtype=np.float32)
    coil_images = image[:, None] * weights[None, :, None, None, None]
    data = fftc(coil_images.astype(np.complex64)).astype(np.complex64)
    nz, ny, nx = shape_zyx
    affine = np.diag([0.9, 1.2, 2.0, 1.0])
    affine[:3, 3] = [-3.0, 4.0, 5.0]
    geo = Geometry((nx, ny, nz), (0.9, 1.2, 2.0), affine, echo_times_ms=tuple(range(4, 4 + 6 * ne, 6)))
    return KSpace(data, geo, "mGRE"), image * np.sqrt((weights**2).sum())


def test_help_describes_the_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for word in (
        "ISMRMRD",
        "fastMRI",
        "twix",
        "BART",
        "--keep-oversampling",
        "--acquisition",
        "rss",
        "NIfTI",
    ):
        assert word.lower() in text.lower()


def test_cfl_to_ismrmrd_to_nifti(tmp_path):
    k, _ = _kspace(ne=1)
    write_bart_kspace(tmp_path / "raw", k)
    out = tmp_path / "sub-01_T2w.h5"
    assert main(["convert", str(tmp_path / "raw"), str(out), "--format", "cfl", "--acquisition", "T2w"]) == 0
    back = read_ismrmrd(out)
    np.testing.assert_array_equal(back.data, k.data)
    assert back.acquisition == "T2w"


def test_ismrmrd_to_rss_nifti_with_echoes_and_affine(tmp_path):
    k, rss = _kspace(ne=2)
    raw = write_ismrmrd(tmp_path / "raw.h5", k)
    out = tmp_path / "rss.nii.gz"
    assert main(["convert", str(raw), str(out)]) == 0
    image, affine = load_image(out)
    assert image.shape == (2, 6, 8, 10)  # (echo, z, y, x)
    np.testing.assert_allclose(image, rss, rtol=1e-4)
    np.testing.assert_allclose(affine, k.geometry.affine, atol=1e-6)  # NIfTI stores float32


def test_twix_to_ismrmrd(tmp_path):
    path = TWIX / "gre.dat"
    if not path.exists():
        pytest.skip("real twix data not available")
    out = tmp_path / "gre.h5"
    assert main(["convert", str(path), str(out), "--keep-oversampling"]) == 0
    back = read_ismrmrd(out)
    assert back.data.shape == (1, 2, 1, 160, 320) and back.encoding == "2d"


@pytest.mark.parametrize("case", ["truncated", "not_hdf5", "missing", "bad_suffix", "nan_cfl"])
def test_bad_input_exits_1_and_leaves_nothing(tmp_path, capsys, case):
    k, _ = _kspace(ne=1)
    inputs = tmp_path / "in"
    inputs.mkdir()
    if case == "truncated":
        whole = write_ismrmrd(inputs / "whole.h5", k)
        src = inputs / "cut.h5"
        src.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    elif case == "not_hdf5":
        src = inputs / "text.h5"
        src.write_text("hello\n")
    elif case == "missing":
        src = inputs / "nothing_here.h5"
    elif case == "bad_suffix":
        src = write_ismrmrd(inputs / "raw.h5", k)
    else:
        bad = KSpace(np.full_like(k.data, np.nan), k.geometry)
        write_bart_kspace(inputs / "nan", bad)
        src = inputs / "nan"
    outputs = tmp_path / "out"
    out = outputs / ("result.txt" if case == "bad_suffix" else "result.nii.gz")
    assert main(["convert", str(src), str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("reconstudy: error: ")
    assert (src.name if case != "bad_suffix" else out.name) in err
    assert not out.exists()
    assert not outputs.exists() or list(outputs.iterdir()) == []

"""BART .cfl/.hdr arrays: layout known answers, canonical mapping, errors, interop with `bart`."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from reconstudy.io.cfl import read_bart_kspace, read_cfl, write_bart_kspace, write_cfl
from reconstudy.io.kspace import Geometry, KSpace
from reconstudy.io.readers import detect_format, read_kspace


def test_layout_is_fortran_order_with_dimensions_header(tmp_path):
    # A hand-written BART file: element [i, j, k] sits at i + 2 j + 6 k (column-major).
    (tmp_path / "a.hdr").write_text("# Dimensions\n2 3 4 1 1\n")
    np.arange(24, dtype=np.complex64).tofile(tmp_path / "a.cfl")
    array = read_cfl(tmp_path / "a")
    assert array.shape == (2, 3, 4, 1, 1)
    assert array[1, 2, 3, 0, 0] == 1 + 2 * 2 + 6 * 3
    assert array[1, 0, 0, 0, 0] == 1 and array[0, 1, 0, 0, 0] == 2


def test_write_read_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    array = (rng.standard_normal((5, 4, 3, 2)) + 1j * rng.standard_normal((5, 4, 3, 2))).astype(np.complex64)
    write_cfl(tmp_path / "b", array)
    header = (tmp_path / "b.hdr").read_text().splitlines()
    assert header[0] == "# Dimensions" and header[1].split() == ["5", "4", "3", "2"] + ["1"] * 12
    raw = np.fromfile(tmp_path / "b.cfl", dtype=np.complex64)
    np.testing.assert_array_equal(raw, array.ravel(order="F"))
    back = read_cfl(tmp_path / "b.cfl")
    np.testing.assert_array_equal(back.reshape(array.shape), array)


def test_bart_kspace_maps_to_canonical(tmp_path):
    rng = np.random.default_rng(6)
    ne, nc, nz, ny, nx = 3, 4, 5, 6, 7
    data = (
        rng.standard_normal((ne, nc, nz, ny, nx)) + 1j * rng.standard_normal((ne, nc, nz, ny, nx))
    ).astype(np.complex64)
    mask = rng.random((nz, ny)) < 0.5
    data *= mask[None, None, :, :, None]
    k = KSpace(data, Geometry.centred((nx, ny, nz), (1, 1, 1)), sampling_mask=mask)
    write_bart_kspace(tmp_path / "ks", k)
    bart = read_cfl(tmp_path / "ks")
    assert bart.shape[:6] == (nx, ny, nz, nc, 1, ne)  # READ, PHS1, PHS2, COIL, MAPS, TE
    assert bart[6, 5, 4, 3, 0, 2] == data[2, 3, 4, 5, 6]
    assert detect_format(tmp_path / "ks") == "cfl" and detect_format(tmp_path / "ks.hdr") == "cfl"
    got = read_kspace(tmp_path / "ks.cfl", echo_times_ms=(4, 8, 12), voxel_size_mm=(1, 1, 2))
    np.testing.assert_array_equal(got.data, data)
    np.testing.assert_array_equal(got.sampling_mask, mask)
    assert got.geometry.voxel_size_mm == (1.0, 1.0, 2.0) and got.geometry.echo_times_ms == (4, 8, 12)
    assert got.encoding == "3d" and got.noise_covariance is None


def test_cfl_errors_leave_clear_messages(tmp_path):
    write_cfl(tmp_path / "c", np.ones((4, 4, 1, 2), np.complex64))
    cfl = tmp_path / "c.cfl"
    cfl.write_bytes(cfl.read_bytes()[:-8])
    with pytest.raises(ValueError, match=r"c\.cfl: holds 248 bytes but its header says"):
        read_bart_kspace(tmp_path / "c")
    (tmp_path / "lonely.cfl").write_bytes(np.zeros(4, np.complex64).tobytes())
    with pytest.raises(FileNotFoundError, match=r"lonely\.hdr: BART header missing"):
        read_kspace(tmp_path / "lonely.cfl")
    write_cfl(tmp_path / "n", np.full((2, 2), np.nan, np.complex64))
    with pytest.raises(ValueError, match="NaN"):
        read_bart_kspace(tmp_path / "n")
    write_cfl(tmp_path / "t", np.ones((2, 2, 1, 1, 1, 1, 3), np.complex64))  # BART TIME dim
    with pytest.raises(ValueError, match="beyond TE"):
        read_bart_kspace(tmp_path / "t")
    (tmp_path / "h.hdr").write_text("garbage\n")
    with pytest.raises(ValueError, match=r"h\.hdr: no valid '# Dimensions'"):
        read_cfl(tmp_path / "h")


@pytest.mark.skipif(shutil.which("bart") is None, reason="BART command-line tool not installed")
def test_interoperates_with_bart(tmp_path):
    subprocess.run(["bart", "phantom", "-k", "-s", "4", "-x", "24", str(tmp_path / "ph")], check=True)
    k = read_bart_kspace(tmp_path / "ph")
    assert k.data.shape == (1, 4, 1, 24, 24) and k.sampling_mask.all()
    peak = np.unravel_index(np.argmax(np.abs(k.data[0, 0, 0])), (24, 24))
    assert peak == (12, 12)  # BART and ReconStudy both put the k-space centre at n // 2
    rng = np.random.default_rng(9)
    array = (rng.standard_normal((6, 5, 2)) + 1j * rng.standard_normal((6, 5, 2))).astype(np.complex64)
    write_cfl(tmp_path / "ours", array)
    subprocess.run(["bart", "scale", "2", str(tmp_path / "ours"), str(tmp_path / "twice")], check=True)
    np.testing.assert_allclose(read_cfl(tmp_path / "twice")[..., 0].reshape(6, 5, 2), 2 * array, rtol=1e-6)

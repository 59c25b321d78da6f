"""Siemens twix reader on real files from ../shared/data/twix (skipped where absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reconstudy.io.readers import detect_format, read_kspace
from reconstudy.io.twix import read_twix_kspace

TWIX = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "twix"


def _real(name: str) -> Path:
    path = TWIX / name
    if not path.exists():
        pytest.skip(f"real twix file {name} not available (../shared/data/twix)")
    return path


def test_gre_two_coils_oversampling_removed():
    path = _real("gre.dat")
    assert detect_format(path) == "twix"
    k = read_kspace(path)
    assert k.data.shape == (1, 2, 1, 160, 160)  # 320 oversampled columns -> 160
    assert k.n_coils == 2 and k.encoding == "2d" and k.acquisition == "gre"
    assert np.isfinite(k.data).all() and np.abs(k.data).max() > 0
    assert k.sampling_mask.all()
    geo = k.geometry
    assert geo.voxel_size_mm == (1.25, 1.25, 4.0)  # 200 mm FOV over 160, 4 mm slice
    assert geo.echo_times_ms == (3.0,)
    assert geo.b0_tesla == pytest.approx(2.89362)
    # The slice axis follows the protocol's slice normal (sSliceArray, LPS -> RAS flips x, y).
    normal_ras = np.array([-6.58423005e-09, -0.0383878015, 0.9992629886])
    slice_axis = geo.affine[:3, 2] / geo.voxel_size_mm[2]
    assert abs(slice_axis @ normal_ras) == pytest.approx(1.0, abs=1e-5)
    # The grid is centred on the protocol's slice position.
    centre = geo.affine @ [79.5, 79.5, 0, 1]
    np.testing.assert_allclose(centre[:3], [2.5897, -53.9224, -53.9995], atol=1e-3)
    # k-space centre on index n // 2 (peak of a phantom's k-space).
    energy = (np.abs(k.data[0, :, 0]) ** 2).sum(axis=0)
    peak = np.unravel_index(np.argmax(energy), energy.shape)
    assert abs(peak[0] - 80) <= 2 and abs(peak[1] - 80) <= 2


def test_gre_keep_oversampling():
    k = read_twix_kspace(_real("gre.dat"), remove_oversampling=False)
    assert k.data.shape == (1, 2, 1, 160, 320)
    assert k.geometry.voxel_size_mm[0] == 1.25  # the FOV doubles, not the voxel


def test_pulseq_three_echoes():
    path = _real("pulseq_gre_3echoes.dat")
    k = read_kspace(path)
    assert k.n_echoes == 3 and k.data.shape == (3, 1, 1, 256, 256)
    assert np.isfinite(k.data).all() and np.abs(k.data).max() > 0
    assert k.geometry.voxel_size_mm == (1.0, 1.0, 3.0)
    # Echoes interleaved per phase-encode step: each echo has its k-space peak at the centre and
    # signal energy falls with echo time (T2* decay); the wrong split would scatter the peak.
    energy = (np.abs(k.data[:, 0, 0]) ** 2).sum(axis=(1, 2))
    assert energy[0] > energy[1] > energy[2]
    for echo in range(3):
        peak = np.unravel_index(np.argmax(np.abs(k.data[echo, 0, 0])), (256, 256))
        assert abs(peak[0] - 128) <= 2 and abs(peak[1] - 128) <= 2
    one = read_twix_kspace(path, n_echoes=1, echo_times_ms=[5.0])
    assert one.data.shape == (1, 1, 1, 768, 256)
    with_te = read_twix_kspace(path, echo_times_ms=[3.0, 6.0, 9.0])
    assert with_te.geometry.echo_times_ms == (3.0, 6.0, 9.0)
    with pytest.raises(ValueError, match="3 echoes in the data but 2 echo times"):
        read_twix_kspace(path, echo_times_ms=[3.0, 6.0])


def test_epi_is_refused_as_unsupported():
    path = _real("epi.dat")
    with pytest.raises(ValueError, match=r"epi\.dat: unsupported twix data: EPI"):
        read_kspace(path)


def test_truncated_and_corrupt_twix_are_refused(tmp_path):
    whole = _real("gre.dat").read_bytes()
    half = tmp_path / "gre_half.dat"
    half.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"gre_half\.dat: the twix file is truncated"):
        read_kspace(half)
    stub = tmp_path / "gre_stub.dat"
    stub.write_bytes(whole[:20000])  # the header is cut
    with pytest.raises(ValueError, match=r"gre_stub\.dat: not a readable Siemens twix file"):
        read_kspace(stub)


def test_not_twix_is_refused(tmp_path):
    junk = tmp_path / "junk.dat"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=r"junk\.dat: not a readable Siemens twix file"):
        read_twix_kspace(junk)

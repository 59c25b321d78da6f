"""ISMRMRD HDF5: exact round trip, header validity, interoperability with the ismrmrd package."""

from __future__ import annotations

import h5py
import ismrmrd
import ismrmrd.xsd
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from reconstudy.io.ismrmrd_io import NOISE_FLAG, read_ismrmrd, write_ismrmrd
from reconstudy.io.kspace import Geometry, KSpace
from reconstudy.io.readers import crop_readout_oversampling, detect_format, read_kspace

NE, NC, NZ, NY, NX = 2, 8, 10, 14, 12


def _variable_density_mask(rng, nz, ny, accel=3.0, calib=4):
    """Poisson-ish random mask: density falling with k-space radius, fully sampled centre."""
    kz, ky = np.meshgrid(np.arange(nz) - nz // 2, np.arange(ny) - ny // 2, indexing="ij")
    radius = np.hypot(kz / (nz / 2), ky / (ny / 2))
    density = np.clip((1 - radius / np.sqrt(2)) ** 2 * 2.5 / accel * 3, 0.05, 1)
    mask = rng.random((nz, ny)) < density
    mask[nz // 2 - calib // 2 : nz // 2 + calib // 2, ny // 2 - calib // 2 : ny // 2 + calib // 2] = True
    return mask


def _oblique_geometry(echo_times=(3.5, 9.25)):
    rot = Rotation.from_euler("xyz", [12.0, -20.0, 33.0], degrees=True).as_matrix()
    voxel = np.array([0.8, 1.1, 2.3])
    affine = np.eye(4)
    affine[:3, :3] = rot * voxel
    affine[:3, 3] = [-41.3, 12.75, 8.125]
    return Geometry(
        (NX, NY, NZ),
        tuple(voxel),
        affine,
        b0_tesla=6.98,
        b0_direction=tuple(rot.T @ [0, 0, 1.0]),
        echo_times_ms=echo_times,
    )


def _noise_covariance(rng, nc):
    a = rng.standard_normal((nc, nc)) + 1j * rng.standard_normal((nc, nc))
    return (a @ a.conj().T / nc + 0.5 * np.eye(nc)).astype(np.complex64)


@pytest.fixture
def kspace():
    rng = np.random.default_rng([7, 1])
    shape = (NE, NC, NZ, NY, NX)
    data = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    mask = _variable_density_mask(rng, NZ, NY)
    data *= mask[None, None, :, :, None]
    return KSpace(data, _oblique_geometry(), "mGRE", _noise_covariance(rng, NC), mask)


def test_round_trip_is_exact(tmp_path, kspace):
    path = write_ismrmrd(tmp_path / "raw.h5", kspace, subject_id="sub-01", noise_samples=2048)
    back = read_ismrmrd(path)
    assert back.data.dtype == np.complex64 and back.data.shape == kspace.data.shape
    np.testing.assert_array_equal(back.data, kspace.data)
    np.testing.assert_array_equal(back.sampling_mask, kspace.sampling_mask)
    assert 1.5 < back.acceleration < 5
    np.testing.assert_array_equal(back.geometry.affine, kspace.geometry.affine)
    assert back.geometry.voxel_size_mm == kspace.geometry.voxel_size_mm
    assert back.geometry.matrix == kspace.geometry.matrix
    assert back.geometry.echo_times_ms == kspace.geometry.echo_times_ms
    assert back.geometry.b0_tesla == kspace.geometry.b0_tesla
    assert back.geometry.b0_direction == kspace.geometry.b0_direction
    assert back.acquisition == "mGRE" and back.encoding == "3d"
    # Complex Wishart: each entry's standard error is sqrt(S_ii S_jj / N), so the Frobenius error
    # is about tr(S) / sqrt(N); 3x that bound fails with negligible probability.
    cov = kspace.noise_covariance
    err = np.linalg.norm(back.noise_covariance - cov)
    assert err < 3 * np.trace(cov).real / np.sqrt(2048)
    assert err > 0  # estimated, not copied
    assert detect_format(path) == "ismrmrd"
    np.testing.assert_array_equal(read_kspace(path).data, kspace.data)


def test_only_acquired_lines_and_noise_scans_are_stored(tmp_path, kspace):
    path = write_ismrmrd(tmp_path / "raw.h5", kspace, noise_samples=512)
    with h5py.File(path, "r") as h5:
        heads = h5["dataset/data"]["head"]
    noise = (heads["flags"] & NOISE_FLAG) != 0
    assert noise.sum() == 2  # 512 samples in 256-sample scans
    assert (~noise).sum() == NE * kspace.sampling_mask.sum()
    # The ismrmrd package's own reader sees the same lines and counters.
    with ismrmrd.Dataset(str(path), "dataset", create_if_needed=False) as dset:
        assert dset.number_of_acquisitions() == len(heads)
        acq = dset.read_acquisition(5)
    z, y, e = acq.idx.kspace_encode_step_2, acq.idx.kspace_encode_step_1, acq.idx.contrast
    assert kspace.sampling_mask[z, y]
    np.testing.assert_array_equal(acq.data, kspace.data[e, :, z, y, :])
    rot = kspace.geometry.affine[:3, :3] / np.array(kspace.geometry.voxel_size_mm)
    np.testing.assert_allclose(acq.slice_dir, np.diag([-1, -1, 1]) @ rot[:, 2], atol=1e-6)


def test_header_validates_against_the_schema_classes(tmp_path, kspace):
    path = write_ismrmrd(
        tmp_path / "raw.h5", kspace, sequence="gre", repetition_time_ms=30, flip_angle_deg=15
    )
    with h5py.File(path, "r") as h5:
        xml = h5["dataset/xml"][0]
    # The ismrmrd package ships no .xsd file; its header classes are generated from the schema and
    # the strict parser rejects unknown or missing required elements.
    header = ismrmrd.xsd.CreateFromDocument(xml)
    enc = header.encoding[0]
    assert (enc.encodedSpace.matrixSize.x, enc.encodedSpace.matrixSize.y, enc.encodedSpace.matrixSize.z) == (
        NX,
        NY,
        NZ,
    )
    assert enc.encodedSpace.fieldOfView_mm.z == pytest.approx(NZ * 2.3)
    assert enc.trajectory == ismrmrd.xsd.trajectoryType.CARTESIAN
    assert enc.encodingLimits.kspace_encoding_step_1.maximum == NY - 1
    assert enc.encodingLimits.kspace_encoding_step_2.center == NZ // 2
    assert enc.encodingLimits.contrast.maximum == NE - 1
    assert header.acquisitionSystemInformation.receiverChannels == NC
    assert header.experimentalConditions.H1resonanceFrequency_Hz == round(42.577478518e6 * 6.98)
    assert header.sequenceParameters.TE == [3.5, 9.25]
    assert header.sequenceParameters.TR == [30.0] and header.sequenceParameters.flipAngle_deg == [15.0]


def test_2d_multislice_round_trip_uses_slice_counter(tmp_path, kspace):
    two_d = KSpace(kspace.data, kspace.geometry, "T2w", None, kspace.sampling_mask, encoding="2d")
    path = write_ismrmrd(tmp_path / "raw2d.h5", two_d)
    with h5py.File(path, "r") as h5:
        idx = h5["dataset/data"]["head"]["idx"]
    assert idx["kspace_encode_step_2"].max() == 0 and idx["slice"].max() == NZ - 1
    back = read_ismrmrd(path)
    assert back.encoding == "2d" and back.noise_covariance is None
    np.testing.assert_array_equal(back.data, two_d.data)


def test_foreign_file_geometry_from_positions_and_directions(tmp_path, kspace):
    """Without ReconStudy's user parameters the affine is rebuilt from the scan headers."""
    path = write_ismrmrd(tmp_path / "raw.h5", kspace)
    with h5py.File(path, "r+") as h5:
        xml = h5["dataset/xml"][0].decode()
        start, end = xml.index("<userParameters>"), xml.index("</userParameters>") + len("</userParameters>")
        h5["dataset/xml"][0] = (xml[:start] + xml[end:]).encode()
    back = read_ismrmrd(path)
    geo = kspace.geometry
    np.testing.assert_allclose(back.geometry.affine, geo.affine, atol=2e-4)
    np.testing.assert_allclose(back.geometry.b0_direction, geo.b0_direction, atol=1e-6)
    np.testing.assert_allclose(back.geometry.voxel_size_mm, geo.voxel_size_mm, rtol=1e-12)
    assert back.geometry.echo_times_ms == geo.echo_times_ms
    assert back.geometry.b0_tesla == pytest.approx(6.98)
    assert back.acquisition == "mGRE"  # from measurementInformation/protocolName
    np.testing.assert_array_equal(back.data, kspace.data)


def test_crop_readout_oversampling_known_answer():
    from reconstudy.fourier import fftc

    rng = np.random.default_rng(3)
    image = np.zeros((2, 5, 16), np.complex64)
    image[..., 4:12] = rng.standard_normal((2, 5, 8)) + 1j * rng.standard_normal((2, 5, 8))
    cropped = crop_readout_oversampling(fftc(image, axes=(-1,)))
    np.testing.assert_allclose(cropped, fftc(image[..., 4:12], axes=(-1,)), atol=1e-5)


def test_truncated_file_is_refused(tmp_path, kspace):
    path = write_ismrmrd(tmp_path / "raw.h5", kspace)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cut\.h5.*truncated"):
        read_ismrmrd(cut)
    with pytest.raises(ValueError, match="cut.h5"):
        read_kspace(cut)


def test_not_hdf5_and_missing_datasets_are_refused(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("this is not HDF5\n")
    with pytest.raises(ValueError, match=r"notes\.h5.*not"):
        read_kspace(text)
    with pytest.raises(ValueError, match=r"notes\.h5.*not a readable HDF5"):
        read_ismrmrd(text)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["images"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"other\.h5.*without the expected datasets.*images"):
        read_kspace(other)
    with pytest.raises(ValueError, match=r"other\.h5.*dataset/xml"):
        read_ismrmrd(other)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        read_kspace(tmp_path / "missing.h5")


def test_nan_kspace_is_refused_on_read_and_write(tmp_path, kspace):
    path = write_ismrmrd(tmp_path / "raw.h5", kspace)
    with h5py.File(path, "r+") as h5:
        records = h5["dataset/data"][()]
        records["data"][-1] = np.full_like(records["data"][-1], np.nan)
        h5["dataset/data"][-1] = records[-1]
    with pytest.raises(ValueError, match=r"raw\.h5.*NaN"):
        read_ismrmrd(path)
    bad = KSpace(np.full_like(kspace.data, np.nan), kspace.geometry)
    with pytest.raises(ValueError, match="NaN"):
        write_ismrmrd(tmp_path / "bad.h5", bad)
    assert not (tmp_path / "bad.h5").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.h5"]


def _rewrite_records(path, edit):
    with h5py.File(path, "r+") as h5:
        records = edit(h5["dataset/data"][()])
        del h5["dataset/data"]
        h5["dataset"].create_dataset("data", data=records, maxshape=(None,))


def test_repeated_lines_are_averaged_and_repetitions_refused(tmp_path, kspace):
    path = write_ismrmrd(tmp_path / "raw.h5", kspace, noise_samples=0)

    def add_average(records):
        copies = records.copy()
        for i in range(len(copies)):
            copies["data"][i] = 3 * records["data"][i]
        copies["head"]["idx"]["average"] = 1
        return np.concatenate([records, copies])

    _rewrite_records(path, add_average)
    np.testing.assert_allclose(read_ismrmrd(path).data, 2 * kspace.data, rtol=1e-6)

    def second_repetition(records):
        records["head"]["idx"]["repetition"][len(records) // 2 :] = 1
        return records

    _rewrite_records(path, second_repetition)
    with pytest.raises(ValueError, match=r"raw\.h5: unsupported ISMRMRD data: 2 values of idx\.repetition"):
        read_ismrmrd(path)

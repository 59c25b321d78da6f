"""De-identified DICOM series: readable by pydicom, geometry consistent with the NIfTI affine."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from reconstudy.readers.dicom import STORED_MAX, stored_values, write_dicom_series
from reconstudy.readers.montage import Window, lps_canonical


def _rotation(axis, degrees):
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    rot = np.eye(3)
    rot[i, i], rot[i, j], rot[j, i], rot[j, j] = c, -s, s, c
    return rot


AFFINES = {
    "axial RAS": np.array([[0.8, 0, 0, -20.0], [0, 0.9, 0, -15.0], [0, 0, 1.5, 10.0], [0, 0, 0, 1]]),
    "flipped LPS": np.array([[-0.8, 0, 0, 20.0], [0, -0.9, 0, 15.0], [0, 0, 1.5, -5.0], [0, 0, 0, 1]]),
    "sagittal, permuted": np.array([[0, 0, 1.2, -7.0], [0.8, 0, 0, -9.0], [0, -0.9, 0, 12.0], [0, 0, 0, 1]]),
}
oblique = np.eye(4)
oblique[:3, :3] = _rotation(0, 17) @ _rotation(2, -8) @ np.diag([0.8, 0.9, 1.5])
oblique[:3, 3] = [3.0, -4.0, 5.0]
AFFINES["oblique"] = oblique


@pytest.mark.parametrize("name", sorted(AFFINES))
def test_every_pixel_lands_at_its_nifti_position(tmp_path, name):
    affine = AFFINES[name]
    shape = (6, 7, 8)  # (z, y, x)
    volume = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    value_range = (0.0, float(volume.max()))
    paths = write_dicom_series(
        tmp_path / "s",
        volume,
        affine,
        case_id="case-abcd",
        value_range=value_range,
        window=Window(0.0, float(volume.max())),
        rng=np.random.default_rng(1),
    )
    expected_stored = stored_values(volume, value_range)
    inv = np.linalg.inv(affine)
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    seen = 0
    for path in paths:
        ds = pydicom.dcmread(path)
        assert ds.SOPClassUID == pydicom.uid.MRImageStorage
        pixels = ds.pixel_array
        row_dir, col_dir = (
            np.array(ds.ImageOrientationPatient[:3], float),
            np.array(ds.ImageOrientationPatient[3:], float),
        )
        assert abs(row_dir @ col_dir) < 1e-6 and np.isclose(np.linalg.norm(row_dir), 1)
        d_row, d_col = (float(v) for v in ds.PixelSpacing)
        ipp = np.array(ds.ImagePositionPatient, float)
        for r in range(ds.Rows):
            for c in range(ds.Columns):
                lps = ipp + c * d_col * row_dir + r * d_row * col_dir
                x, y, z = np.rint(inv @ np.append(lps_to_ras @ lps, 1.0))[:3].astype(int)
                assert pixels[r, c] == expected_stored[z, y, x]
                seen += 1
    assert seen == volume.size


def test_slices_ordered_and_spaced(tmp_path):
    affine = AFFINES["oblique"]
    paths = write_dicom_series(
        tmp_path / "s",
        np.zeros((5, 4, 3)),
        affine,
        case_id="case-1",
        value_range=(0, 1),
        window=Window(0, 1),
        rng=np.random.default_rng(0),
    )
    datasets = [pydicom.dcmread(p) for p in paths]
    normal = np.cross(*np.reshape(np.array(datasets[0].ImageOrientationPatient, float), (2, 3)))
    positions = [np.array(ds.ImagePositionPatient, float) @ normal for ds in datasets]
    steps = np.diff(positions)
    assert np.allclose(steps, float(datasets[0].SpacingBetweenSlices))
    assert [ds.InstanceNumber for ds in datasets] == list(range(1, len(paths) + 1))
    uids = {ds.SOPInstanceUID for ds in datasets}
    assert len(uids) == len(paths) and len({ds.SeriesInstanceUID for ds in datasets}) == 1
    assert all(u.startswith("2.25.") for u in uids)
    assert datasets[0].PatientName == "case-1" and datasets[0].StudyDate == ""


def test_stored_values_and_window(tmp_path):
    assert stored_values(np.array([-1.0, 0.0, 5.0, 10.0, 11.0]), (0.0, 10.0)).tolist() == [
        0,
        0,
        2048,
        4095,
        4095,
    ]
    paths = write_dicom_series(
        tmp_path / "s",
        np.ones((2, 3, 3)),
        np.eye(4),
        case_id="c",
        value_range=(0, 10),
        window=Window(2.0, 6.0),
        rng=np.random.default_rng(0),
    )
    ds = pydicom.dcmread(paths[0])
    assert float(ds.WindowCenter) == pytest.approx(4.0 / 10 * STORED_MAX)
    assert float(ds.WindowWidth) == pytest.approx(4.0 / 10 * STORED_MAX)
    with pytest.raises(ValueError, match="high > low"):
        stored_values(np.zeros(3), (1.0, 1.0))


def test_lps_canonical_axes():
    vol, aff = lps_canonical(np.zeros((4, 5, 6)), AFFINES["sagittal, permuted"])
    assert vol.shape == (4, 6, 5)  # i (L) from library z, j (P) from x, k (S) from y
    lps = np.diag([-1.0, -1.0, 1.0]) @ aff[:3, :3]
    # Each new axis points mostly towards L, P and S respectively.
    assert all(lps[n, n] > 0 and abs(lps[n, n]) == np.abs(lps[:, n]).max() for n in range(3))

"""fastMRI-style HDF5: synthetic files in the released layout (readout along height, 2x oversampled)."""

from __future__ import annotations

import h5py
import ismrmrd.xsd as x
import numpy as np
import pytest

from reconstudy.fourier import fftc
from reconstudy.io.fastmri import read_fastmri
from reconstudy.io.readers import detect_format, read_kspace

SLICES, COILS, NRO, NPE = 3, 4, 16, 12  # recon readout 16, encoded 32


def _header(readout=2 * NRO, recon_readout=NRO, phase=NPE) -> bytes:
    def space(mx, fx):
        return x.encodingSpaceType(
            matrixSize=x.matrixSizeType(x=mx, y=phase, z=1),
            fieldOfView_mm=x.fieldOfViewMm(x=fx, y=phase * 1.5, z=4.0),
        )

    header = x.ismrmrdHeader(
        acquisitionSystemInformation=x.acquisitionSystemInformationType(systemFieldStrength_T=2.89),
        experimentalConditions=x.experimentalConditionsType(H1resonanceFrequency_Hz=123_000_000),
        encoding=[
            x.encodingType(
                encodedSpace=space(readout, readout * 0.5),
                reconSpace=space(recon_readout, recon_readout * 0.5),
                encodingLimits=x.encodingLimitsType(
                    kspace_encoding_step_1=x.limitType(minimum=0, maximum=phase - 1, center=phase // 2)
                ),
                trajectory=x.trajectoryType.CARTESIAN,
            )
        ],
        sequenceParameters=x.sequenceParametersType(TE=[9.1], TR=[2500.0]),
    )
    return x.ToXML(header).encode()


def _images(rng, coils=COILS):
    """(slices, coils, readout 2N, phase) images with content only in the central readout half."""
    images = np.zeros((SLICES, coils, 2 * NRO, NPE), np.complex64)
    inner = (SLICES, coils, NRO, NPE)
    images[:, :, NRO // 2 : NRO // 2 + NRO] = rng.standard_normal(inner) + 1j * rng.standard_normal(inner)
    return images


def _write(path, kspace, mask=None, header=None, acquisition="AXT2"):
    with h5py.File(path, "w") as h5:
        h5["kspace"] = kspace
        h5["ismrmrd_header"] = header if header is not None else _header()
        if mask is not None:
            h5["mask"] = mask
        h5.attrs["acquisition"] = acquisition
    return path


def test_multicoil_file_maps_to_canonical_and_crops_oversampling(tmp_path):
    rng = np.random.default_rng(11)
    images = _images(rng)
    kspace = fftc(images, axes=(-2, -1)).astype(np.complex64)
    mask = np.zeros(NPE, np.float32)
    mask[::2] = 1
    mask[NPE // 2 - 1 : NPE // 2 + 2] = 1
    path = _write(tmp_path / "file_brain.h5", kspace * mask, mask=mask)
    assert detect_format(path) == "fastmri"
    got = read_kspace(path)
    assert got.encoding == "2d" and got.acquisition == "AXT2" and got.noise_covariance is None
    assert got.data.shape == (1, COILS, SLICES, NPE, NRO)
    # Expected: readout cropped to the central half in image space, phase/readout swapped.
    cropped = images[:, :, NRO // 2 : NRO // 2 + NRO]
    expected = fftc(cropped, axes=(-2, -1)) * mask[None, None, None, :]
    np.testing.assert_allclose(got.data[0], expected.transpose(1, 0, 3, 2), atol=2e-5)
    np.testing.assert_array_equal(got.sampling_mask, np.broadcast_to(mask > 0, (SLICES, NPE)))
    assert got.geometry.matrix == (NRO, NPE, SLICES)
    assert got.geometry.voxel_size_mm == (0.5, 1.5, 4.0)
    assert got.geometry.echo_times_ms == (9.1,) and got.geometry.b0_tesla == 2.89


def test_keep_oversampling_and_mask_from_nonzero_lines(tmp_path):
    rng = np.random.default_rng(12)
    kspace = fftc(_images(rng), axes=(-2, -1)).astype(np.complex64)
    kspace[..., 1::3] = 0  # unacquired phase-encode lines, no mask dataset
    path = _write(tmp_path / "nomask.h5", kspace)
    got = read_fastmri(path, remove_oversampling=False)
    assert got.data.shape == (1, COILS, SLICES, NPE, 2 * NRO)
    np.testing.assert_array_equal(got.data[0], kspace.transpose(1, 0, 3, 2))
    assert not got.sampling_mask[:, 1::3].any() and got.sampling_mask[:, ::3].all()
    assert got.geometry.voxel_size_mm[0] == 0.5  # oversampling doubles the FOV, not the voxel


def test_single_coil_and_phase_readout_order(tmp_path):
    rng = np.random.default_rng(13)
    single = fftc(_images(rng, coils=1)[:, 0], axes=(-2, -1)).astype(np.complex64)
    got = read_fastmri(_write(tmp_path / "single.h5", single))
    assert got.data.shape == (1, 1, SLICES, NPE, NRO)
    # Same data stored as (slices, phase, readout) is recognised from the header's matrix.
    swapped = read_fastmri(_write(tmp_path / "swapped.h5", single.swapaxes(-1, -2)))
    np.testing.assert_array_equal(swapped.data, got.data)


def test_fastmri_errors_name_the_file(tmp_path):
    no_header = tmp_path / "no_header.h5"
    with h5py.File(no_header, "w") as h5:
        h5["kspace"] = np.zeros((1, 4, 4), np.complex64)
    with pytest.raises(ValueError, match=r"no_header\.h5.*ismrmrd_header"):
        read_fastmri(no_header)
    nan = np.zeros((SLICES, COILS, 2 * NRO, NPE), np.complex64)
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"nan\.h5.*NaN"):
        read_kspace(_write(tmp_path / "nan.h5", nan))
    wrong_mask = _write(
        tmp_path / "mask.h5", np.ones((SLICES, COILS, 2 * NRO, NPE), np.complex64), mask=np.ones(NPE + 1)
    )
    with pytest.raises(ValueError, match=r"mask\.h5.*'mask' has 13 entries"):
        read_fastmri(wrong_mask)

"""Coil maps estimated once equal the ones reconstruct() estimates itself."""

import numpy as np
import pytest

from reconstudy.io import Geometry, KSpace
from reconstudy.recon.api import estimate_coil_maps, reconstruct


def small_kspace(calib=12):
    rng = np.random.default_rng(0)
    nz, ny, nx, nc = 24, 28, 8, 8
    z, y = np.mgrid[:nz, :ny]
    image = ((z - nz / 2) ** 2 / 80 + (y - ny / 2) ** 2 / 110 < 1).astype(np.complex64)[..., None] * np.ones(
        nx
    )
    angles = np.linspace(0, 2 * np.pi, nc, endpoint=False)
    coils = np.stack(
        [
            np.exp(-((z - nz / 2 - 10 * np.cos(a)) ** 2 + (y - ny / 2 - 12 * np.sin(a)) ** 2) / 300)
            for a in angles
        ]
    )
    from reconstudy.fourier import fftc

    data = fftc(coils[:, :, :, None] * image[None], axes=(-3, -2, -1))[None].astype(np.complex64)
    data += 0.001 * (rng.standard_normal(data.shape) + 1j * rng.standard_normal(data.shape))
    mask = rng.random((nz, ny)) < 0.3
    mask[nz // 2 - calib // 2 : nz // 2 + calib // 2, ny // 2 - calib // 2 : ny // 2 + calib // 2] = True
    return KSpace(data, Geometry.centred((nx, ny, nz), (2, 2, 2)), "T1w").undersample(mask)


@pytest.mark.parametrize("coil_method", ["espirit", "lowres"])
def test_maps_passed_back_reproduce_reconstruct(coil_method):
    kspace = small_kspace()
    maps = estimate_coil_maps(kspace, coil_method=coil_method)
    assert maps.shape == (8, 24, 28, 8) and maps.dtype == np.complex64
    inside = np.sqrt((np.abs(maps) ** 2).sum(0))[12, 14, 4]
    assert inside == pytest.approx(1.0, abs=0.05)  # normalised at the object's centre
    own = reconstruct(kspace, "sense", coil_method=coil_method)
    given = reconstruct(kspace, "sense", coil_maps=maps)
    np.testing.assert_allclose(given, own, atol=1e-6)


def test_maps_need_a_calibration_region():
    kspace = small_kspace(calib=12)
    mask = kspace.sampling_mask.copy()
    mask[10:14, 12:16] = False
    with pytest.raises(ValueError, match="calibration region"):
        estimate_coil_maps(kspace.undersample(mask))


def test_espirit_fits_its_kernel_to_a_small_calibration_region():
    """8x8 calibration, 8 coils: BART's 6x6 kernel found no sensitivity anywhere; 4x4 does."""
    kspace = small_kspace(calib=8)
    maps = estimate_coil_maps(kspace, coil_method="espirit")
    inside = np.sqrt((np.abs(maps) ** 2).sum(0))[12, 14, 4]
    assert inside == pytest.approx(1.0, abs=0.05)
    given = reconstruct(kspace, "sense", coil_maps=maps)
    np.testing.assert_allclose(given, reconstruct(kspace, "sense", coil_method="espirit"), atol=1e-6)


def test_espirit_without_any_signal_raises_instead_of_zero_maps():
    kspace = small_kspace(calib=8)
    silent = KSpace(np.zeros_like(kspace.data), kspace.geometry, "T1w", None, kspace.sampling_mask)
    with pytest.raises(ValueError, match="no coil sensitivity anywhere.*8x8.*coil_method: lowres"):
        estimate_coil_maps(silent, coil_method="espirit")
    with pytest.raises(ValueError, match="no coil sensitivity anywhere"):
        reconstruct(silent, "sense", coil_method="espirit")

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


# --- coil compression --------------------------------------------------------------------------


def many_coil_kspace(n_coils=16, calib=12):
    """16 coils around a 3D ellipsoid (32 readout positions: one 3D ESPIRiT calibration)."""
    from reconstudy.fourier import fftc
    from reconstudy.training.synthetic import coil_maps, ellipsoid_volume

    rng = np.random.default_rng(3)
    shape = (24, 28, 32)
    image = ellipsoid_volume(shape, rng)
    data = fftc(coil_maps(shape, n_coils, rng) * image, axes=(-3, -2, -1))[None]
    data += 0.002 * (rng.standard_normal(data.shape) + 1j * rng.standard_normal(data.shape))
    mask = rng.random(shape[:2]) < 0.35
    mask[12 - calib // 2 : 12 + calib // 2, 14 - calib // 2 : 14 + calib // 2] = True
    geometry = Geometry.centred(shape[::-1], (2, 2, 2))
    return KSpace(data.astype(np.complex64), geometry, "T1w").undersample(mask), np.abs(image)


def relative_error(image, truth):
    inside = truth > 0
    scale = np.vdot(image[inside], truth[inside]).real / np.vdot(image[inside], image[inside]).real
    return np.linalg.norm(scale * image[inside] - truth[inside]) / np.linalg.norm(truth[inside])


def test_compression_matrix_is_orthonormal_and_keeps_the_signal():
    from reconstudy.recon import planes
    from reconstudy.recon.api import coil_compression_matrix

    kspace, _ = many_coil_kspace()
    layout = planes.PlaneLayout.of(kspace.data.shape, kspace.encoding)
    matrix = coil_compression_matrix(kspace.data[0], layout, (12, 12), 6)
    assert matrix.shape == (6, 16)
    np.testing.assert_allclose(matrix @ np.conj(matrix.T), np.eye(6), atol=1e-5)
    centre = kspace.data[0][:, 6:18, 8:20].reshape(16, -1)
    kept = np.linalg.norm(matrix @ centre) ** 2 / np.linalg.norm(centre) ** 2
    assert kept > 0.95  # smooth coils: six principal components hold almost all the energy
    with pytest.raises(ValueError, match="coil_compression must be between 1 and the 16 coils"):
        coil_compression_matrix(kspace.data[0], layout, (12, 12), 0)
    # an upper bound: at or above the coil count every coil is kept
    np.testing.assert_array_equal(estimate_coil_maps(kspace, coil_compression=32), estimate_coil_maps(kspace))


def test_compressed_maps_have_the_rank_asked_for_and_reconstruct_like_all_coils():
    kspace, truth = many_coil_kspace()
    full = estimate_coil_maps(kspace)
    compressed = estimate_coil_maps(kspace, coil_compression=6)
    assert compressed.shape == full.shape
    singular = np.linalg.svd(compressed.reshape(16, -1), compute_uv=False)
    assert singular[5] > 1e-2 * singular[0] and singular[6] < 1e-5 * singular[0]
    for method in ("sense", "cs"):
        every_coil = np.abs(reconstruct(kspace, method, coil_maps=full)[0])
        virtual = np.abs(reconstruct(kspace, method, coil_maps=compressed)[0])
        own = np.abs(reconstruct(kspace, method, coil_compression=6)[0])
        # measured: SENSE 0.024 (6 virtual) vs 0.026 (16 coils), CS 0.0066 vs 0.0059 against the truth
        assert relative_error(virtual, truth) < relative_error(every_coil, truth) + 0.01
        np.testing.assert_allclose(own, virtual, atol=1e-3 * virtual.max())


def test_rank_deficient_maps_compress_exactly(monkeypatch):
    """Data and maps projected on the maps' coil span: the same least-squares problem, to float precision."""
    from reconstudy.recon import api

    kspace, _ = many_coil_kspace()
    maps = estimate_coil_maps(kspace, coil_compression=5)
    compressed = reconstruct(kspace, "sense", coil_maps=maps)
    monkeypatch.setattr(api, "maps_compression", lambda coil_maps: None)  # every coil, same maps
    every_coil = reconstruct(kspace, "sense", coil_maps=maps)
    np.testing.assert_allclose(compressed, every_coil, atol=2e-4 * np.abs(every_coil).max())

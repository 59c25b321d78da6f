"""Coil handling: ESPIRiT recovers known sensitivities, low-res maps, noise prewhitening."""

import numpy as np
import pytest

from phantoms import ellipsoid_phantom
from reconstudy.fourier import fftc
from reconstudy.recon.coils import centre_region, espirit_maps, lowres_maps, whitening_matrix
from reconstudy.recon.operators import to_unshifted


def smooth_maps(n_coils, shape):
    z, y = np.meshgrid(np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1]), indexing="ij")
    maps = []
    for c in range(n_coils):
        a = 2 * np.pi * c / n_coils
        mag = np.exp(-((z - 1.5 * np.cos(a)) ** 2 + (y - 1.5 * np.sin(a)) ** 2) / 3.0)
        maps.append(mag * np.exp(1j * (0.7 * z * np.cos(a) + 0.5 * y + 0.3 * c)))
    maps = np.array(maps)
    return (maps / np.sqrt((np.abs(maps) ** 2).sum(0))).astype(np.complex64)


@pytest.fixture(scope="module")
def plane():
    shape = (80, 64)
    image = ellipsoid_phantom(shape).astype(np.complex64)
    maps = smooth_maps(6, shape)
    kspace = fftc(maps * image, axes=(-2, -1)).astype(np.complex64)
    return image, maps, kspace


def test_espirit_recovers_known_maps_up_to_phase(plane):
    image, maps, kspace = plane
    est = espirit_maps(centre_region(kspace[None], (20, 20)), image.shape)
    assert est.shape == (1, 6, *image.shape) and est.dtype == np.complex64
    support = to_unshifted(np.abs(image)) > 0
    match = np.abs((np.conj(est[0]) * to_unshifted(maps)).sum(axis=0))
    assert match[support].mean() > 0.99 and match[support].min() > 0.9
    norm = (np.abs(est[0]) ** 2).sum(axis=0)
    assert np.allclose(norm[support], 1.0, atol=1e-3)
    # Phase referenced to coil 0: its map is real and non-negative.
    assert np.allclose(est[0, 0].imag, 0, atol=1e-5) and (est[0, 0].real >= -1e-6).all()


def test_espirit_batch_equals_single(plane):
    _, _, kspace = plane
    calib = centre_region(np.stack([kspace, 2 * kspace]), (20, 20))
    both = espirit_maps(calib, kspace.shape[-2:])
    assert np.allclose(both[0], both[1], atol=1e-4)


def test_espirit_needs_calibration_larger_than_kernel(plane):
    _, _, kspace = plane
    with pytest.raises(ValueError, match="larger than the ESPIRiT kernel"):
        espirit_maps(centre_region(kspace[None], (6, 6)), kspace.shape[-2:], kernel=6)


def test_lowres_maps_are_normalised(plane):
    image, _, kspace = plane
    est = lowres_maps(centre_region(kspace[None], (20, 20)), image.shape)
    norm = (np.abs(est[0]) ** 2).sum(axis=0)
    inside = to_unshifted(np.abs(image)) > 0
    ones = np.isclose(norm, 1.0, atol=1e-4)
    assert (ones | (norm == 0)).all()
    assert ones[inside].mean() > 0.95


def test_whitening_decorrelates_noise():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))
    psi = a @ a.conj().T + 4 * np.eye(4)
    w = whitening_matrix(psi)
    white = w @ psi @ w.conj().T
    scale = np.trace(psi).real / 4
    assert np.allclose(white, scale * np.eye(4), atol=1e-4 * scale)


@pytest.mark.parametrize("psi", [np.ones((3, 3)), np.eye(3)[:2], np.full((2, 2), np.nan)])
def test_whitening_rejects_bad_covariance(psi):
    with pytest.raises(ValueError, match="noise covariance"):
        whitening_matrix(psi)

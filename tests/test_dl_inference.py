"""Plane-wise DL inference on KSpace volumes: known answer, batching, errors."""

import numpy as np
import pytest
import torch

from reconstudy.fourier import ifftc
from reconstudy.io.kspace import KSpace
from reconstudy.recon.dl.inference import dl_reconstruct
from reconstudy.recon.dl.io import save_model
from reconstudy.recon.dl.superres import SuperResolution, centre_box_mask
from reconstudy.recon.dl.varnet import VarNet
from reconstudy.training.synthetic import synthetic_kspace

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def volume():
    kspace, truth = synthetic_kspace((12, 14, 10), n_coils=3, seed=1)
    return kspace, truth


def with_mask(kspace, mask):
    return KSpace(
        kspace.data * mask[None, None, :, :, None], kspace.geometry, kspace.acquisition, sampling_mask=mask
    )


def test_zero_cascades_fully_sampled_gives_root_sum_of_squares(tmp_path, volume):
    kspace, _ = volume
    path = tmp_path / "identity.pt"
    save_model(path, VarNet(num_cascades=0, sens_chans=0))
    image = dl_reconstruct(kspace, path, batch_planes=4)
    assert image.shape == (1, 12, 14, 10) and image.dtype == np.complex64
    rss = np.sqrt((np.abs(ifftc(kspace.data[0], axes=(-3, -2, -1))) ** 2).sum(axis=0))
    np.testing.assert_allclose(np.abs(image[0]), rss, rtol=1e-4, atol=1e-5 * rss.max())


def test_batch_size_does_not_change_the_result(tmp_path, volume):
    kspace, _ = volume
    torch.manual_seed(0)
    path = tmp_path / "varnet.pt"
    save_model(path, VarNet(num_cascades=2, chans=4, num_pools=2, sens_chans=2, sens_pools=1))
    mask = np.zeros((12, 14), dtype=bool)
    mask[4:8, 5:9], mask[::2, ::2] = True, True
    under = with_mask(kspace, mask)
    one = dl_reconstruct(under, path, batch_planes=1)
    many = dl_reconstruct(under, path, batch_planes=7)
    np.testing.assert_allclose(one, many, rtol=1e-4, atol=1e-5 * np.abs(one).max())


def test_superresolution_volume(tmp_path, volume):
    kspace, _ = volume
    path = tmp_path / "sr.pt"
    save_model(path, SuperResolution(chans=4, num_pools=2))
    image = dl_reconstruct(with_mask(kspace, centre_box_mask((12, 14), 2)), path, batch_planes=3)
    assert image.shape == (1, 12, 14, 10) and np.isfinite(image).all()


def test_two_dimensional_encoding_is_refused(tmp_path, volume):
    kspace, _ = volume
    path = tmp_path / "varnet.pt"
    save_model(path, VarNet(num_cascades=0, sens_chans=0))
    two_d = KSpace(kspace.data, kspace.geometry, "T2w", encoding="2d")
    with pytest.raises(ValueError, match="3D-encoded"):
        dl_reconstruct(two_d, path)


def test_espirit_varnet_without_cascades_equals_conventional_zero_filled(tmp_path, volume):
    """With ESPIRiT maps and no cascades the VarNet is S^H F^H M y: the api's zero-filled image.

    Pins the map layout (coil, z, y, x) -> planes and the whitening/scaling of both paths.
    """
    from reconstudy.recon.api import estimate_coil_maps, reconstruct
    from reconstudy.sampling import calibration_box

    kspace, _ = volume
    mask = calibration_box((12, 14), 8)
    mask[::2, ::3] = True
    under = with_mask(kspace, mask)
    maps = estimate_coil_maps(under)
    path = tmp_path / "espirit0.pt"
    save_model(path, VarNet(num_cascades=0, coil_maps="espirit"))
    dl = dl_reconstruct(under, path, batch_planes=5, coil_maps=maps)
    zf = reconstruct(under, "zf", coil_maps=maps)
    np.testing.assert_allclose(dl, zf, rtol=1e-4, atol=1e-4 * np.abs(zf).max())
    # Without maps given, they are estimated as the conventional methods estimate them.
    np.testing.assert_allclose(dl_reconstruct(under, path, batch_planes=5), dl, rtol=1e-5, atol=1e-6)


def test_espirit_varnet_needs_maps_of_the_kspace_shape():
    model = VarNet(num_cascades=1, chans=2, num_pools=1, coil_maps="espirit")
    kspace = torch.zeros(2, 3, 8, 8, dtype=torch.complex64)
    with pytest.raises(ValueError, match="ESPIRiT coil maps"):
        model(kspace, torch.ones(8, 8))
    with pytest.raises(ValueError, match=r"\(2, 3, 8, 8\)"):
        model(kspace, torch.ones(8, 8), torch.zeros(2, 2, 8, 8, dtype=torch.complex64))
    with pytest.raises(ValueError, match="coil_maps must be one of"):
        VarNet(coil_maps="lowres")

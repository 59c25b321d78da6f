"""Plane-wise DL inference on KSpace volumes: known answer, batching, errors."""

import numpy as np
import pytest
import torch

from reconstudy.fourier import ifftc
from reconstudy.io.kspace import KSpace
from reconstudy.recon.dl.inference import dl_reconstruct, dl_sr_reconstruct
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


def test_superresolution_volume(tmp_path):
    kspace, _ = synthetic_kspace((20, 24, 6), n_coils=3, seed=2)  # a centre box big enough for ESPIRiT
    path = tmp_path / "sr.pt"
    save_model(path, SuperResolution(chans=4, num_pools=2))
    image = dl_reconstruct(with_mask(kspace, centre_box_mask((20, 24), 2)), path, batch_planes=4)
    assert image.shape == (1, 20, 24, 6) and np.isfinite(image).all()


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


def test_dl_sr_boosts_an_undersampled_centre_then_super_resolves(tmp_path):
    from reconstudy.recon.api import estimate_coil_maps
    from reconstudy.recon.dl.modl import MoDL
    from reconstudy.sampling import low_resolution_mask

    kspace, truth = synthetic_kspace((24, 32, 6), n_coils=3, seed=2)
    boost, sharp = MoDL(num_unrolls=1, chans=4, num_pools=2), SuperResolution(chans=4, num_pools=2)
    box = centre_box_mask((24, 32), 2)
    # A fully sampled centre needs no boost: dl_sr is the SR model alone.
    whole = dl_sr_reconstruct(with_mask(kspace, box), boost, sharp, batch_planes=4)
    alone = dl_reconstruct(with_mask(kspace, box), None, batch_planes=4, model=sharp)
    np.testing.assert_allclose(whole, alone, rtol=1e-5, atol=1e-6)
    # An undersampled centre (R = 6 overall) is completed by the boost network first. The maps
    # are the centre's (the workflow passes its own; an 8-line calibration alone gives poor ones).
    maps = estimate_coil_maps(with_mask(kspace, box))
    mask = low_resolution_mask((24, 32), 6, calib=8, seed=1)
    image = dl_sr_reconstruct(with_mask(kspace, mask), boost, sharp, batch_planes=4, coil_maps=maps)
    assert image.shape == (1, 24, 32, 6) and np.isfinite(image).all()
    error = np.linalg.norm(np.abs(image[0]) - np.abs(whole[0])) / np.linalg.norm(np.abs(whole[0]))
    assert 0 < error < 0.1  # close to the fully sampled centre's result, not equal to it


def test_dl_sr_refuses_samples_outside_the_centre(volume):
    from reconstudy.recon.dl.modl import MoDL

    kspace, _ = volume
    mask = np.ones((12, 14), dtype=bool)
    with pytest.raises(ValueError, match="outside the central 1/2.*low_resolution_mask"):
        dl_sr_reconstruct(with_mask(kspace, mask), MoDL(num_unrolls=0), SuperResolution(chans=4, num_pools=2))


def test_rank_deficient_maps_run_the_networks_on_virtual_coils(monkeypatch):
    """Coil-compressed maps (rank 3 of 6): MoDL and dl_sr give the all-coil result on 3 coils."""
    from reconstudy.recon import api
    from reconstudy.recon.dl.modl import MoDL
    from reconstudy.sampling import create_mask

    kspace, _ = synthetic_kspace((24, 32, 6), n_coils=6, seed=3, noise=0.01)
    torch.manual_seed(0)
    boost, sharp = MoDL(num_unrolls=2, chans=4, num_pools=2), SuperResolution(chans=4, num_pools=2)
    undersampled = with_mask(kspace, create_mask("poisson", (24, 32), 4, calib=10, seed=1))
    lowres = with_mask(kspace, centre_box_mask((24, 32), 2))
    maps = api.estimate_coil_maps(undersampled, coil_compression=3)
    assert api.maps_compression(maps).shape == (3, 6)

    def both():
        return (
            dl_reconstruct(undersampled, None, batch_planes=3, model=boost, coil_maps=maps),
            dl_sr_reconstruct(lowres, boost, sharp, batch_planes=3, coil_maps=maps),
        )

    virtual = both()
    monkeypatch.setattr(api, "maps_compression", lambda coil_maps: None)
    for compressed, every_coil in zip(virtual, both()):
        # measured: 1.5e-5 of the peak for both (float32 CG and network)
        np.testing.assert_allclose(compressed, every_coil, rtol=0, atol=1e-4 * np.abs(every_coil).max())

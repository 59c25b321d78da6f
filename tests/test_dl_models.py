"""Shapes, dtypes and data consistency of the DL reconstruction modules."""

import numpy as np
import pytest
import torch

from reconstudy.fourier import fftc, ifftc
from reconstudy.recon.dl.modl import cg_sense
from reconstudy.recon.dl.superres import SuperResolution, centre_box_mask
from reconstudy.recon.dl.unet import ComplexUNet, UNet
from reconstudy.recon.dl.varnet import (
    SensitivityModel,
    VarNet,
    VarNetCascade,
    calibration_region,
    fft2c,
    ifft2c,
    sense_combine,
    sense_expand,
    soft_data_consistency,
)

torch.set_num_threads(1)


def random_kspace(batch=2, coils=3, height=20, width=23, seed=0):
    gen = torch.Generator().manual_seed(seed)
    real = torch.randn(batch, coils, height, width, generator=gen)
    imag = torch.randn(batch, coils, height, width, generator=gen)
    return torch.complex(real, imag)


def test_unet_shapes_any_size():
    net = UNet(2, 3, chans=4, num_pools=2)
    out = net(torch.randn(2, 2, 17, 30))
    assert out.shape == (2, 3, 17, 30) and out.dtype == torch.float32
    with pytest.raises(ValueError, match="expects"):
        net(torch.randn(2, 5, 16, 16))


def test_complex_unet_is_scale_equivariant():
    net = ComplexUNet(chans=4, num_pools=2).eval()
    x = random_kspace(2, 1, 16, 12)[:, 0]
    out = net(x)
    assert out.shape == x.shape and out.dtype == torch.complex64
    torch.testing.assert_close(net(10 * x), 10 * out, rtol=1e-4, atol=1e-4)


def test_fft2c_matches_library_fft_and_is_unitary():
    x = random_kspace(1, 2, 8, 11)
    expected = fftc(x.numpy(), axes=(-2, -1))
    np.testing.assert_allclose(fft2c(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ifft2c(x).numpy(), ifftc(x.numpy(), axes=(-2, -1)), rtol=1e-5, atol=1e-5)
    assert torch.allclose(fft2c(x).abs().square().sum(), x.abs().square().sum(), rtol=1e-5)


def test_sense_expand_and_combine_are_adjoint():
    maps, k = random_kspace(2, 3, 10, 9, seed=1), random_kspace(2, 3, 10, 9, seed=2)
    image = random_kspace(2, 1, 10, 9, seed=3)[:, 0]
    lhs = torch.vdot(sense_expand(image, maps).flatten(), k.flatten())
    rhs = torch.vdot(image.flatten(), sense_combine(k, maps).flatten())
    torch.testing.assert_close(lhs, rhs, rtol=1e-4, atol=1e-3)


def test_soft_data_consistency_against_hand_computation():
    k, y = random_kspace(seed=4), random_kspace(seed=5)
    mask = torch.zeros(2, 1, 20, 23)
    mask[:, :, ::3, 1::2] = 1
    y = y * mask
    weight = torch.tensor(0.37)
    got = soft_data_consistency(k, y, mask, weight).numpy()
    kn, yn, mn = k.numpy(), y.numpy(), mask.numpy().astype(bool)
    expected = np.zeros_like(kn)
    for b, c, i, j in zip(*np.nonzero(np.broadcast_to(mn, kn.shape))):
        expected[b, c, i, j] = 0.37 * (kn[b, c, i, j] - yn[b, c, i, j])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_cascade_with_zero_regulariser_is_a_gradient_step():
    cascade = VarNetCascade(chans=4, num_pools=2)
    torch.nn.init.zeros_(cascade.regulariser.unet.head.weight)
    torch.nn.init.zeros_(cascade.regulariser.unet.head.bias)
    with torch.no_grad():
        cascade.dc_weight.fill_(0.5)
    k, y = random_kspace(seed=6), random_kspace(seed=7)
    mask = (torch.rand(2, 1, 20, 23, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    y = y * mask
    maps = torch.zeros_like(k)  # with S = 0 the regulariser term F S R(.) vanishes exactly
    out = cascade(k, y, mask, maps)
    torch.testing.assert_close(out, k - 0.5 * mask * (k - y))


def test_calibration_region_finds_the_acs_box():
    mask = np.zeros((20, 24), dtype=bool)
    mask[7:13, 9:15] = True  # 6 x 6 box centred on (10, 12)
    mask[::4, ::3] = True
    region = calibration_region(torch.as_tensor(mask, dtype=torch.float32)[None, None])[0, 0].numpy()
    box = np.zeros_like(mask)
    box[7:13, 9:15] = True
    np.testing.assert_array_equal(region.astype(bool), box)
    full = calibration_region(torch.ones(1, 1, 6, 7))
    assert full.sum() == 42


def test_sensitivity_maps_are_rss_normalised():
    model = SensitivityModel(chans=4, num_pools=2)
    k = random_kspace(2, 4, 16, 16)
    mask = torch.zeros(16, 16)
    mask[5:11, 5:11] = 1
    maps = model(k * mask, mask)
    assert maps.shape == k.shape and maps.dtype == torch.complex64
    rss = maps.abs().square().sum(dim=1).sqrt()
    torch.testing.assert_close(rss, torch.ones_like(rss), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("mask_shape", [(2, 1, 18, 21), (18, 21)])
def test_varnet_shapes_and_dtype(mask_shape):
    model = VarNet(num_cascades=2, chans=4, num_pools=2, sens_chans=2, sens_pools=1)
    k = random_kspace(2, 3, 18, 21)
    mask = torch.ones(mask_shape)
    image = model(k, mask)
    assert image.shape == (2, 18, 21) and image.dtype == torch.complex64
    image.abs().mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="complex k-space"):
        model(k.real, mask)


def test_varnet_is_scale_equivariant():
    model = VarNet(num_cascades=2, chans=4, num_pools=2, sens_chans=2, sens_pools=1).eval()
    k = random_kspace(1, 3, 16, 16)
    mask = torch.zeros(16, 16)
    mask[6:10, 6:10], mask[::2] = 1, 1
    torch.testing.assert_close(model(7 * k, mask), 7 * model(k, mask), rtol=1e-3, atol=1e-3)


def test_centre_box_mask():
    mask = centre_box_mask((10, 13), 2)
    assert mask.sum() == 5 * 6 and mask[5, 6]
    assert not mask[0].any() and not mask[:, 0].any()


def test_superresolution_keeps_acquired_samples_exactly():
    model = SuperResolution(chans=4, num_pools=2)
    torch.nn.init.normal_(model.residual.unet.head.weight)  # a trained-like, non-zero residual
    k, maps = random_kspace(2, 3, 20, 24), random_kspace(2, 3, 20, 24, seed=5)
    mask = torch.as_tensor(centre_box_mask((20, 24), 2))
    full = model.predict_kspace(k, mask, maps)
    assert full.shape == k.shape and full.dtype == torch.complex64
    assert torch.equal(full[..., mask], k[..., mask])
    assert full[..., ~mask].abs().sum() > 0  # the outer k-space is predicted, not zero
    image = model(k, mask, maps)
    assert image.shape == (2, 20, 24) and image.dtype == torch.complex64


def test_untrained_superresolution_is_the_low_resolution_cg_sense():
    """The residual starts at zero: the untrained model returns CG-SENSE of the acquired centre,
    with the acquired samples put back (hand computation of k = M y + (1 - M) F S x0)."""
    model = SuperResolution(chans=4, num_pools=2, cg_iterations=5, eps=1e-2)
    k, maps = random_kspace(1, 3, 12, 16, seed=3), random_kspace(1, 3, 12, 16, seed=4)
    mask = torch.as_tensor(centre_box_mask((12, 16), 2))
    x0 = cg_sense(k, mask.float(), maps, 1e-2, 5)
    expected = torch.where(mask, k, sense_expand(x0, maps))
    torch.testing.assert_close(model.predict_kspace(k, mask, maps), expected)
    torch.testing.assert_close(model(k, mask, maps), sense_combine(expected, maps))


def test_superresolution_refuses_missing_maps():
    k = random_kspace(1, 3, 12, 16)
    with pytest.raises(ValueError, match="ESPIRiT coil maps"):
        SuperResolution(chans=4, num_pools=2)(k, torch.as_tensor(centre_box_mask((12, 16), 2)))

"""The 3D wavelet regulariser (``wavelet3d``): operator maths, prox, and CS on a small 3D phantom."""

import numpy as np
import pytest
import pywt

from phantoms import ellipsoid_phantom
from reconstudy.fourier import fftc
from reconstudy.io.kspace import Geometry, KSpace
from reconstudy.metrics import nrmse
from reconstudy.recon import reconstruct
from reconstudy.recon.cs import WaveletProx
from reconstudy.recon.operators import WaveletOp
from reconstudy.sampling import create_mask

RNG = np.random.default_rng(3)


def crandn(*shape):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(np.complex64)


def inner(a, b):
    return np.vdot(a.astype(np.complex128).ravel(), b.astype(np.complex128).ravel())


@pytest.mark.parametrize("wavelet", ["haar", "db2", "db4"])
@pytest.mark.parametrize("shape", [(16, 24, 32), (13, 30, 37)])
def test_3d_wavelet_adjoint_isometry_and_perfect_reconstruction(wavelet, shape):
    op = WaveletOp(shape, wavelet, levels=2)
    assert op.padded == tuple(-(-n // 4) * 4 for n in shape)
    x, y = crandn(2, *shape), crandn(2, *op.padded)
    lhs, rhs = inner(op.apply(x), y), inner(x, op.adjoint(y))
    assert abs(lhs - rhs) <= 1e-4 * max(abs(lhs), 1.0)
    assert np.allclose(op.adjoint(op.apply(x)), x, atol=1e-4)
    assert np.isclose(np.linalg.norm(op.apply(x)), np.linalg.norm(x), rtol=1e-4)
    if op.padded == shape:  # no padding: W is unitary, W W^H = I too
        assert np.allclose(op.apply(op.adjoint(y)), y, atol=1e-4)


def test_3d_haar_level_one_matches_pywavelets_subbands():
    x = RNG.standard_normal((8, 8, 8)).astype(np.float32)
    ours = WaveletOp((8, 8, 8), "haar", levels=1).apply(x.astype(np.complex64)).real
    bands = pywt.dwtn(x, "haar", mode="periodization")
    # Mallat corner per axis: first half low-pass ('a'), second half high-pass ('d').
    for key, band in bands.items():
        index = tuple(slice(0, 4) if k == "a" else slice(4, 8) for k in key)
        assert np.allclose(np.abs(ours[index]), np.abs(band), atol=1e-5), key


def test_2d_op_on_a_batch_is_per_plane():
    op = WaveletOp((24, 20), "db2", levels=2)
    x = crandn(5, 24, 20)
    assert op.axes == (-2, -1)
    assert np.allclose(op.apply(x), np.stack([op.apply(p[None])[0] for p in x]), atol=1e-6)


def test_3d_approximation_band_and_prox():
    op = WaveletOp((16, 16, 16), "haar", levels=2)
    assert op.approx_shape == (4, 4, 4)
    constant = np.ones((16, 16, 16), np.complex64)
    coeffs = op.apply(constant)
    assert np.allclose(coeffs[op.approx_index()], 8.0)  # all energy in the unpenalised band
    coeffs[op.approx_index()] = 0
    assert np.allclose(coeffs, 0, atol=1e-5)
    prox = WaveletProx((16, 16, 16), lam=0.5, wavelet="haar", levels=2, rng=np.random.default_rng(0))
    assert np.allclose(prox(constant), constant, atol=1e-5)  # a constant has no penalised detail
    noise = crandn(16, 16, 16)
    shrunk = prox(noise)
    assert np.linalg.norm(shrunk) < np.linalg.norm(noise)
    assert np.allclose(WaveletProx((16, 16, 16), 0.0, "haar", 2)(noise), noise, atol=1e-4)


def test_wavelet_op_rejects_other_ranks():
    with pytest.raises(ValueError, match="2 or 3 axes"):
        WaveletOp((8,), "haar", levels=1)


# --- reconstruction -------------------------------------------------------------------------


def coil_maps(n_coils, shape):
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    maps = []
    for c in range(n_coils):
        a = 2 * np.pi * c / n_coils
        dist = (grid[0] - 0.3 * np.sin(a)) ** 2 + (grid[1] - 1.4 * np.cos(a)) ** 2
        dist = dist + (grid[2] - 1.4 * np.sin(a)) ** 2
        maps.append(np.exp(-dist / 2.5) * np.exp(1j * (0.5 * grid[1] * np.cos(a) + a)))
    maps = np.array(maps)
    return (maps / np.sqrt((np.abs(maps) ** 2).sum(0))).astype(np.complex64)


@pytest.fixture(scope="module")
def phantom_r4():
    return make_phantom((32, 40, 16))


def make_phantom(shape):
    """(z, y, x) ellipsoid phantom, 6 coils, noise, Poisson disc R = 4."""
    image = ellipsoid_phantom(shape).astype(np.complex64)
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    image = image * np.exp(1j * (0.4 * grid[0] + 0.3 * grid[1])).astype(np.complex64)
    kspace = fftc(coil_maps(6, shape) * image, axes=(-3, -2, -1)).astype(np.complex64)
    noise = np.random.default_rng(0).standard_normal((2, *kspace.shape)).astype(np.float32)
    kspace += 0.002 * (noise[0] + 1j * noise[1])
    mask = create_mask("poisson", shape[:2], 4, calib=12, seed=[0, 3, 400])
    data = (kspace * mask[None, :, :, None])[None]
    ks = KSpace(data, Geometry.centred(shape[::-1], (1.0, 1.0, 1.0)), sampling_mask=mask)
    return image, ks


def error(recon, image):
    support = np.abs(image) > 0
    return nrmse(np.abs(recon), np.abs(image), support)


def test_cs_wavelet3d_recovers_3d_phantom(phantom_r4):
    image, ks = phantom_r4
    recon = {reg: reconstruct(ks, "cs", regulariser=reg, lam=8e-3)[0] for reg in ("wavelet", "wavelet3d")}
    err = {reg: error(r, image) for reg, r in recon.items()}
    zf = error(reconstruct(ks, "zf")[0], image)
    assert err["wavelet3d"] < 0.15, err  # measured 0.105 (2D wavelet at this lambda: 0.078)
    assert err["wavelet3d"] < 0.6 * zf, (err, zf)
    # the planes really are coupled: not the per-plane 2D result
    assert not np.allclose(recon["wavelet"], recon["wavelet3d"], atol=1e-3 * np.abs(image).max())


def test_small_batches_fall_back_to_the_2d_wavelet(phantom_r4):
    _, ks = phantom_r4
    kwargs = {"iterations": 4, "batch_planes": 8, "slab_planes": 16, "seed": 2}  # 8 < 2**4 planes
    two = reconstruct(ks, "cs", regulariser="wavelet", **kwargs)
    three = reconstruct(ks, "cs", regulariser="wavelet3d", **kwargs)
    assert np.array_equal(two, three)


def test_multislice_acquisition_keeps_the_2d_wavelet():
    shape = (16, 32, 32)  # 16 slices >= 2**4: a 3D wavelet would be possible, but must not be used
    image = ellipsoid_phantom(shape).astype(np.complex64)
    maps = coil_maps(4, shape)
    kspace = fftc(maps * image, axes=(-2, -1)).astype(np.complex64)  # 2D encoding: no kz
    mask = create_mask("equispaced", shape[:2], 2, calib=10, seed=0)  # (slice, ky)
    data = (kspace * mask[None, :, :, None])[None]
    ks = KSpace(data, Geometry.centred(shape[::-1], (1.0, 1.0, 2.0)), sampling_mask=mask, encoding="2d")
    assert ks.encoding == "2d"
    two = reconstruct(ks, "cs", regulariser="wavelet", iterations=4, coil_maps=maps, seed=1)
    three = reconstruct(ks, "cs", regulariser="wavelet3d", iterations=4, coil_maps=maps, seed=1)
    assert np.array_equal(two, three)


def test_unknown_regulariser_is_rejected(phantom_r4):
    with pytest.raises(ValueError, match="wavelet3d"):
        reconstruct(phantom_r4[1], "cs", regulariser="wavelet4d")


def test_recon_command_passes_the_regulariser(phantom_r4, tmp_path, monkeypatch):
    from reconstudy.cli import main
    from reconstudy.commands import recon as recon_command

    seen = {}

    def fake_reconstruct(kspace, method, **kwargs):
        seen.update(kwargs, method=method)
        return np.ones((1, *kspace.data.shape[2:]), np.complex64)

    monkeypatch.setattr(recon_command, "read_kspace", lambda path: phantom_r4[1])
    monkeypatch.setattr(recon_command, "reconstruct", fake_reconstruct)
    out = tmp_path / "cs3d.nii.gz"
    args = ["recon", "--method", "cs", "--kspace", "k.h5", "--regulariser", "wavelet3d", "--out", str(out)]
    assert main(args) == 0
    assert seen["method"] == "cs" and seen["regulariser"] == "wavelet3d" and out.exists()

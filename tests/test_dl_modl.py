"""MoDL: CG data consistency against dense solves and a hand computation, CG-SENSE start, files, training."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from reconstudy.fourier import fftc, ifftc
from reconstudy.io.kspace import KSpace
from reconstudy.recon.dl.inference import dl_reconstruct, maps_as_planes
from reconstudy.recon.dl.io import load_model, manifest_path, save_model
from reconstudy.recon.dl.modl import (
    MoDL,
    cg_sense,
    conjugate_gradient,
    regularised_sense,
    sense_normal,
)
from reconstudy.recon.dl.varnet import sense_combine, sense_expand
from reconstudy.training.data import PlaneSampler, training_volume
from reconstudy.training.loop import TrainConfig, train
from reconstudy.training.losses import reconstruction_loss
from reconstudy.training.synthetic import coil_maps, ellipsoid_volume, synthetic_kspace

torch.set_num_threads(1)
SMALL = dict(num_unrolls=2, chans=4, num_pools=2, cg_init=8, cg_iterations=4)


def crandn(*shape, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=gen), torch.randn(*shape, generator=gen))


def unit_rss(maps):
    return maps / maps.abs().square().sum(dim=1, keepdim=True).sqrt()


def random_mask(shape, fraction, seed):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=gen) < fraction).float()


def plane_problem(batch=2, coils=3, height=8, width=7, seed=0):
    maps = unit_rss(crandn(batch, coils, height, width, seed=seed))
    image = crandn(batch, height, width, seed=seed + 1)
    mask = random_mask((batch, 1, height, width), 0.45, seed + 2)
    return maps, mask, sense_expand(image, maps) * mask


def dense_encoding(maps, mask):
    """The explicit matrix ``A = M F S`` of one plane (``F`` from the numpy centred FFT)."""
    coils, height, width = maps.shape
    n = height * width
    fourier = fftc(np.eye(n).reshape(n, height, width), axes=(-2, -1)).reshape(n, n).T
    rows = [np.diag(mask.ravel()) @ fourier @ np.diag(maps[c].ravel()) for c in range(coils)]
    return np.concatenate(rows, axis=0)


def test_sense_normal_is_the_dense_normal_operator():
    maps, mask, _ = plane_problem(batch=1, height=5, width=4)
    image = crandn(1, 5, 4, seed=9)
    a = dense_encoding(maps[0].numpy(), mask[0, 0].numpy())
    expected = (a.conj().T @ a @ image[0].numpy().ravel()).reshape(5, 4)
    np.testing.assert_allclose(sense_normal(image, maps, mask)[0].numpy(), expected, rtol=1e-4, atol=1e-5)


def test_cg_solves_the_regularised_normal_equations_like_a_dense_solve():
    maps, mask, y = plane_problem(batch=2, height=6, width=5)
    lam = 0.05
    got = cg_sense(y, mask, maps, lam, iterations=60)
    for b in range(2):
        a = dense_encoding(maps[b].numpy().astype(np.complex128), mask[b, 0].numpy())
        rhs = a.conj().T @ np.concatenate([y[b, c].numpy().ravel() for c in range(y.shape[1])])
        expected = np.linalg.solve(a.conj().T @ a + lam * np.eye(a.shape[1]), rhs).reshape(6, 5)
        np.testing.assert_allclose(got[b].numpy(), expected, rtol=1e-3, atol=1e-4 * np.abs(expected).max())


def test_uncentred_cg_iterates_equal_the_centred_ones():
    """regularised_sense permutes once instead of shifting in every FFT: same iterates, not just the limit."""
    maps, mask, y = plane_problem(batch=2, height=9, width=8)
    rhs, start = sense_combine(y, maps), crandn(2, 9, 8, seed=11)
    lam = 0.07
    centred = conjugate_gradient(lambda v: sense_normal(v, maps, mask) + lam * v, rhs, start, 3)
    got = regularised_sense(rhs, maps, mask, lam, start, 3)
    torch.testing.assert_close(got, centred, rtol=1e-5, atol=1e-5)


def test_conjugate_gradient_handles_an_all_zero_plane_and_keeps_gradients_finite():
    maps, mask, y = plane_problem(batch=2)
    y = y.clone()
    y[1] = 0  # a plane without signal: zero residual, 0/0 step sizes if unguarded
    lam = torch.tensor(0.1, requires_grad=True)
    rhs = sense_combine(y, maps)
    x = regularised_sense(rhs, maps, mask, lam, torch.zeros_like(rhs), 5)
    assert torch.all(x[1] == 0) and torch.isfinite(torch.view_as_real(x)).all()
    x.abs().sum().backward()
    assert torch.isfinite(lam.grad)


def test_data_consistency_step_against_hand_computation():
    """One coil with a unit map: ``(F^H M F + lam) x = F^H M y + mu z`` is diagonal in k-space.

    So ``F x = (M y + mu F z) / (M + eps + mu)`` sample by sample, and CG reaches it in two
    iterations (the operator has only the eigenvalues ``1 + lam`` and ``lam``).
    """
    height, width, eps, mu = 8, 6, 0.01, 0.3
    maps = torch.ones(1, 1, height, width, dtype=torch.complex64)
    mask = random_mask((1, 1, height, width), 0.5, seed=3)
    y = crandn(1, 1, height, width, seed=4) * mask
    z = crandn(1, height, width, seed=5)
    rhs = sense_combine(y, maps) + mu * z
    got = regularised_sense(rhs, maps, mask, eps + mu, crandn(1, height, width, seed=6), iterations=2)
    k = (mask[0, 0].numpy() * y[0, 0].numpy() + mu * fftc(z[0].numpy(), axes=(-2, -1))) / (
        mask[0, 0].numpy() + eps + mu
    )
    np.testing.assert_allclose(got[0].numpy(), ifftc(k, axes=(-2, -1)), rtol=1e-4, atol=1e-5)


def test_untrained_model_returns_cg_sense():
    maps, mask, y = plane_problem(batch=2, coils=4, height=16, width=12)
    model = MoDL(num_unrolls=3, chans=4, num_pools=2, cg_init=10, cg_iterations=6, eps=0.05)
    x = crandn(2, 16, 12, seed=7)
    assert torch.all(model.denoisers[0](x) == 0)  # the residual starts at exactly zero
    with torch.no_grad():
        out = model(y, mask, maps)
    converged = cg_sense(y, mask, maps, 0.05, iterations=200)
    error = (out - converged).abs().max() / converged.abs().max()
    start = (cg_sense(y, mask, maps, 0.05, iterations=10) - converged).abs().max() / converged.abs().max()
    # Every unroll keeps CG-SENSE as its fixed point and only iterates further towards it.
    assert error < 1e-3 and error <= start


def test_shapes_dtypes_and_configuration():
    maps, mask, y = plane_problem(batch=3, height=10, width=9)
    shared = MoDL(**SMALL)
    own = MoDL(**{**SMALL, "shared": False})
    for model in (shared, own):
        assert model.needs_coil_maps
        for m in (mask, mask[0, 0]):
            out = model(y, m, maps)
            assert out.shape == (3, 10, 9) and out.dtype == torch.complex64
    assert len(shared.denoisers) == 1 and len(own.denoisers) == 2
    assert sum(p.numel() for p in own.parameters()) > sum(p.numel() for p in shared.parameters())
    torch.testing.assert_close(shared.mu, torch.full((2,), 0.1))
    assert MoDL(num_unrolls=0, cg_init=3)(y, mask, maps).shape == (3, 10, 9)
    with pytest.raises(ValueError, match="ESPIRiT coil maps"):
        shared(y, mask)
    with pytest.raises(ValueError, match=r"\(3, 3, 10, 9\)"):
        shared(y, mask, maps[:, :2])
    with pytest.raises(ValueError, match="complex k-space"):
        shared(y.real, mask, maps)
    with pytest.raises(ValueError, match="eps > 0"):
        MoDL(eps=0)


def test_model_is_scale_equivariant_after_training_steps():
    maps, mask, y = plane_problem(batch=2, height=12, width=10)
    model = MoDL(**SMALL)
    for p in model.denoisers.parameters():  # leave the zero start: a generic nonzero residual
        p.data.add_(0.1 * torch.randn_like(p))
    with torch.no_grad():
        torch.testing.assert_close(model(10 * y, mask, maps), 10 * model(y, mask, maps), rtol=1e-3, atol=1e-3)


def true_map_volume(shape, coils, seed):
    """A synthetic training volume carrying the coil maps it was simulated with.

    ESPIRiT on these tiny grids loses whole edge planes, which would hide what is tested here;
    the maps are regenerated from the generator sequence of ``synthetic_kspace``.
    """
    rng = np.random.default_rng([seed, 7])
    ellipsoid_volume(shape, rng)
    maps = maps_as_planes(coil_maps(shape, coils, rng))
    volume = training_volume(synthetic_kspace(shape, coils, seed=seed)[0], name=f"syn{seed}")
    return replace(volume, maps=maps)


def test_autocast_reaches_only_the_denoiser():
    """Under autocast (bfloat16 on CPU here, float16 on CUDA in training) the CG stays complex64.

    With the zero-initialised residual the result is the float32 one exactly: the solves never
    ran in reduced precision. With a nonzero residual it differs only by the U-Net's rounding.
    """
    maps, mask, y = plane_problem(batch=2, height=12, width=10)
    model = MoDL(**SMALL)
    with torch.no_grad():
        reference = model(y, mask, maps)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model(y, mask, maps)
        assert mixed.dtype == torch.complex64
        torch.testing.assert_close(mixed, reference, rtol=0, atol=0)
        for p in model.denoisers.parameters():
            p.add_(0.1 * torch.randn_like(p))
        reference = model(y, mask, maps)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model(y, mask, maps)
    assert mixed.dtype == torch.complex64
    assert (mixed - reference).abs().max() < 0.05 * reference.abs().max()


@pytest.fixture(scope="module")
def volumes():
    return [true_map_volume((16, 20, 8), 3, seed=s) for s in range(2)]


def line_mask(shape, accel, rng):
    mask = rng.random(shape) < 1.0 / accel
    nz, ny = shape
    mask[nz // 2 - 4 : nz // 2 + 4, ny // 2 - 4 : ny // 2 + 4] = True
    return mask


def test_one_batch_overfit(volumes):
    torch.manual_seed(0)
    model = MoDL(**SMALL)
    batch = PlaneSampler(volumes[:1], line_mask, [6], batch_size=2, seed=0).batch(0, 0)
    inputs = [torch.as_tensor(a) for a in (batch.kspace, batch.mask, batch.maps)]
    target, data_range = torch.as_tensor(batch.target), torch.as_tensor(batch.data_range)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        optimiser.zero_grad()
        loss, _ = reconstruction_loss(model(*inputs), target, data_range)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.6 * losses[0]
    assert model.mu_weight.grad is not None and torch.isfinite(model.mu_weight.grad).all()


def test_training_loop_gives_modl_its_coil_maps(tmp_path, volumes):
    cfg = TrainConfig(
        architecture="MoDL",
        model=SMALL,
        epochs=1,
        steps_per_epoch=2,
        batch_size=2,
        accelerations=[4],
        val_accelerations=[4],
        val_planes=2,
        calibration=8,
        seed=1,
    )
    assert cfg.coil_map_calibration() == 8
    result = train(cfg, volumes[:1], volumes[1:], tmp_path, resume=False)
    assert type(result.model) is MoDL and np.isfinite(result.best_metrics["ssim"])


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = MoDL(**{**SMALL, "shared": False})
    for p in model.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    path = tmp_path / "modl.pt"
    manifest = save_model(path, model, retrain="reconstudy train-dl --config c.yaml --out modl.pt")
    assert manifest["architecture"] == {"name": "MoDL", "config": model.config}
    loaded, read = load_model(path)
    assert type(loaded) is MoDL and read["sha256"] == manifest["sha256"]
    maps, mask, y = plane_problem(batch=2, height=10, width=9)
    with torch.no_grad():
        torch.testing.assert_close(loaded(y, mask, maps), model.eval()(y, mask, maps))


def test_wrong_architecture_in_manifest_names_it(tmp_path):
    path = tmp_path / "modl.pt"
    save_model(path, MoDL(**SMALL))
    manifest = json.loads(manifest_path(path).read_text())
    manifest["architecture"] = {"name": "VarNet", "config": {"num_cascades": 2, "chans": 4, "num_pools": 2}}
    manifest_path(path).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"do not fit architecture VarNet.*modl\.json"):
        load_model(path)
    manifest["architecture"] = {"name": "MoDL", "config": {**SMALL, "chans": 8}}
    manifest_path(path).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"do not fit architecture MoDL.*modl\.json"):
        load_model(path)
    manifest["architecture"] = {"name": "MoDL", "config": {**SMALL, "cascades": 3}}
    manifest_path(path).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"modl\.json is invalid.*cascades"):
        load_model(path)


def test_untrained_model_through_inference_equals_conventional_cg_sense(tmp_path):
    """dl_reconstruct with the untrained MoDL is the api's CG-SENSE with the same maps and Tikhonov weight.

    Pins the whole inference path (prewhitening, scaling, plane layout, maps) for this architecture.
    """
    from reconstudy.recon.api import estimate_coil_maps, reconstruct
    from reconstudy.sampling import calibration_box

    kspace, _ = synthetic_kspace((12, 14, 10), n_coils=3, seed=1)
    mask = calibration_box((12, 14), 8)
    mask[::2, ::3] = True
    under = KSpace(
        kspace.data * mask[None, None, :, :, None], kspace.geometry, kspace.acquisition, sampling_mask=mask
    )
    maps = estimate_coil_maps(under)
    path = tmp_path / "modl0.pt"
    save_model(path, MoDL(num_unrolls=2, chans=4, num_pools=2, cg_init=60, cg_iterations=10, eps=1e-2))
    dl = dl_reconstruct(under, path, batch_planes=4, coil_maps=maps)
    sense = reconstruct(under, "sense", coil_maps=maps, lam=1e-2, iterations=200, tol=1e-8)
    assert dl.shape == sense.shape == (1, 12, 14, 10) and dl.dtype == np.complex64
    np.testing.assert_allclose(dl, sense, rtol=1e-3, atol=2e-3 * np.abs(sense).max())

"""Training loop: loss, one-batch overfit, determinism and resuming from a checkpoint."""

import numpy as np
import pytest
import torch

from reconstudy.recon.dl.varnet import VarNet
from reconstudy.training.data import PlaneSampler, training_volume
from reconstudy.training.loop import TrainConfig, learning_rate, train
from reconstudy.training.losses import reconstruction_loss, ssim_2d
from reconstudy.training.synthetic import synthetic_kspace

torch.set_num_threads(1)
SMALL = dict(num_cascades=2, chans=4, num_pools=2, sens_chans=2, sens_pools=1)


def line_mask(shape, accel, rng):
    """A simple seeded mask (the study's patterns are tested in test_sampling)."""
    mask = rng.random(shape) < 1.0 / accel
    nz, ny = shape
    mask[nz // 2 - 2 : nz // 2 + 2, ny // 2 - 2 : ny // 2 + 2] = True
    return mask


@pytest.fixture(scope="module")
def volumes():
    return [training_volume(synthetic_kspace((16, 20, 8), 3, seed=s)[0], name=f"syn{s}") for s in range(3)]


def config(**overrides):
    base = dict(
        model=SMALL,
        epochs=2,
        steps_per_epoch=3,
        batch_size=2,
        accelerations=[4, 8],
        val_accelerations=[4],
        val_planes=2,
        seed=3,
    )
    base.update(overrides)
    return TrainConfig(**base)


def test_ssim_known_values():
    x = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ssim_2d(x, x, torch.ones(2)), torch.ones(2))
    assert (ssim_2d(x, 1 - x, torch.ones(2)) < 0).all()


def test_ssim_matches_library_metric():
    from reconstudy.metrics import ssim_map

    rng = np.random.default_rng(0)
    x, y = rng.random((1, 20, 24)), rng.random((1, 20, 24))
    expected = ssim_map(x[0], y[0], data_range=1.0).mean()
    got = ssim_2d(torch.as_tensor(x), torch.as_tensor(y), torch.ones(1))
    assert abs(float(got) - expected) < 1e-6


def test_loss_is_zero_for_a_perfect_image():
    target = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(1)) + 0.1
    loss, parts = reconstruction_loss(torch.complex(target, torch.zeros_like(target)), target, torch.ones(2))
    assert float(loss) < 1e-6 and parts["ssim"] == pytest.approx(1.0)


def test_sampler_is_seeded(volumes):
    sampler = PlaneSampler(volumes, line_mask, [4, 8], batch_size=2, seed=5)
    a, b, c = sampler.batch(1, 2), sampler.batch(1, 2), sampler.batch(1, 3)
    assert np.array_equal(a.kspace, b.kspace) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.mask, c.mask)
    assert (
        a.kspace.shape == (2, 3, 16, 20) and a.mask.shape == (2, 1, 16, 20) and a.target.shape == (2, 16, 20)
    )


def test_one_batch_overfit(volumes):
    torch.manual_seed(0)
    model = VarNet(**SMALL)
    batch = PlaneSampler(volumes[:1], line_mask, [4], batch_size=1, seed=0).batch(0, 0)
    kspace, mask = torch.as_tensor(batch.kspace), torch.as_tensor(batch.mask)
    target, data_range = torch.as_tensor(batch.target), torch.as_tensor(batch.data_range)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        optimiser.zero_grad()
        loss, _ = reconstruction_loss(model(kspace, mask), target, data_range)
        loss.backward()
        optimiser.step()
        first = float(loss.detach()) if first is None else first
    assert float(loss.detach()) < 0.5 * first


def test_learning_rate_schedule():
    cfg = config(lr=1e-3, lr_final_fraction=0.1)
    assert learning_rate(cfg, 0) == pytest.approx(1e-3)
    assert learning_rate(cfg, cfg.epochs * cfg.steps_per_epoch - 1) == pytest.approx(1e-4)


def test_resume_equals_uninterrupted_run(tmp_path, volumes, monkeypatch):
    monkeypatch.setattr(TrainConfig, "mask_function", lambda self: line_mask)
    cfg = config()
    whole = train(cfg, volumes[:2], volumes[2:], tmp_path / "whole", resume=False)
    train(cfg, volumes[:2], volumes[2:], tmp_path / "parts", resume=False, stop_after_epoch=1)
    resumed = train(cfg, volumes[:2], volumes[2:], tmp_path / "parts", resume=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    for key, value in whole.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=1e-6)
    assert resumed.history[-1]["train_loss"] == pytest.approx(whole.history[-1]["train_loss"], abs=1e-6)


def test_resume_with_another_config_is_refused(tmp_path, volumes, monkeypatch):
    monkeypatch.setattr(TrainConfig, "mask_function", lambda self: line_mask)
    train(config(epochs=1), volumes[:2], volumes[2:], tmp_path, resume=False)
    with pytest.raises(ValueError, match="different training config"):
        train(config(epochs=1, lr=0.5), volumes[:2], volumes[2:], tmp_path, resume=True)


def test_superresolution_trains_on_centre_box_masks(tmp_path):
    cfg = config(
        architecture="SuperResolution", model=dict(chans=4, num_pools=2, factor=2), epochs=1, calibration=8
    )
    assert cfg.coil_map_calibration() == 8  # the volumes carry ESPIRiT maps from the centre
    volumes = [
        training_volume(synthetic_kspace((16, 20, 6), 3, seed=s)[0], name=f"s{s}", coil_map_calibration=8)
        for s in range(2)
    ]
    result = train(cfg, volumes[:1], volumes[1:2], tmp_path, resume=False)
    assert result.best_epoch == 1 and "ssim_R4" in result.best_metrics
    assert type(result.model).__name__ == "SuperResolution"


def test_espirit_varnet_trains_on_volumes_with_their_coil_maps(tmp_path):
    """coil_maps: espirit -> the training volumes carry ESPIRiT maps and every batch feeds them."""
    from reconstudy.recon.api import estimate_coil_maps
    from reconstudy.recon.dl.inference import prewhiten
    from reconstudy.training.data import calibration_only, coil_combined_image

    cfg = config(
        model=dict(num_cascades=2, chans=4, num_pools=2, coil_maps="espirit"),
        calibration=8,
        epochs=1,
        accelerations=[2, 4],
    )
    assert cfg.coil_map_calibration() == 8 and config().coil_map_calibration() is None
    kspace = synthetic_kspace((16, 20, 8), 3, seed=7)[0]
    volumes = [training_volume(kspace, name="a", coil_map_calibration=8)] * 2
    expected = np.moveaxis(estimate_coil_maps(calibration_only(kspace, 8)), -1, 0)
    np.testing.assert_allclose(volumes[0].maps, expected, rtol=1e-6, atol=1e-7)
    # With maps the target is the map-combined full image (SENSE of the full data), zero where
    # the maps are: not the root-sum-of-squares, whose background noise no network should learn.
    combined = coil_combined_image(prewhiten(kspace.data[0], kspace.noise_covariance), volumes[0].maps)
    np.testing.assert_allclose(
        volumes[0].target, np.transpose(combined, (2, 0, 1)) / volumes[0].scale, rtol=1e-5, atol=1e-6
    )
    outside = np.abs(volumes[0].maps).sum(axis=1) == 0
    assert outside.any() and np.all(volumes[0].target[outside] == 0)
    batch = PlaneSampler(volumes, line_mask, [4], batch_size=3, seed=0).batch(0, 0)
    assert batch.maps.shape == batch.kspace.shape
    result = train(cfg, volumes[:1], volumes[1:], tmp_path, resume=False)
    assert result.model.needs_coil_maps and np.isfinite(result.best_metrics["ssim"])

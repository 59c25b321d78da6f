"""Time-budgeted training (lent GPUs): clock-driven schedules, clean stops, mask banks, partial cohorts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from reconstudy.segment.synth import SynthConfig
from reconstudy.training.data import MaskBank, PlaneSampler, training_volume
from reconstudy.training.loop import TrainConfig, learning_rate, train
from reconstudy.training.synthetic import synthetic_kspace

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
ANATOMY = ROOT / "resources" / "anatomy" / "training_seg_01.nii.gz"
SMALL = dict(num_cascades=1, chans=4, num_pools=2, sens_chans=2, sens_pools=1)


@pytest.fixture(scope="module")
def volumes():
    return [training_volume(synthetic_kspace((16, 20, 8), 3, seed=s)[0], name=f"syn{s}") for s in range(2)]


def small_config(**overrides):
    base = dict(
        model=SMALL,
        epochs=3,
        steps_per_epoch=4,
        batch_size=2,
        accelerations=[4, 8],
        val_accelerations=[4],
        val_planes=2,
        seed=5,
        pattern="poisson",
        calibration=2,
    )
    base.update(overrides)
    return TrainConfig(**base)


def test_learning_rate_follows_the_clock_when_it_is_ahead():
    config = small_config(lr=1.0, lr_final_fraction=0.1, epochs=10, steps_per_epoch=10)
    assert learning_rate(config, 0) == pytest.approx(1.0)
    # Half the budget spent after one step: the schedule sits at its middle.
    assert learning_rate(config, 1, time_fraction=0.5) == pytest.approx(0.1 + 0.9 * 0.5)
    assert learning_rate(config, 5, time_fraction=1.0) == pytest.approx(0.1)
    # The step count wins when it is further along than the clock.
    assert learning_rate(config, 99, time_fraction=0.1) == pytest.approx(0.1)


def test_segmenter_learning_rate_follows_the_clock():
    from reconstudy.segment.train import TrainConfig as SegConfig
    from reconstudy.segment.train import learning_rate as seg_rate

    config = SegConfig(label_maps=["x"], steps=1000, learning_rate=1.0, warmup_steps=10)
    assert seg_rate(config, 100, time_fraction=1.0) == pytest.approx(0.05)
    assert seg_rate(config, 100, time_fraction=0.0) > 0.9
    assert seg_rate(config, 0, time_fraction=0.9) == pytest.approx(0.1)  # warm-up is by steps


def test_mask_bank_is_seeded_and_gives_study_masks():
    from reconstudy.sampling import create_mask

    bank = MaskBank("poisson", 2, [(16, 20)], [4, 8], 3, seed=11)
    again = MaskBank("poisson", 2, [(16, 20)], [4, 8], 3, seed=11, workers=2)
    for key, masks in bank.masks.items():
        assert len(masks) == 3
        for a, b in zip(masks, again.masks[key]):
            np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng([11, 7919, 800, 1])
    expected = create_mask("poisson", (16, 20), 8, calib=2, seed=int(rng.integers(2**31)))
    np.testing.assert_array_equal(bank.masks[((16, 20), 8.0)][1], expected)
    drawn = bank((16, 20), 8, np.random.default_rng(0))
    assert any(np.array_equal(drawn, m) for m in bank.masks[((16, 20), 8.0)])
    with pytest.raises(ValueError, match="no masks for plane shape"):
        bank((16, 21), 8, np.random.default_rng(0))


def test_sampler_with_mask_bank_is_reproducible(volumes):
    bank = MaskBank("poisson", 2, [(16, 20)], [4, 8], 4, seed=2)
    a = PlaneSampler(volumes, bank, [4, 8], 3, seed=2).batch(1, 2)
    b = PlaneSampler(volumes, bank, [4, 8], 3, seed=2).batch(1, 2)
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.kspace, b.kspace)


def test_budget_stops_training_cleanly_and_keeps_a_checkpoint(tmp_path, volumes, monkeypatch):
    # A fake clock that advances 1 s per reading: a 0.2 min (12 s) budget ends within the first epoch.
    ticks = iter(range(0, 10_000))
    monkeypatch.setattr("reconstudy.training.loop.time.perf_counter", lambda: float(next(ticks)))
    result = train(small_config(mask_bank=2), volumes, volumes, tmp_path, max_minutes=0.2)
    assert result.stopped_on_time
    assert len(result.history) == 1 and result.history[0]["steps"] < 4
    assert result.best_epoch == 1 and result.train_seconds >= 12
    payload = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert payload["epoch"] == 1 and payload["train_seconds"] >= 12


def test_without_budget_training_runs_every_epoch(tmp_path, volumes):
    result = train(small_config(epochs=2, steps_per_epoch=2), volumes, volumes, tmp_path)
    assert not result.stopped_on_time and len(result.history) == 2
    assert all("steps" not in h for h in result.history)


@pytest.mark.skipif(not ANATOMY.exists(), reason="resources/anatomy label maps absent")
def test_segmenter_workers_give_the_same_batches_and_a_budget_stops(tmp_path):
    from reconstudy.segment.train import TrainConfig as SegConfig
    from reconstudy.segment.train import train as seg_train

    def config(steps):
        return SegConfig(
            label_maps=[str(ANATOMY)],
            steps=steps,
            base_channels=2,
            levels=2,
            threads=1,
            warmup_steps=1,
            checkpoint_every=10,
            synth=SynthConfig(patch=(16, 16, 16)),
        )

    plain, _ = seg_train(config(3), tmp_path / "a.pt", resume=False)
    loaded, _ = seg_train(config(3), tmp_path / "b.pt", resume=False, workers=2)
    for key, value in plain.state_dict().items():
        assert torch.allclose(value, loaded.state_dict()[key], atol=1e-6), key
    _, history = seg_train(config(50), tmp_path / "c.pt", resume=False, max_minutes=1e-6)
    assert history["stopped_on_time"] and history["completed_steps"] == 1
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert state["step"] == 1 and json.loads(state["history"])["wall_s"] > 0


def test_cohort_roles_simulate_only_what_is_asked(tmp_path):
    from reconstudy.training.cohort import build_cohort

    data = dict(
        source="phantom",
        acquisition="T1w",
        train_anatomies=[1, 2],
        test_anatomy=3,
        train_subjects_per_anatomy=2,
        val_subjects_per_anatomy=1,
        test_subjects=1,
        groups=["control"],
        seed=4,
        phantom={},
        cache_dir=str(tmp_path),
    )
    cohort = build_cohort(data, roles=("test",))
    assert not cohort.train and not cohort.val and len(cohort.test) == 1
    assert cohort.description["subjects"]["train"] == ["dl-a1-0000", "dl-a1-0001", "dl-a2-0000", "dl-a2-0001"]
    assert cohort.test[0].name == "dl-a3-1000" and cohort.test[0].group == 3

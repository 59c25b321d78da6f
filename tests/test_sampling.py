"""Undersampling patterns: achieved R, calibration, determinism, subsets, errors."""

import numpy as np
import pytest

from reconstudy.sampling import (
    PATTERNS,
    EquispacedPattern,
    calibration_box,
    centre_box_mask,
    create_mask,
    create_pattern,
    low_resolution_mask,
    mask_seed,
    study_masks,
    subset_mask,
)

SHAPES = [(64, 96), (96, 80), (128, 128)]
ACCELS = [2, 3, 4, 6, 8, 12]


@pytest.mark.parametrize("pattern", ["poisson", "phyllotaxis"])
@pytest.mark.parametrize("shape", SHAPES)
def test_achieved_acceleration_within_two_percent(pattern, shape):
    for accel in ACCELS:
        p = create_pattern(pattern, shape, accel, calib=12, seed=mask_seed(0, 1, accel))
        assert p.mask.dtype == bool and p.mask.shape == shape
        assert abs(p.achieved_acceleration - accel) <= 0.02 * accel
        assert p.mask[calibration_box(shape, 12)].all()


@pytest.mark.parametrize("shape", [(1, 96), (16, 320), (8, 256)])
def test_equispaced_lines_constant_along_kz(shape):
    for accel in (2, 4, 8):
        p = EquispacedPattern(shape, accel, calib=8, seed=[3, accel])
        assert abs(p.achieved_acceleration - accel) <= 0.02 * accel
        assert (p.mask == p.mask[:1]).all()
        centre = shape[1] // 2
        assert p.mask[:, centre - 4 : centre + 4].all()


def test_variable_density_samples_centre_more_than_edge():
    mask = create_mask("poisson", (128, 128), 6, calib=16, seed=0)
    kz, ky = np.meshgrid(np.arange(128) - 64, np.arange(128) - 64, indexing="ij")
    r = np.hypot(kz, ky)
    inner = mask[(r > 12) & (r < 30)].mean()
    outer = mask[(r > 50) & (r < 64)].mean()
    assert inner > 1.5 * outer


def test_poisson_disc_keeps_samples_apart():
    mask = create_mask("poisson", (96, 96), 8, calib=0, seed=1)
    z, y = np.nonzero(mask)
    d = np.hypot(z[:, None] - z[None], y[:, None] - y[None]) + np.eye(z.size) * 99
    # Nearly every sample has no neighbour at distance < 1.5 grid units at R = 8.
    assert (d.min(axis=1) >= 1.4).mean() > 0.9


@pytest.mark.parametrize("pattern", PATTERNS)
def test_same_seed_same_mask_other_seed_other_mask(pattern):
    shape = (32, 128)
    a = create_mask(pattern, shape, 4, calib=8, seed=[0, 1, 400])
    b = create_mask(pattern, shape, 4, calib=8, seed=[0, 1, 400])
    c = create_mask(pattern, shape, 4, calib=8, seed=[0, 2, 400])
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_seed_sequence_and_generator_are_accepted():
    ss = np.random.SeedSequence([7, 1, 400])
    a = create_mask("poisson", (48, 48), 4, calib=8, seed=ss)
    b = create_mask("poisson", (48, 48), 4, calib=8, seed=np.random.SeedSequence([7, 1, 400]))
    assert np.array_equal(a, b)
    assert mask_seed(7, 1, 4) == [7, 1, 400]


def test_full_sampling_at_r_one():
    assert create_mask("poisson", (20, 30), 1, calib=4).all()


@pytest.mark.parametrize("acquired_pattern", PATTERNS)
def test_subset_mask_is_subset_with_requested_r(acquired_pattern):
    shape = (64, 128) if acquired_pattern != "equispaced" else (16, 256)
    acquired = create_mask(acquired_pattern, shape, 4, calib=12, seed=[0, 1, 400])
    previous = acquired
    for accel in (6, 8, 12):
        sub = subset_mask(acquired, accel, calib=12, seed=[0, 1, int(accel * 100)])
        assert sub.dtype == bool and sub.shape == shape
        assert not (sub & ~acquired).any()
        assert abs(sub.size / sub.sum() - accel) <= 0.02 * accel
        assert sub[calibration_box(shape, 12) & acquired].all()
        assert sub.sum() < previous.sum()
        previous = sub


def test_subset_mask_deterministic():
    acquired = create_mask("poisson", (64, 64), 4, calib=10, seed=0)
    assert np.array_equal(
        subset_mask(acquired, 8, calib=10, seed=5), subset_mask(acquired, 8, calib=10, seed=5)
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"accel": 0.5}, "R must be a number >= 1"),
        ({"accel": float("nan")}, "R must be a number >= 1"),
        ({"accel": 5000}, "larger than possible"),
        ({"accel": 12, "calib": 40}, "calibration region alone"),
        ({"shape": (64,)}, "two positive sizes"),
        ({"shape": (0, 64)}, "two positive sizes"),
        ({"shape": (4, 4), "accel": 5}, "within 2 %"),
    ],
)
def test_errors(kwargs, message):
    args = {"pattern": "poisson", "shape": (64, 64), "accel": 4, "calib": 8} | kwargs
    with pytest.raises(ValueError, match=message):
        create_mask(**args)


def test_unknown_pattern_lists_valid_ones():
    with pytest.raises(ValueError, match="poisson, phyllotaxis, equispaced"):
        create_mask("radial", (32, 32), 4)


def test_subset_cannot_be_less_undersampled_than_acquired():
    acquired = create_mask("poisson", (64, 64), 8, calib=8, seed=0)
    with pytest.raises(ValueError, match="more undersampled"):
        subset_mask(acquired, 4, calib=8)
    with pytest.raises(ValueError, match="boolean"):
        subset_mask(acquired.astype(int), 12)


def test_study_masks_chain_from_the_base_acquisition():
    full = np.ones((40, 48), bool)
    masks = study_masks(
        full, ["4", "6", "8", "12"], "phyllotaxis", calib=8, seed_for=lambda R: int(R), retrospective_from="4"
    )
    assert list(masks) == ["4", "6", "8", "12"]
    for R in ("6", "8", "12"):
        assert not (masks[R] & ~masks["4"]).any(), f"R={R} takes samples the R=4 acquisition lacks"
        assert full.size / masks[R].sum() == pytest.approx(float(R), rel=0.02)
    # without a base, each R is drawn independently from the full grid
    free = study_masks(full, ["4", "8"], "phyllotaxis", calib=8, seed_for=lambda R: int(R))
    np.testing.assert_array_equal(free["4"], masks["4"])
    assert (free["8"] & ~free["4"]).any()


def test_study_masks_of_undersampled_data_are_subsets_and_base_must_be_listed():
    acquired = create_mask("poisson", (40, 48), 4, calib=8, seed=3)
    masks = study_masks(acquired, [8.0, 12.0], "poisson", calib=8)
    assert all(not (m & ~acquired).any() for m in masks.values())
    with pytest.raises(ValueError, match="retrospective_from=6 is not one of"):
        study_masks(acquired, [8.0, 12.0], "poisson", calib=8, retrospective_from=6)


def test_low_resolution_mask_is_the_centre_box_at_r4_and_a_subset_above():
    box = centre_box_mask((72, 88), 2)
    assert box.sum() == 36 * 44 and box[36, 44] and not box[:18].any() and not box[:, 66:].any()
    assert np.array_equal(low_resolution_mask((72, 88), 4, calib=12, seed=3), box)
    for R in (6, 8, 12):
        mask = low_resolution_mask((72, 88), R, calib=12, seed=3)
        assert not (mask & ~box).any()  # nothing outside the low-resolution centre
        assert mask.size / mask.sum() == pytest.approx(R, rel=0.02)
        assert mask[calibration_box(mask.shape, 12)].all()  # the calibration square is kept
    assert not np.array_equal(
        low_resolution_mask((72, 88), 8, calib=12, seed=3), low_resolution_mask((72, 88), 8, calib=12, seed=4)
    )


def test_low_resolution_mask_below_the_box_acceleration_is_refused():
    with pytest.raises(ValueError, match="already R = 4.*R >= 4"):
        low_resolution_mask((72, 88), 2)


def test_low_resolution_mask_needs_the_data_centre_complete():
    acquired = np.ones((24, 32), bool)
    assert low_resolution_mask((24, 32), 4, acquired=acquired).sum() == 12 * 16
    acquired[12, 16] = False  # one centre sample missing in measured, undersampled data
    with pytest.raises(ValueError, match=r"1 of 192 samples missing.*drop dl_sr from recon.methods"):
        low_resolution_mask((24, 32), 8, calib=8, acquired=acquired)
    acquired[12, 16], acquired[0, 0] = True, False  # outside the centre: irrelevant
    assert low_resolution_mask((24, 32), 4, acquired=acquired).sum() == 12 * 16

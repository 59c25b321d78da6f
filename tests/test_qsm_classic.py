"""Classic QSM pipeline (Laplacian unwrapping, V-SHARP, PCG inversion), masks, ROI tables, metrics."""

import numpy as np
import pytest
import torch

from reconstudy.dipole import dipole_field, ppm_to_radians
from reconstudy.qsm import classic, mask, metrics, operators, roi
from reconstudy.qsm.synthetic import make_phantom


@pytest.fixture(scope="module")
def phantom():
    return make_phantom((36, 40, 40), noise=0.01, seed=1)


def test_poisson_solve_inverts_the_laplacian():
    rng = np.random.default_rng(0)
    u = np.zeros((20, 22, 24))
    u[4:-4, 4:-4, 4:-4] = rng.standard_normal((12, 14, 16))
    h = (1.2, 1.0, 0.7)
    lap = operators.laplacian(torch.as_tensor(u), h).numpy()
    back = classic.poisson_solve(lap, h, pad=0)
    np.testing.assert_allclose(back - back.mean(), u - u.mean(), atol=1e-4)


def test_laplacian_unwrapping_recovers_the_field():
    ph = make_phantom((32, 36, 36), noise=0.0, background=False)
    m = mask.erode(ph.brain, 1)
    phase = ph.phase[2]
    lap = operators.wrapped_laplacian(torch.as_tensor(phase), (1.0, 1.0, 1.0)).numpy()
    unwrapped = classic.poisson_solve(np.where(m, lap, 0.0), (1.0, 1.0, 1.0))
    truth = ppm_to_radians(dipole_field(ph.chi, ph.voxel_size_xyz), 12.0, 3.0)
    a, b = unwrapped[m] - unwrapped[m].mean(), truth[m] - truth[m].mean()
    assert np.corrcoef(a, b)[0, 1] > 0.9


def test_vsharp_removes_an_outside_source(phantom):
    total = dipole_field(phantom.chi + 0 * phantom.chi, phantom.voxel_size_xyz)
    source = np.zeros_like(phantom.chi)
    source[:6, -8:, 15:25] = 9.0
    background = dipole_field(source, phantom.voxel_size_xyz)
    m = mask.erode(phantom.brain, 1)
    local, reduced = classic.vsharp(total + background, m, (1.0, 1.0, 1.0), radii_mm=(6, 4, 2))
    assert reduced.sum() > 0.5 * m.sum()
    err_before = np.std((total + background - total)[reduced])
    err_after = np.std((local - total)[reduced])
    assert err_after < 0.25 * err_before


def test_classic_recovers_phantom(phantom):
    chi, final = classic.classic_qsm(
        phantom.phase,
        phantom.brain,
        phantom.te_ms,
        3.0,
        phantom.voxel_size_xyz,
        magnitude=phantom.magnitude,
        radii_mm=(8, 6, 4, 2),
        return_mask=True,
    )
    assert np.isfinite(chi).all() and np.all(chi[~final] == 0)
    assert metrics.nrmse(chi, phantom.chi, final) < 0.75
    means = [chi[(phantom.labels == label) & final].mean() for label in range(2, 6)]
    assert means[0] > means[1] > means[2] > 0 > means[3]  # the order of +0.15, +0.10, +0.05, -0.05


def test_brain_mask_from_magnitude(phantom):
    head = phantom.magnitude[0] > 0.5 * phantom.magnitude[0].max()
    got = mask.brain_mask(phantom.magnitude)
    assert (got == head).mean() > 0.99
    eroded = mask.brain_mask(phantom.magnitude, erosions=2)
    assert eroded.sum() < got.sum() and not (eroded & ~got).any()
    with pytest.raises(ValueError, match="constant"):
        mask.brain_mask(np.ones((8, 8, 8)))


def test_otsu_threshold_splits_two_populations():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(1, 0.1, 5000), rng.normal(5, 0.3, 3000)])
    assert 2.0 < mask.otsu_threshold(values) < 4.0


def test_roi_table_matches_numpy():
    rng = np.random.default_rng(2)
    chi = rng.normal(0, 0.05, (6, 7, 8))
    labels = np.zeros((6, 7, 8), int)
    labels[:3] = 10
    labels[3:, :3] = 11
    table = roi.roi_table(chi, labels, names={10: "Left-Putamen"})
    assert list(table.columns) == roi.COLUMNS and list(table["label"]) == [10, 11]
    row = table.iloc[0]
    values = chi[labels == 10]
    assert row["name"] == "Left-Putamen" and row["voxels"] == values.size
    assert row["mean_ppm"] == pytest.approx(values.mean())
    assert row["median_ppm"] == pytest.approx(np.median(values))
    assert row["sd_ppm"] == pytest.approx(values.std(ddof=1))
    with pytest.raises(ValueError, match="shape"):
        roi.roi_table(chi, labels[:-1])


def test_metrics_known_answers():
    rng = np.random.default_rng(3)
    truth = rng.normal(0, 0.1, (16, 16, 16))
    m = np.ones(truth.shape, bool)
    assert metrics.nrmse(truth, truth, m) == 0 and metrics.hfen(truth, truth, m) == 0
    assert metrics.ssim(truth, truth, m) == pytest.approx(1.0)
    assert metrics.nrmse(1.5 * truth, truth, m, demean=False) == pytest.approx(0.5)
    assert metrics.rmse(truth + 0.2, truth, m, demean=False) == pytest.approx(0.2)
    assert metrics.rmse(truth + 0.2, truth, m) == pytest.approx(0.0, abs=1e-12)  # offsets are not errors
    scores = metrics.qsm_metrics(truth + rng.normal(0, 0.05, truth.shape), truth, m)
    assert set(scores) == {"rmse_ppm", "nrmse", "hfen", "ssim"} and 0 < scores["ssim"] < 1

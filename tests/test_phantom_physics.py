"""Physics of the phantom against independent computations: dipole field, signal equations, noise."""

from __future__ import annotations

import numpy as np
import pytest

from reconstudy.phantom import coils, fields, signals
from reconstudy.phantom.config import T1wConfig


def _sphere(shape, voxel, radius):
    axes = [(np.arange(n) - n // 2) * v for n, v in zip(shape, voxel)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    return z, y, x, (x**2 + y**2 + z**2) <= radius**2


@pytest.mark.parametrize(("b0", "voxel_xyz"), [((0, 0, 1), (1.0, 1.0, 1.0)), ((1, 0, 0), (1.0, 1.25, 1.0))])
def test_local_field_of_sphere_matches_analytic(b0, voxel_xyz):
    """Uniformly magnetised sphere: 0 inside (Lorentz-corrected), (chi/3)(a/r)^3(3cos^2 - 1) outside."""
    shape = (64, 64, 64)
    z, y, x, inside = _sphere(shape, voxel_xyz[::-1], 7.0)
    chi = 1.0
    field = fields.local_field(np.where(inside, chi, 0.0).astype(np.float32), voxel_xyz, b0)
    radius = (3 * inside.sum() * np.prod(voxel_xyz) / (4 * np.pi)) ** (1 / 3)  # volume-equivalent radius
    r = np.sqrt(x**2 + y**2 + z**2)
    cos = (x * b0[0] + y * b0[1] + z * b0[2]) / np.maximum(r, 1e-9)
    analytic = chi / 3 * (radius / np.maximum(r, 1e-9)) ** 3 * (3 * cos**2 - 1)
    outside = (r > 1.6 * radius) & (r < 3.5 * radius)
    peak = 2 * chi / 3
    assert np.abs(field[outside] - analytic[outside]).max() < 0.02 * peak
    core = r < 0.5 * radius
    assert np.abs(field[core]).max() < 0.03 * peak


def test_background_of_water_sphere_in_air_is_uniform_inside():
    """A water sphere (the brain) in air: its interior field is uniform, so a 0th-order shim removes it."""
    shape = (48, 48, 48)
    z, y, x, head = _sphere(shape, (2.0, 2.0, 2.0), 30.0)
    labels = np.where(head, 24, 0).astype(np.int16)  # CSF-filled "head"
    chi_lut = np.zeros(25)
    chi_lut[0] = 9.4
    intracranial = np.zeros(25, bool)
    intracranial[24] = True
    field = fields.background_field(labels, chi_lut, intracranial, (2.0, 2.0, 2.0), (0, 0, 1))
    brain = (x**2 + y**2 + z**2) < 15.0**2
    assert np.ptp(field[brain]) < 0.05 * 9.4  # nearly uniform inside
    outside_pole = field[shape[0] // 2 + 18, shape[1] // 2, shape[2] // 2]  # on the B0 axis, outside
    assert outside_pole < -1.0  # tissue is diamagnetic relative to air: negative dipole field on axis
    shimmed = fields.shim(field, brain, 0)
    assert np.abs(shimmed[brain]).max() < 0.03 * 9.4


def test_background_field_is_harmonic_inside_the_brain_on_a_coarse_grid():
    """Band-limiting the 9.4 ppm air/tissue step keeps Gibbs ringing (non-harmonic, read as χ by
    Laplacian-based QSM) out of the brain: four voxels in, the field's Laplacian nearly vanishes."""
    from scipy import ndimage

    shape, voxel = (48, 48, 48), (3.0, 3.0, 3.0)
    z, y, x, head = _sphere(shape, voxel, 50.0)
    labels = np.where(head, 24, 0).astype(np.int16)
    chi_lut = np.zeros(25)
    chi_lut[0] = 9.4
    intracranial = np.zeros(25, bool)
    intracranial[24] = True
    deep = (x**2 + y**2 + z**2) < (50.0 - 4 * 3.0) ** 2
    rms = {}
    for sigma in (0.0, 1.0):
        field = fields.background_field(
            labels, chi_lut, intracranial, voxel, (0, 0, 1), smoothing_voxels=sigma
        )
        rms[sigma] = np.sqrt((ndimage.laplace(field)[deep] ** 2).mean())
    assert rms[1.0] < 0.05 * rms[0.0]
    assert rms[1.0] < 2e-3  # ppm per voxel²: an order below a tissue field's Laplacian


def test_shim_removes_shim_harmonics():
    shape = (20, 24, 28)
    basis = fields.harmonic_basis(shape, 2)
    assert basis.shape[0] == 9  # 1 + 3 + 5 solid harmonics up to second order
    field = (basis.T @ np.arange(1.0, 10.0)).T.astype(np.float32)
    mask = np.zeros(shape, bool)
    mask[5:15, 6:18, 7:21] = True
    np.testing.assert_allclose(fields.shim(field, mask, 2)[mask], 0.0, atol=1e-3)


def test_shim_basis_is_harmonic():
    """Every shim term satisfies Laplace's equation, so the shimmed background stays harmonic."""
    from scipy import ndimage

    basis = fields.harmonic_basis((24, 24, 24), 3)
    interior = (slice(2, -2),) * 3
    for term in basis:
        assert np.abs(ndimage.laplace(term)[interior]).max() < 1e-9 * max(np.abs(term).max(), 1)


def _bloch_mprage(t1, cfg, repetitions=20):
    """Brute-force: step the longitudinal magnetisation pulse by pulse through many repetitions."""
    m, tau = 1.0, cfg.echo_spacing_ms
    trains = [(cfg.ti_ms, cfg.flip_deg)] + (
        [(cfg.ti2_ms, cfg.flip2_deg)] if cfg.sequence == "mp2rage" else []
    )
    n, half = cfg.n_readouts, cfg.n_readouts // 2

    def relax(m, t):
        return 1 - (1 - m) * np.exp(-t / t1)

    for _ in range(repetitions):
        m, t, centres = -cfg.inversion_efficiency * m, 0.0, []
        for ti, flip in trains:
            start = ti - half * tau
            m, t = relax(m, start - t), start
            for k in range(n):
                if k == half:
                    centres.append(m)
                m = relax(m * np.cos(np.deg2rad(flip)), tau)
                t += tau
        m = relax(m, cfg.tr_ms - t)
    return centres


@pytest.mark.parametrize(
    "cfg",
    [
        T1wConfig(),
        T1wConfig(
            sequence="mp2rage", tr_ms=5000, ti_ms=700, ti2_ms=2500, flip_deg=4, flip2_deg=5, n_readouts=160
        ),
    ],
)
def test_mprage_steady_state_matches_bloch_stepping(cfg):
    t1 = np.array([800.0, 1400.0, 4000.0])
    closed = signals.mprage_longitudinal(t1, cfg)
    for i, value in enumerate(t1):
        stepped = _bloch_mprage(value, cfg)
        np.testing.assert_allclose([c[i] for c in closed], stepped, rtol=1e-6, atol=1e-9)


def test_t1w_contrast_order():
    """MPRAGE: WM brighter than GM brighter than CSF; MP2RAGE UNI decreases with T1 and ignores PD."""
    cfg = T1wConfig()
    s = signals.t1w_signal(
        np.array([0.69, 0.8, 1.0]), np.array([838.0, 1607.0, 4163.0]), np.full(3, 50.0), cfg
    )
    assert abs(s[0]) > abs(s[1]) > abs(s[2])
    mp2 = T1wConfig(
        sequence="mp2rage", tr_ms=5000, ti_ms=700, ti2_ms=2500, flip_deg=4, flip2_deg=5, n_readouts=160
    )
    t1 = np.linspace(700, 4000, 12)
    uni = signals.t1w_signal(np.full(12, 0.8), t1, np.full(12, 50.0), mp2)
    assert np.all(np.diff(uni) < 0)
    np.testing.assert_allclose(signals.t1w_signal(np.full(12, 0.9), t1, np.full(12, 50.0), mp2), uni)


def test_flash_signal_ernst_angle():
    """The spoiled GRE signal peaks at the Ernst angle arccos(exp(-TR/T1))."""
    t1, tr = 1000.0, 25.0
    flips = np.linspace(1, 40, 391)
    s = signals.flash_signal(1.0, t1, 50.0, 5.0, tr, flips)
    assert flips[np.argmax(s)] == pytest.approx(np.rad2deg(np.arccos(np.exp(-tr / t1))), abs=0.1)


def test_add_noise_has_the_requested_covariance():
    rng = np.random.default_rng([1, 2])
    cov = coils.noise_covariance(8, 0.3, rng)
    assert np.allclose(cov, cov.conj().T) and np.linalg.eigvalsh(cov).min() > 0
    assert np.real(np.trace(cov)) / 8 == pytest.approx(1.0)
    noise = coils.add_noise(np.zeros((2, 8, 40, 40, 40), np.complex64), cov, rng)
    samples = noise.transpose(1, 0, 2, 3, 4).reshape(8, -1)
    sample_cov = samples @ samples.conj().T / samples.shape[1]
    np.testing.assert_allclose(sample_cov, cov, atol=0.02)
    assert abs(np.mean(samples.real**2) - np.mean(samples.imag**2)) < 0.01  # circular noise


def test_smooth_phase_amplitude():
    phase = signals.smooth_phase((30, 32, 34), 0.5, np.random.default_rng(3))
    varying = phase - np.median(phase)
    assert np.ptp(varying) <= 1.0 + 1e-5
    assert np.abs(np.diff(phase, axis=2)).max() < 0.1  # smooth

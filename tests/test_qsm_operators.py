"""QSM operators: adjointness, the dipole kernel against independent computations, and the
Laplacian of a wrapped phase."""

import numpy as np
import pytest
import torch

from reconstudy.dipole import dipole_field, dipole_kernel
from reconstudy.qsm import operators as ops

H = (1.7, 0.9, 1.2)  # anisotropic spacings (dz, dy, dx)


@pytest.fixture
def rng():
    return np.random.default_rng(4)


def _t(rng, shape=(9, 11, 8)):
    return torch.as_tensor(rng.standard_normal(shape))


def test_gradient_divergence_adjoint(rng):
    u = _t(rng)
    p = [_t(rng) for _ in range(3)]
    lhs = sum((g * v).sum() for g, v in zip(ops.gradient(u, H), p))
    rhs = -(u * ops.divergence(p, H)).sum()
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-10)


def test_sym_gradient_adjoint(rng):
    w = [_t(rng) for _ in range(3)]
    q = [_t(rng) for _ in range(6)]
    lhs = ops.sym_inner(ops.sym_gradient(w, H), q)
    rhs = -sum((a * b).sum() for a, b in zip(w, ops.sym_divergence(q, H)))
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-10)


def test_sym_gradient_of_linear_field_is_its_symmetric_part():
    z, y, x = torch.meshgrid(*(torch.arange(n, dtype=torch.float64) for n in (6, 7, 8)), indexing="ij")
    coords = (z * H[0], y * H[1], x * H[2])
    a = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], dtype=torch.float64)
    w = [sum(a[b, c] * coords[c] for c in range(3)) for b in range(3)]  # w_b = Σ_c A_bc r_c
    e = ops.sym_gradient(w, H)
    inner = (slice(0, -1),) * 3
    expected = {0: a[0, 0], 1: a[1, 1], 2: a[2, 2], 3: (a[0, 1] + a[1, 0]) / 2, 4: (a[0, 2] + a[2, 0]) / 2}
    for i, value in expected.items():
        torch.testing.assert_close(e[i][inner], torch.full_like(e[i][inner], float(value)))


@pytest.mark.parametrize("b", [None, (1.0, 0.0, 0.0), (0.8, 0.36, -0.48)])
def test_stencil_operators_are_self_adjoint(rng, b):
    u, v = _t(rng), _t(rng)
    op = (lambda x: ops.laplacian(x, H)) if b is None else (lambda x: ops.wave(x, H, b))
    assert float((op(u) * v).sum()) == pytest.approx(float((u * op(v)).sum()), rel=1e-10)


def test_dipole_kernel_matches_direct_formula_at_chosen_frequencies():
    shape = (16, 20, 24)  # (z, y, x)
    voxel_xyz = (0.5, 0.8, 2.0)
    b_xyz = np.array([0.3, -0.2, 0.9])
    b_xyz = b_xyz / np.linalg.norm(b_xyz)
    kernel = dipole_kernel(shape, voxel_xyz, b_xyz)
    for iz, iy, ix in [(1, 0, 0), (0, 3, 0), (0, 0, 5), (2, 17, 3), (15, 1, 20)]:
        # physical frequency of FFT index i on n samples at spacing d: (i if i < n/2 else i - n) / (n d)
        k = np.array(
            [(i if i < n / 2 else i - n) / (n * d) for i, n, d in zip((ix, iy, iz), shape[::-1], voxel_xyz)]
        )
        expected = 1 / 3 - (k @ b_xyz) ** 2 / (k @ k)
        assert kernel[iz, iy, ix] == pytest.approx(expected, rel=1e-5)
    assert kernel[0, 0, 0] == 0.0


def test_dipole_field_of_a_sphere_matches_the_analytic_field():
    n, a = 64, 7.0
    grid = np.mgrid[:n, :n, :n] - n / 2  # z, y, x in voxels (1 mm)
    r = np.sqrt((grid**2).sum(axis=0))
    chi = (r <= a).astype(np.float32) * 0.1
    field = dipole_field(chi, (1.0, 1.0, 1.0), (0.0, 0.0, 1.0))
    # outside: δ = χ/3 (a/r)^3 (3 cos²θ - 1), θ from B0 (here the z axis, array axis 0)
    a_eff = (chi.sum() / 0.1 * 3 / (4 * np.pi)) ** (1 / 3)  # the voxelised sphere's volume radius
    cos2 = np.where(r > 0, grid[0] ** 2 / np.maximum(r, 1e-9) ** 2, 0)
    analytic = 0.1 / 3 * (a_eff / np.maximum(r, 1e-9)) ** 3 * (3 * cos2 - 1)
    shell = (r >= 2.0 * a) & (r <= 3.0 * a)
    err = np.abs(field[shell] - analytic[shell]).max()
    assert err < 0.05 * np.abs(analytic[shell]).max()
    assert abs(field[r <= a - 2]).max() < 0.1 * 0.1 / 3  # ~zero inside (Lorentz-corrected kernel)


def test_wave_operator_is_the_laplacian_of_the_dipole_field():
    n = 48
    g = np.mgrid[:n, :n, :n].astype(np.float64) - n / 2
    chi = np.exp(-((g**2).sum(axis=0)) / (2 * 4.0**2)).astype(np.float32)
    voxel_xyz = (1.0, 1.0, 1.0)
    b_xyz = np.array([0.2, 0.3, 0.93])
    b_xyz /= np.linalg.norm(b_xyz)
    field = dipole_field(chi, voxel_xyz, b_xyz)
    lhs = ops.laplacian(torch.as_tensor(field, dtype=torch.float64), (1.0, 1.0, 1.0)).numpy()
    rhs = ops.wave(torch.as_tensor(chi, dtype=torch.float64), (1.0, 1.0, 1.0), b_xyz[::-1]).numpy()
    inner = (slice(8, -8),) * 3
    assert np.abs(lhs[inner] - rhs[inner]).max() < 0.02 * np.abs(rhs[inner]).max()


@pytest.mark.parametrize("method, rtol", [("sincos", 0.1), ("wrapped", 1e-9)])  # sincos: ~ 1 - cos(∇φ h)
def test_wrapped_laplacian_equals_laplacian_of_unwrapped_phase(method, rtol):
    shape = (24, 28, 32)
    z, y, x = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    h = (1.5, 1.0, 0.8)
    phase = 0.004 * ((x * h[2]) ** 2 - 0.5 * (y * h[1]) ** 2) + 1.2 * np.sin(z * h[0] / 6.0) + 0.25 * x
    assert np.ptp(phase) > 4 * np.pi  # several wraps
    wrapped = np.angle(np.exp(1j * phase))
    ours = ops.wrapped_laplacian(torch.as_tensor(wrapped), h, method=method).numpy()
    truth = ops.laplacian(torch.as_tensor(phase), h).numpy()
    inner = (slice(1, -1),) * 3
    scale = np.abs(truth[inner]).max()
    assert np.abs(ours[inner] - truth[inner]).max() < rtol * scale
    # without unwrapping, the plain Laplacian of the wrapped phase is far off
    assert np.abs(ops.laplacian(torch.as_tensor(wrapped), h).numpy()[inner] - truth[inner]).max() > scale


def test_operator_norm_bound_holds(rng):
    h = (1.0, 0.47, 0.47)
    b = (0.9, 0.3, 0.1)
    bounds = ops.operator_norm_bound(h, b)
    x = torch.as_tensor(rng.standard_normal((12, 14, 16)))
    for _ in range(30):  # power iteration on Wᵀ W
        x = ops.wave(ops.wave(x, h, b), h, b)
        x = x / x.norm()
    assert float(ops.wave(x, h, b).norm()) <= bounds["wave"] * (1 + 1e-9)

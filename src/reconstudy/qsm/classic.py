"""The conventional multi-step QSM pipeline, for comparison with one-step TGV.

1. **Laplacian unwrapping** (Schofield & Zhu 2003): the Laplacian of each wrapped echo
   (sin/cos identity), combined over echoes by weighted least squares
   (:mod:`reconstudy.qsm.echoes`), inverted by the discrete Poisson solver in k-space on a
   zero-padded grid. Gives the unwrapped total field at the reference echo time.
2. **V-SHARP** background removal (Schweser et al. 2011; Wu et al. 2012): high-pass filtering
   with spherical mean value kernels ``δ - S_r`` from the largest radius to the smallest (each
   voxel keeps the largest sphere that fits inside the mask), then deconvolution with the
   largest kernel, truncated where ``|1 - S_r(k)| < threshold``.
3. **Dipole inversion** by preconditioned conjugate gradients on the regularised normal equations
   ``(Dᵀ M D + λ ∇ᵀ∇) χ = Dᵀ M f`` (an iterative least-squares inversion, LSQR's normal-equation
   twin; Kee et al. 2017 review), with the k-space dipole kernel of :mod:`reconstudy.dipole`
   and the closed-form k-space Tikhonov solution as preconditioner.

Everything runs in numpy/scipy FFTs (all cores via ``workers``).

References:
    Schofield MA, Zhu Y. Fast phase unwrapping algorithm for interferometric applications.
    Opt Lett 2003;28:1194-1196.
    Schweser F, Deistung A, Lehr BW, Reichenbach JR. Quantitative imaging of intrinsic magnetic
    tissue properties using MRI signal phase. NeuroImage 2011;54:2789-2807.
    Wu B, Li W, Guidon A, Liu C. Whole brain susceptibility mapping using compressed sensing.
    Magn Reson Med 2012;67:137-147.
    Kee Y, Liu Z, Zhou L, et al. Quantitative susceptibility mapping (QSM) algorithms:
    mathematical rationale and computational implementations. IEEE TBME 2017;64:2531-2545.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from reconstudy.dipole import dipole_kernel, ppm_to_radians
from reconstudy.progress import Progress
from reconstudy.qsm import echoes
from reconstudy.qsm.mask import erode


def _freq_grid(shape, h):
    return [
        sfft.fftfreq(n, d=1.0)[tuple(slice(None) if a == i else None for a in range(3))]
        for i, n in enumerate(shape)
    ]


def discrete_laplacian_kernel(shape, h) -> np.ndarray:
    """k-space eigenvalues of the 7-point Laplacian on a periodic grid (unshifted)."""
    k = _freq_grid(shape, h)
    return sum((2 * np.cos(2 * np.pi * k[a]) - 2) / h[a] ** 2 for a in range(3))


def poisson_solve(laplacian: np.ndarray, h, pad: int | None = None) -> np.ndarray:
    """Solve ``Δu = laplacian`` (zero mean) by FFT on a grid zero-padded by ``pad`` per side."""
    pad = max(laplacian.shape) // 4 if pad is None else pad
    f = np.pad(np.asarray(laplacian, dtype=np.float64), pad)
    lap = discrete_laplacian_kernel(f.shape, h)
    lap[0, 0, 0] = 1.0
    u_k = sfft.fftn(f, workers=-1) / lap
    u_k[0, 0, 0] = 0.0
    u = sfft.ifftn(u_k, workers=-1).real
    return u[tuple(slice(pad, pad + n) for n in laplacian.shape)].astype(np.float32)


def _sphere_kernel_k(shape, h, radius_mm: float) -> np.ndarray:
    """FFT (unshifted) of a normalised sphere of ``radius_mm`` centred at the origin."""
    coords = [np.minimum(np.arange(n), n - np.arange(n)) * h[a] for a, n in enumerate(shape)]
    zz, yy, xx = np.meshgrid(*coords, indexing="ij", sparse=True)
    ball = (zz**2 + yy**2 + xx**2) <= radius_mm**2
    ball = ball / ball.sum()
    return sfft.rfftn(ball, workers=-1).real


def vsharp(field, mask, voxel_size_zyx, radii_mm=(12.0, 10.0, 8.0, 6.0, 4.0, 2.0), threshold: float = 0.05):
    """V-SHARP background removal; returns (local field, reduced mask).

    Args:
        field: total field (any unit), ``(z, y, x)``.
        mask: brain mask.
        voxel_size_zyx: spacings (dz, dy, dx) in mm.
        radii_mm: sphere radii, used from large to small.
        threshold: truncation of the deconvolution ``1/(1 - S_rmax)``.
    """
    h = tuple(float(v) for v in voxel_size_zyx)
    mask = np.asarray(mask, dtype=bool)
    radii = sorted((float(r) for r in radii_mm), reverse=True)
    radii = [r for r in radii if r >= min(h)] or [min(h)]
    pad = int(np.ceil(radii[0] / min(h))) + 2
    f = np.pad(np.where(mask, field, 0.0).astype(np.float64), pad)
    m = np.pad(mask, pad).astype(np.float64)
    shape = f.shape
    f_k = sfft.rfftn(f, workers=-1)
    m_k = sfft.rfftn(m, workers=-1)
    local = np.zeros(shape)
    assigned = np.zeros(shape, dtype=bool)
    s_max = None
    for r in radii:
        s_k = _sphere_kernel_k(shape, h, r)
        if s_max is None:
            s_max = s_k
        inside = sfft.irfftn(s_k * m_k, s=shape, workers=-1) > 0.999  # the whole sphere is in the mask
        hp = sfft.irfftn((1.0 - s_k) * f_k, s=shape, workers=-1)
        new = inside & ~assigned
        local[new] = hp[new]
        assigned |= inside
    kernel = 1.0 - s_max
    inv = np.where(np.abs(kernel) > threshold, 1.0 / np.where(np.abs(kernel) > threshold, kernel, 1.0), 0.0)
    local = sfft.irfftn(inv * sfft.rfftn(np.where(assigned, local, 0.0), workers=-1), s=shape, workers=-1)
    crop = (slice(pad, -pad),) * 3
    reduced = assigned[crop]
    return np.where(reduced, local[crop], 0.0).astype(np.float32), reduced


def dipole_inversion_cg(
    local_field_ppm,
    mask,
    voxel_size_xyz,
    b0_direction_xyz=(0.0, 0.0, 1.0),
    weights=None,
    lam: float = 1e-3,
    iterations: int = 50,
    tol: float = 1e-3,
):
    """χ (ppm) minimising ``‖W (D χ - f)‖² + λ ‖∇χ‖²`` by conjugate gradients.

    ``W`` is the mask (times optional ``weights``); ``D`` the k-space dipole kernel on a grid
    zero-padded by half of each dimension; ``∇`` periodic forward differences.
    """
    mask = np.asarray(mask, dtype=bool)
    shape = mask.shape
    pads = [(n // 2, n // 2) for n in shape]
    w2 = np.pad(
        mask.astype(np.float64) * (1.0 if weights is None else np.asarray(weights, dtype=np.float64) ** 2),
        pads,
    )
    f = np.pad(np.where(mask, local_field_ppm, 0.0).astype(np.float64), pads)
    big = f.shape
    d = dipole_kernel(big, voxel_size_xyz, b0_direction_xyz, dtype=np.float64)[..., : big[2] // 2 + 1]
    h_zyx = tuple(float(v) for v in voxel_size_xyz)[::-1]
    g2 = -discrete_laplacian_kernel(big, h_zyx)[..., : big[2] // 2 + 1]

    def fwd(x):
        return sfft.irfftn(d * sfft.rfftn(x, workers=-1), s=big, workers=-1)

    def normal(x):
        x_k = sfft.rfftn(x, workers=-1)
        dx = sfft.irfftn(d * x_k, s=big, workers=-1)
        return sfft.irfftn(d * sfft.rfftn(w2 * dx, workers=-1) + lam * g2 * x_k, s=big, workers=-1)

    # Preconditioner: the exact inverse of the normal operator when W = 1 (a k-space division),
    # which removes the ill-conditioning of the dipole cone from the CG iteration.
    precond = 1.0 / (d * d + lam * g2 + 1e-6)

    def apply_precond(r):
        return sfft.irfftn(precond * sfft.rfftn(r, workers=-1), s=big, workers=-1)

    b = fwd(w2 * f)
    x = np.zeros(big)
    r = b.copy()
    z = apply_precond(r)
    p = z.copy()
    rz = float((r * z).sum())
    b_norm = np.sqrt(float((b * b).sum())) or 1.0
    progress = Progress(iterations, "QSM dipole inversion (PCG)", unit="iteration")
    for _ in range(iterations):
        ap = normal(p)
        alpha = rz / float((p * ap).sum())
        x += alpha * p
        r -= alpha * ap
        res = np.sqrt(float((r * r).sum())) / b_norm
        progress.advance(1, residual=res)
        if res < tol:
            break
        z = apply_precond(r)
        rz_new = float((r * z).sum())
        p = z + (rz_new / rz) * p
        rz = rz_new
    crop = tuple(slice(p0, p0 + n) for (p0, _), n in zip(pads, shape))
    return np.where(mask, x[crop], 0.0).astype(np.float32)


def classic_qsm(
    phase,
    mask,
    te_ms,
    b0_tesla: float,
    voxel_size_xyz,
    b0_direction_xyz=(0.0, 0.0, 1.0),
    magnitude=None,
    erosions: int = 1,
    radii_mm=(12.0, 10.0, 8.0, 6.0, 4.0, 2.0),
    threshold: float = 0.05,
    lam: float = 1e-3,
    iterations: int = 50,
    laplacian: str = "wrapped",
    return_mask: bool = False,
):
    """Laplacian unwrapping → V-SHARP → CG dipole inversion; χ in ppm, zero outside the mask."""
    phase = np.asarray(phase, dtype=np.float32)
    if phase.ndim == 3:
        phase = phase[None]
    te_ms = [float(t) for t in np.atleast_1d(te_ms)]
    m = erode(np.asarray(mask, dtype=bool), erosions)
    if not m.any():
        raise ValueError(f"the QSM mask is empty after {erosions} erosions; use fewer erosions")
    h_zyx = tuple(float(v) for v in voxel_size_xyz)[::-1]
    weights = echoes.echo_weights(magnitude, len(te_ms), m.shape)
    te_ref = echoes.reference_te(te_ms, weights, m)
    lap = echoes.combined_laplacian(phase, te_ms, weights, h_zyx, te_ref, method=laplacian)
    lap = lap - np.float32(lap[m].mean())  # a constant Laplacian is a quadratic phase offset, not tissue
    total_rad = poisson_solve(np.where(m, lap, 0.0), h_zyx)
    total_ppm = total_rad / np.float32(ppm_to_radians(1.0, te_ref, b0_tesla))
    local_ppm, reduced = vsharp(total_ppm, m, h_zyx, radii_mm, threshold)
    chi = dipole_inversion_cg(
        local_ppm, reduced, voxel_size_xyz, b0_direction_xyz, lam=lam, iterations=iterations
    )
    return (chi, reduced) if return_mask else chi

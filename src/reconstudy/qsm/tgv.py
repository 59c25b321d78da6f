"""One-step TGV-QSM: susceptibility from the Laplacian of a wrapped phase (Langkammer et al. 2015).

Model (phase units, all operators from :mod:`reconstudy.qsm.operators`): with ``f = Δφ_wrapped``
(the Laplacian of the wrapped phase, no unwrapping), an eroded brain mask ``M`` and ``M0`` = ``M``
eroded once more, find the susceptibility ``χ`` (in radians of phase at the reference echo
time), an auxiliary vector field ``w`` and a residual phase ``ψ`` solving

    min_{χ, w, ψ}  ½‖M ψ‖² + α1 ‖M0 ∇χ - M w‖₁ + α0 ‖M0 E(w)‖₁
    subject to     M0 (W χ - Δψ) = M0 f,

where ``W = (1/3)Δ - ∂_b²`` is the Laplacian of the dipole convolution (b = B0 direction) and
``E`` the symmetrised gradient. Only Laplacians enter, so any harmonic background field drops
out inside ``M0``; ``ψ`` is free outside ``M`` and absorbs it at the border, while inside it is
the phase residual (a least-squares data term in the field, not in its Laplacian). The second
order TGV term (``α0`` on ``E(w)``, ``α1`` on ``∇χ - w``) avoids the staircasing of TV.

It is solved with the primal-dual algorithm of Chambolle & Pock (2011) with diagonal
preconditioning (Pock & Chambolle 2011): per-block steps from the absolute row/column sums of
the stencils guarantee convergence, and ``step_scale`` s multiplies every primal step and
divides every dual step, which keeps that guarantee and converges much faster for s ≈ 10 h²
(h ≥ 1 mm the voxel size in mm; :func:`default_step_scale`); the Julia package's unguarded
``step_size=3`` heuristic, made rigorous.

The iteration is two fused ``torch.compile`` kernels on CPU (inductor C++/OpenMP) and CUDA
(triton) where available, with eager torch as fallback; the same code runs on both devices.

References:
    Langkammer C, Bredies K, Poser BA, et al. Fast quantitative susceptibility mapping using 3D
    EPI and total generalized variation. NeuroImage 2015;111:622-630.
    Bredies K, Kunisch K, Pock T. Total generalized variation. SIAM J Imaging Sci 2010;3:492-526.
    Chambolle A, Pock T. A first-order primal-dual algorithm for convex problems with
    applications to imaging. J Math Imaging Vis 2011;40:120-145.
    Pock T, Chambolle A. Diagonal preconditioning for first order primal-dual algorithms. ICCV 2011.
    Stewart AW, Robinson SD, O'Brien K, et al. QSMxT: Robust masking and artifact reduction for
    quantitative susceptibility mapping. Magn Reson Med 2022;87:1289-1300.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch

from reconstudy.progress import Progress
from reconstudy.qsm import operators as ops
from reconstudy.qsm.mask import erode

log = logging.getLogger("reconstudy")

#: Seed 003 (α1 = 20, α2 = 30 "in their units") read as units of 1e-4 of the Julia/QSMxT
#: parameters: α1 ↔ alpha[0] (second-order term, on E(w)), α2 ↔ alpha[1] (first-order term).
SEED003_ALPHA = (20.0, 30.0)
SEED003_UNIT = 1e-4
#: Default (α0, α1) in the Julia/QSMxT convention: the Julia package's regularization=2.
DEFAULT_ALPHA = (0.002, 0.003)
#: Primal/dual balance at 1 mm voxels; :func:`default_step_scale` scales it by the voxel area.
STEP_SCALE_1MM = 10.0


def default_step_scale(voxel_size) -> float:
    """Primal/dual step balance ``s = 10 · max(h̄, 1)²`` (h̄: geometric-mean voxel size in mm).

    The stencils' absolute sums, hence the diagonal steps, scale as 1/h², and at the optimum
    ``ψ = Δ(M0 η)`` inside ``M``, so the dual η carries phase·mm² while χ stays in radians: the
    primal/dual balance that converges fastest moves with h². Measured at 1,000 iterations
    (docs/qsm.md, "Issue 4: deep grey and the step balance"): on the numerical phantom the
    best ``s`` was ~30 at 1 mm, ~100 at 2 mm and ≥ 300 at 3 mm; on the 3 mm cohort's subject
    01, NRMSE 0.450 / 0.425 / 0.424 / 0.430 / 0.439 for s = 10 / 30 / 60 / 100 / 150. With a
    fixed ``s = 10`` the 3 mm solution was far from converged after 1,000 iterations (putamen
    contrast still growing at 10,000), which had been read as TGV's contrast loss. Below 1 mm
    the trend stops (phantom at 0.5 mm: NRMSE 0.22 with s = 2.5, 0.15 with s = 10), so s stays 10.
    """
    h = np.asarray(voxel_size, dtype=np.float64)
    h_mean = float(np.prod(h)) ** (1.0 / h.size)
    return STEP_SCALE_1MM * max(h_mean, 1.0) ** 2


def julia_alpha(alpha, convention: str = "julia") -> tuple[float, float]:
    """Regularisation weights ``(α0, α1)`` in the Julia/QSMxT convention.

    Args:
        alpha: a pair. ``convention="julia"`` (also QSMxT and TGV_QSM.jl ``alpha=[a, b]``): ``a``
            weights the second-order term ‖E(w)‖₁, ``b`` the first-order term ‖∇χ - w‖₁, both
            for χ in radians of phase and voxel sizes in mm. ``convention="seed003"``: the
            (α1, α2) pair of seed 003 (20, 30), in units of 1e-4 of the former.
        convention: ``"julia"`` or ``"seed003"``; ``"auto"`` takes values above 1 as seed 003.
    """
    a0, a1 = (float(v) for v in alpha)
    if convention == "auto":
        convention = "seed003" if max(a0, a1) > 1.0 else "julia"
    if convention == "seed003":
        a0, a1 = a0 * SEED003_UNIT, a1 * SEED003_UNIT
    elif convention != "julia":
        raise ValueError(f"alpha convention must be 'julia', 'seed003' or 'auto', got {convention!r}")
    if a0 <= 0 or a1 <= 0:
        raise ValueError(f"TGV alpha values must be positive, got {alpha}")
    return a0, a1


def _wave_weights(h, b_zyx, stencil: str) -> dict:
    if stencil == "fitted":
        return ops.fitted_wave_weights(h, b_zyx)
    if stencil == "7point":
        return ops.stencil_weights(h, b_zyx)
    raise ValueError(f"TGV wave stencil must be 'fitted' or '7point', got {stencil!r}")


def _steps(h, b_zyx, step_scale: float, stencil: str = "7point") -> dict:
    """Diagonal step sizes (Pock & Chambolle 2011, α = 1) from the stencils' absolute sums.

    ``τ_j = 1/Σ_i |K_ij|`` and ``σ_i = 1/Σ_j |K_ij|`` (taken per variable block, the maximum
    over its components, so that the projections stay Euclidean) guarantee
    ``‖Σ^½ K T^½‖ ≤ 1``; masks only shrink the sums. ``step_scale`` s multiplies the primal
    steps and divides the dual ones, which leaves that bound unchanged and trades primal
    against dual progress.
    """
    inv = [1.0 / v for v in h]
    wave_abs = ops.stencil_norm(_wave_weights(h, b_zyx, stencil))
    lap_abs = 4.0 * sum(v * v for v in inv)
    r2 = math.sqrt(2.0)  # off-diagonal entries of E, scaled for the Frobenius product
    col_chi = 2.0 * sum(inv) + wave_abs
    col_w = max(1.0 + 2.0 * inv[a] + r2 * sum(inv[c] for c in range(3) if c != a) for a in range(3))
    col_psi = lap_abs
    row_p = max(2.0 * v + 1.0 for v in inv)
    row_q = max(
        max(2.0 * v for v in inv), max(r2 * (inv[a] + inv[c]) for a in range(3) for c in range(a + 1, 3))
    )
    row_eta = wave_abs + lap_abs
    s = float(step_scale)
    return {
        "tau_chi": s / col_chi,
        "tau_w": s / col_w,
        "tau_psi": s / col_psi,
        "sigma_p": 1.0 / (s * row_p),
        "sigma_q": 1.0 / (s * row_q),
        "sigma_eta": 1.0 / (s * row_eta),
    }


def _make_step(h, b_zyx, alpha0: float, alpha1: float, st: dict, stencil: str = "7point"):
    """One primal-dual iteration, updating the state tensors in place."""
    lap_w = ops.stencil_weights(h)
    wave_w = _wave_weights(h, b_zyx, stencil)
    inv_a0, inv_a1 = 1.0 / alpha0, 1.0 / alpha1
    tau_chi, tau_w, tau_psi = st["tau_chi"], st["tau_w"], st["tau_psi"]
    sig_p, sig_q, sig_eta = st["sigma_p"], st["sigma_q"], st["sigma_eta"]

    def dual_step(chib, wb, psib, eta, p, q, f, m, m0, eta_out, p_out, q_out):
        # Dual ascent on η (the constraint), p and q (projections onto the α-balls). Outputs go
        # to separate buffers (no aliasing), so the compiled kernel streams each volume once.
        eta_out.copy_(
            eta + sig_eta * m0 * (ops.apply_stencil(chib, wave_w) - ops.apply_stencil(psib, lap_w) - f)
        )
        g = ops.gradient(chib, h)
        pt = [p[a] + sig_p * (m0 * g[a] - m * wb[a]) for a in range(3)]
        scale_p = torch.clamp(torch.sqrt(pt[0] ** 2 + pt[1] ** 2 + pt[2] ** 2) * inv_a1, min=1.0)
        e = ops.sym_gradient(wb, h)
        qt = [q[i] + sig_q * m0 * e[i] for i in range(6)]
        qn2 = qt[0] ** 2 + qt[1] ** 2 + qt[2] ** 2 + 2 * (qt[3] ** 2 + qt[4] ** 2 + qt[5] ** 2)
        scale_q = torch.clamp(torch.sqrt(qn2) * inv_a0, min=1.0)
        for a in range(3):
            p_out[a].copy_(pt[a] / scale_p)
        for i in range(6):
            q_out[i].copy_(qt[i] / scale_q)

    def primal_step(chi, w, psi, eta, p, q, m, m0, chi_out, w_out, psi_out, chib, wb, psib):
        # Primal descent with the new duals, then over-relaxation (x̄ = 2x_new - x_old).
        m0eta = m0 * eta
        chi_n = chi + tau_chi * (ops.divergence([m0 * v for v in p], h) - ops.apply_stencil(m0eta, wave_w))
        dq = ops.sym_divergence([m0 * v for v in q], h)
        psi_n = (psi + tau_psi * ops.apply_stencil(m0eta, lap_w)) / (1.0 + tau_psi * m)
        chi_out.copy_(chi_n)
        chib.copy_(2 * chi_n - chi)
        psi_out.copy_(psi_n)
        psib.copy_(2 * psi_n - psi)
        for a in range(3):
            w_n = w[a] + tau_w * m * (p[a] + dq[a])
            w_out[a].copy_(w_n)
            wb[a].copy_(2 * w_n - w[a])

    return dual_step, primal_step


def _compiled(steps, use_compile):
    if not use_compile:
        return steps, False
    try:
        return tuple(torch.compile(s, fullgraph=True, dynamic=False) for s in steps), True
    except Exception as err:  # no compiler available: eager torch is the same maths
        log.warning("torch.compile unavailable (%s); TGV runs eagerly", err)
        return steps, False


def bounding_box(mask: np.ndarray, margin: int = 3) -> tuple[slice, ...]:
    """Slices of the smallest box holding ``mask`` plus ``margin`` voxels (clipped to the grid)."""
    idx = np.nonzero(mask)
    if idx[0].size == 0:
        raise ValueError("the QSM mask is empty: no voxel to reconstruct (check the mask or the erosions)")
    return tuple(
        slice(max(int(i.min()) - margin, 0), min(int(i.max()) + margin + 1, n))
        for i, n in zip(idx, mask.shape)
    )


def model_masks(mask, erosions: int) -> tuple[np.ndarray, np.ndarray]:
    """The two masks of the TGV-QSM model: ``M`` and the output support ``M0`` (bool, ``(z, y, x)``).

    ``M0`` is ``mask`` eroded ``max(erosions, 1)`` times: where the Laplacian model
    ``W χ - Δψ = f`` is imposed and where χ is returned. ``M`` is ``M0`` plus one voxel (the mask
    eroded once less): ψ is penalised and ``w`` lives there, and χ on the ring ``M \\ M0`` enters
    the model only as the boundary values of the stencils at ``M0``'s edge. No equation of the
    model sits on that ring, so χ there is not an estimate of the tissue: it absorbs what the
    7-point model cannot explain at the edge (the discretised field of tissue just outside,
    noise) and drifts as the iterations go on. On the 3 mm simulated subject it held 55 % of
    the squared error of the noise-free map at 2,500 iterations (RMS 0.036 ppm against
    0.011-0.017 ppm inside) and grew with iterations (0.040 ppm at 5,000), while the error on
    ``M0`` stayed put (docs/qsm.md, "Issue 4: what limited TGV at 3 mm"). TGV_QSM.jl returns
    χ on the whole box and leaves the masking to the user; returning it on ``M0`` keeps only
    voxels that the data determine, with the same coverage as the ``M`` of ``erosions``
    erosions had before.
    """
    m = erode(np.asarray(mask, dtype=bool), max(int(erosions), 1) - 1)
    return m, erode(m, 1)


def tgv_solve(
    laplace_phase,
    mask,
    mask0,
    voxel_size_zyx,
    b0_direction_zyx=(1.0, 0.0, 0.0),
    alpha=DEFAULT_ALPHA,
    iterations: int = 1000,
    step_scale: float | None = None,
    device="cpu",
    use_compile: bool | None = None,
    progress_label: str = "TGV-QSM",
    stencil: str = "7point",
) -> np.ndarray:
    """Run the TGV-QSM primal-dual iteration on a (cropped) grid.

    Args:
        laplace_phase: ``f``, the Laplacian of the phase (rad/mm²), ``(z, y, x)``.
        mask: ``M`` (bool), where ``ψ`` is penalised and ``w`` lives.
        mask0: ``M0`` (bool, inside ``M``), where the Laplacian model is imposed.
        voxel_size_zyx: spacings (dz, dy, dx) in mm.
        b0_direction_zyx: B0 unit vector in array-axis order (z, y, x).
        alpha: (α0, α1) in the Julia convention (see :func:`julia_alpha`).
        iterations: primal-dual iterations.
        step_scale: primal/dual balance s (primal steps × s, dual steps / s; convergent for any
            s); None: :func:`default_step_scale` of the voxel size (10 up to 1 mm, 90 at 3 mm).
        device: torch device.
        use_compile: ``None`` compiles when the grid has over 32³ voxels; ``True``/``False`` force.
        stencil: ``"7point"`` (TGV-QSM's discretisation; oblique B0 adds central mixed
            differences) or ``"fitted"`` (27-point stencil matched to the k-space dipole kernel;
            no gain measured on our phantoms, kept for experiments).

    Returns:
        χ in radians of phase (same units as ``laplace_phase`` times mm²), ``(z, y, x)`` float32.
    """
    device = torch.device(device)
    h = tuple(float(v) for v in voxel_size_zyx)
    b = np.asarray(b0_direction_zyx, dtype=np.float64)
    b = tuple(float(v) for v in b / np.linalg.norm(b))
    a0, a1 = (float(v) for v in alpha)
    if step_scale is None:
        step_scale = default_step_scale(h)
    st = _steps(h, b, step_scale, stencil)
    shape = tuple(laplace_phase.shape)
    if use_compile is None:
        use_compile = int(np.prod(shape)) > 32**3

    def zeros():
        return torch.zeros(shape, dtype=torch.float32, device=device)

    f = torch.as_tensor(np.asarray(laplace_phase, dtype=np.float32), device=device)
    m = torch.as_tensor(np.asarray(mask, dtype=np.float32), device=device)
    m0 = torch.as_tensor(np.asarray(mask0, dtype=np.float32), device=device)
    # Double buffers: each step reads one set and writes the other, then they swap.
    chi, chi2, chib, psi, psi2, psib, eta, eta2 = (zeros() for _ in range(8))
    w, w2, wb, p, p2 = ([zeros() for _ in range(3)] for _ in range(5))
    q, q2 = ([zeros() for _ in range(6)] for _ in range(2))

    (dual_step, primal_step), compiled = _compiled(_make_step(h, b, a0, a1, st, stencil), use_compile)
    progress = None
    eager = _make_step(h, b, a0, a1, st, stencil)
    with torch.no_grad():
        for k in range(iterations):
            t0 = time.perf_counter()
            try:
                dual_step(chib, wb, psib, eta, p, q, f, m, m0, eta2, p2, q2)
                primal_step(chi, w, psi, eta2, p2, q2, m, m0, chi2, w2, psi2, chib, wb, psib)
            except Exception as err:
                if not (compiled and k == 0):
                    raise
                # compilation happens at the first call (e.g. no C++ compiler on this node); the
                # outputs are untouched then, so the same iteration reruns eagerly
                log.warning("%s: torch.compile failed (%s); running eagerly", progress_label, err)
                (dual_step, primal_step), compiled = eager, False
                dual_step(chib, wb, psib, eta, p, q, f, m, m0, eta2, p2, q2)
                primal_step(chi, w, psi, eta2, p2, q2, m, m0, chi2, w2, psi2, chib, wb, psib)
            eta, eta2, p, p2, q, q2 = eta2, eta, p2, p, q2, q
            chi, chi2, w, w2, psi, psi2 = chi2, chi, w2, w, psi2, psi
            if k == 0:
                if compiled:
                    first_s = time.perf_counter() - t0
                    log.info("%s: first iteration (incl. compilation) %.1f s", progress_label, first_s)
                progress = Progress(iterations, progress_label, unit="iteration")  # rate without compiling
            progress.advance(1)
    return chi.cpu().numpy()


def tgv_qsm(
    phase,
    mask,
    te_ms,
    b0_tesla: float,
    voxel_size_xyz,
    b0_direction_xyz=(0.0, 0.0, 1.0),
    magnitude=None,
    alpha=DEFAULT_ALPHA,
    alpha_convention: str = "julia",
    iterations: int = 1000,
    erosions: int = 3,
    step_scale: float | None = None,
    correct_laplacian: bool = True,
    laplacian: str = "wrapped",
    stencil: str = "7point",
    device="cpu",
    use_compile: bool | None = None,
    return_mask: bool = False,
):
    """TGV-QSM from wrapped multi-echo phase: χ in ppm on the input grid.

    Args:
        phase: wrapped phase in radians, ``(echo, z, y, x)`` (or ``(z, y, x)`` for one echo).
        mask: brain mask ``(z, y, x)``; eroded ``erosions`` times (at least once) for the
            Laplacian model and the output (M0), once less for ψ and w (M); see
            :func:`model_masks`. TGV_QSM.jl erodes ``erosions`` times for M and once more for M0.
        te_ms: echo times (ms), one per echo.
        b0_tesla: field strength.
        voxel_size_xyz: voxel size (dx, dy, dz) in mm.
        b0_direction_xyz: B0 unit vector in the voxel frame (x, y, z) (``Geometry.b0_direction``).
        magnitude: ``(echo, z, y, x)`` magnitude for the echo weights (None: equal weights).
        alpha: regularisation pair, see :func:`julia_alpha`.
        iterations: primal-dual iterations (1000 by default; the study configs use 2500).
        step_scale: primal/dual step balance; None scales it with the voxel size
            (:func:`default_step_scale`, see :func:`tgv_solve`).
        correct_laplacian: subtract the mean Laplacian inside M0 (TGV_QSM.jl's default), which
            removes a constant Laplacian (a non-harmonic quadratic phase, e.g. from a phase offset).
        laplacian: ``"sincos"`` or ``"wrapped"`` (see :func:`operators.wrapped_laplacian`).
        device: ``"cpu"`` or ``"cuda"``.
        return_mask: also return the output support M0 (the mask eroded ``erosions`` times).

    Returns:
        χ (ppm), ``(z, y, x)`` float32, zero outside M0 (and M0 when ``return_mask``).
    """
    from reconstudy.dipole import ppm_to_radians
    from reconstudy.qsm import echoes

    phase = np.asarray(phase, dtype=np.float32)
    if phase.ndim == 3:
        phase = phase[None]
    te_ms = [float(t) for t in np.atleast_1d(te_ms)]
    a0, a1 = julia_alpha(alpha, alpha_convention)
    shape = phase.shape[1:]
    # M (ψ and w live here) is one voxel larger than the output support M0, where the Laplacian
    # model holds: χ on M \ M0 only serves as boundary values of that model (see model_masks)
    m_full, support = model_masks(mask, erosions)
    if not support.any():
        raise ValueError(f"the QSM mask is empty after {max(erosions, 1)} erosions; use fewer erosions")
    box = bounding_box(m_full, margin=3)
    m = m_full[box]
    m0 = support[box]
    h_zyx = tuple(float(v) for v in voxel_size_xyz)[::-1]
    b_zyx = tuple(float(v) for v in b0_direction_xyz)[::-1]
    mag_box = None
    if magnitude is not None:
        mag = np.asarray(magnitude)
        mag_box = mag[(slice(None), *box)] if mag.ndim == 4 else mag[box]
    weights = echoes.echo_weights(mag_box, len(te_ms), m.shape)
    te_ref = echoes.reference_te(te_ms, weights, m0)
    f = echoes.combined_laplacian(
        phase[(slice(None), *box)], te_ms, weights, h_zyx, te_ref, device=device, method=laplacian
    )
    if correct_laplacian:
        f = f - np.float32(f[m0].mean())
    chi_rad = tgv_solve(
        f, m, m0, h_zyx, b_zyx, (a0, a1), iterations, step_scale, device, use_compile, stencil=stencil
    )
    chi = np.zeros(shape, dtype=np.float32)
    chi[box] = np.where(m0, chi_rad / np.float32(ppm_to_radians(1.0, te_ref, b0_tesla)), 0.0)
    return (chi, support) if return_mask else chi

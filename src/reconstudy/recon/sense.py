"""CG-SENSE: Tikhonov-regularised least squares solved by conjugate gradients, batched.

Solves, independently for every plane b of a batch,

    x_b = argmin ||A_b x - y_b||^2 + lam ||x||^2   <=>   (A_b^H A_b + lam I) x_b = A_b^H y_b,

with per-plane CG step sizes (the batch shares only the FFT calls). ``lam`` is relative to the
data scale (the caller normalises y to unit RMS image intensity); a small value (1e-3) only
damps noise amplification in poorly conditioned pixels.

References:
    Pruessmann KP, Weiger M, Boernert P, Boesiger P. Advances in sensitivity encoding with
    arbitrary k-space trajectories. Magn Reson Med 2001;46:638-651.
    Hestenes MR, Stiefel E. Methods of conjugate gradients for solving linear systems. 1952.
"""

from __future__ import annotations

from reconstudy.recon.operators import SenseOp


def _dot(a, b, xp):
    """Per-plane real inner product ``Re <a, b>`` over the plane axes -> ``(B, 1, 1)``."""
    return (xp.conj(a) * b).real.sum(axis=(-2, -1), keepdims=True)


def cg_sense(op: SenseOp, y, lam: float = 1e-3, iterations: int = 30, tol: float = 1e-4, x0=None):
    """Batched conjugate gradients on the SENSE normal equations.

    Args:
        op: the batch's :class:`SenseOp`.
        y: masked coil k-space ``(B, C, n1, n2)``.
        lam: Tikhonov weight.
        iterations: maximum CG iterations.
        tol: stop when every plane's residual norm fell below ``tol`` times its initial one.
        x0: starting image, default zero.

    Returns:
        ``(B, n1, n2)`` images.
    """
    xp = op.xp
    rhs = op.adjoint(y)
    x = xp.zeros_like(rhs) if x0 is None else x0.copy()
    r = rhs - (op.normal(x) + lam * x) if x0 is not None else rhs.copy()
    p = r.copy()
    rr = _dot(r, r, xp)
    stop = (tol**2) * rr
    for _ in range(iterations):
        if bool((rr <= stop).all()):
            break
        ap = op.normal(p) + lam * p
        alpha = rr / xp.maximum(_dot(p, ap, xp), 1e-30)
        x += alpha * p
        r -= alpha * ap
        rr_new = _dot(r, r, xp)
        p = r + (rr_new / xp.maximum(rr, 1e-30)) * p
        rr = rr_new
    return x

"""Finite-difference operators for QSM, written once for CPU and CUDA tensors.

All operators act on ``(z, y, x)`` torch tensors; vector fields are tuples of three tensors
ordered ``(z, y, x)`` and symmetric tensor fields tuples of six tensors
``(zz, yy, xx, zy, zx, yx)``. Spacings ``h`` are per array axis ``(dz, dy, dx)`` in mm.

* :func:`gradient`: forward differences, zero at the last index (Neumann boundary).
* :func:`divergence`: ``-gradient^T`` (backward differences), so that
  ``<gradient(u), p> = -<u, divergence(p)>`` exactly.
* :func:`sym_gradient`: ``E(w) = (∇w + ∇wᵀ)/2`` with forward differences;
  :func:`sym_divergence` is ``-E^T`` under the Frobenius product of symmetric tensors
  (off-diagonal entries counted twice).
* :func:`laplacian`: the 7-point Laplacian with zero extension outside the array
  (self-adjoint).
* :func:`wave`: the image-space dipole operator ``Δ(d * χ) = (1/3)Δχ - ∂_b²χ`` for a unit field
  direction ``b``; with b along an array axis it is the 7-point stencil of TGV-QSM,
  oblique directions add central mixed differences. Self-adjoint (symmetric stencil, zero
  extension).
* :func:`wrapped_laplacian`: ``Δφ = cos φ Δ(sin φ) - sin φ Δ(cos φ)``, the Laplacian of a
  wrapped phase without unwrapping (Schofield & Zhu, Opt Lett 2003).

The functions only use slicing, padding and arithmetic, so ``torch.compile`` fuses them into a
few loops; they allocate their results (the fused TGV step does not materialise them).

References:
    Bredies K, Kunisch K, Pock T. Total generalized variation. SIAM J Imaging Sci 2010.
    Langkammer C et al. Fast quantitative susceptibility mapping using 3D EPI and total
    generalized variation. NeuroImage 2015;111:622-630.
    Schofield MA, Zhu Y. Fast phase unwrapping algorithm for interferometric applications.
    Opt Lett 2003;28:1194-1196.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _pad_axis(x: torch.Tensor, axis: int, before: int, after: int) -> torch.Tensor:
    """Zero-pad a 3D tensor along one axis (0=z, 1=y, 2=x)."""
    pads = [0, 0, 0, 0, 0, 0]  # F.pad order: x-before, x-after, y-..., z-...
    pads[2 * (2 - axis)] = before
    pads[2 * (2 - axis) + 1] = after
    return F.pad(x, pads)


def _slice(x: torch.Tensor, axis: int, start, stop) -> torch.Tensor:
    index = [slice(None)] * x.ndim
    index[x.ndim - 3 + axis] = slice(start, stop)
    return x[tuple(index)]


def forward_difference(x: torch.Tensor, axis: int, h: float) -> torch.Tensor:
    """``(x[i+1] - x[i]) / h``, zero at the last index."""
    d = _slice(x, axis, 1, None) - _slice(x, axis, None, -1)
    return _pad_axis(d, axis, 0, 1) * (1.0 / h)


def backward_divergence_term(p: torch.Tensor, axis: int, h: float) -> torch.Tensor:
    """``-forward_difference^T p`` along one axis: ``(p[i] - p[i-1]) / h`` with ``p[-1] = p[n-1] = 0``."""
    inner = _pad_axis(_slice(p, axis, None, -1), axis, 0, 1)  # drop p[n-1]
    shifted = _pad_axis(_slice(p, axis, None, -1), axis, 1, 0)  # p[i-1], zero at i=0
    return (inner - shifted) * (1.0 / h)


def gradient(u: torch.Tensor, h) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward-difference gradient ``(∂z u, ∂y u, ∂x u)``."""
    return tuple(forward_difference(u, a, h[a]) for a in range(3))


def divergence(p, h) -> torch.Tensor:
    """Divergence of a vector field, the negative adjoint of :func:`gradient`."""
    return sum(backward_divergence_term(p[a], a, h[a]) for a in range(3))


# Index of the symmetric-tensor component for each (row, column) pair of axes.
SYM_INDEX = {
    (0, 0): 0,
    (1, 1): 1,
    (2, 2): 2,
    (0, 1): 3,
    (1, 0): 3,
    (0, 2): 4,
    (2, 0): 4,
    (1, 2): 5,
    (2, 1): 5,
}


def sym_gradient(w, h):
    """Symmetrised gradient ``E(w)_ab = (∂_a w_b + ∂_b w_a) / 2`` as six components."""
    d = [[forward_difference(w[b], a, h[a]) for b in range(3)] for a in range(3)]
    return (
        d[0][0],
        d[1][1],
        d[2][2],
        0.5 * (d[0][1] + d[1][0]),
        0.5 * (d[0][2] + d[2][0]),
        0.5 * (d[1][2] + d[2][1]),
    )


def sym_divergence(q, h):
    """``-E^T q``: component b is ``Σ_a div_a(q_ab)`` (Frobenius product, off-diagonals twice)."""
    return tuple(
        sum(backward_divergence_term(q[SYM_INDEX[a, b]], a, h[a]) for a in range(3)) for b in range(3)
    )


def sym_inner(q, r) -> torch.Tensor:
    """Frobenius inner product of two symmetric tensor fields (six components each)."""
    return sum((q[i] * r[i]).sum() for i in range(3)) + 2 * sum((q[i] * r[i]).sum() for i in range(3, 6))


def _shift(x_padded: torch.Tensor, offset) -> torch.Tensor:
    """View of a tensor padded by one voxel per side, shifted by ``offset`` (dz, dy, dx)."""
    nz, ny, nx = (s - 2 for s in x_padded.shape[-3:])
    oz, oy, ox = offset
    return x_padded[..., 1 + oz : 1 + oz + nz, 1 + oy : 1 + oy + ny, 1 + ox : 1 + ox + nx]


def stencil_weights(h, b_zyx=None) -> dict:
    """Weights of the 3x3x3 symmetric stencil for Δ (``b=None``) or the wave operator.

    Returns a dict ``{offset: weight}`` over offsets with one representative of each ``±``
    pair (the stencil is symmetric) plus the centre ``(0, 0, 0)``.
    """
    if b_zyx is None:
        coeff = np.eye(3)  # Δ = Σ_a ∂_a²
    else:
        b = np.asarray(b_zyx, dtype=np.float64)
        b = b / np.linalg.norm(b)
        coeff = np.eye(3) / 3.0 - np.outer(b, b)  # (1/3)Δ - ∂_b² = Σ_ab C_ab ∂_a ∂_b
    weights: dict = {(0, 0, 0): 0.0}
    for a in range(3):
        off = [0, 0, 0]
        off[a] = 1
        weights[tuple(off)] = coeff[a, a] / h[a] ** 2
        weights[(0, 0, 0)] -= 2 * coeff[a, a] / h[a] ** 2
    for a in range(3):
        for c in range(a + 1, 3):
            # 2 C_ac ∂_a∂_c with the central mixed difference (x[++] - x[+-] - x[-+] + x[--]) / 4 h_a h_c
            value = 2 * coeff[a, c] / (4 * h[a] * h[c])
            if abs(value) < 1e-12 * max(1.0, abs(weights[(0, 0, 0)])):
                continue
            plus = [0, 0, 0]
            plus[a], plus[c] = 1, 1
            minus = [0, 0, 0]
            minus[a], minus[c] = 1, -1
            weights[tuple(plus)] = value
            weights[tuple(minus)] = -value
    return {k: float(v) for k, v in weights.items() if v != 0.0 or k == (0, 0, 0)}


def fitted_wave_weights(h, b_zyx, samples: int = 24) -> dict:
    """27-point symmetric stencil whose k-space response best matches ``L(k) D(k)``.

    ``L`` is the response of the 7-point Laplacian and ``D(k) = 1/3 - (k·b)²/|k|²`` the dipole
    kernel with physical frequencies, so ``W χ`` is consistent with "Laplacian of the
    k-space dipole field", for oblique B0 too (the plain discretisation with central mixed
    differences is not). Relative least squares over the frequencies of a ``samples³`` grid
    up to 0.25 cycles/voxel (where the tissue signal lives), with ``W(0) = 0``. The idea of a
    fitted stencil follows TGV_QSM.jl, which fits image-space dipole values instead.
    """
    b = np.asarray(b_zyx, dtype=np.float64)
    b = b / np.linalg.norm(b)
    k1 = (np.arange(samples) - samples // 2) / samples
    kz, ky, kx = np.meshgrid(k1, k1, k1, indexing="ij")
    k = np.stack([kz.ravel(), ky.ravel(), kx.ravel()], axis=1)
    k = k[np.any(k != 0, axis=1) & (np.sqrt((k**2).sum(axis=1)) <= 0.25)]  # where tissue signal lives
    lap = -sum(4 * np.sin(np.pi * k[:, a]) ** 2 / h[a] ** 2 for a in range(3))
    kp = k / np.asarray(h)[None, :]
    target = lap * (1.0 / 3.0 - (kp @ b) ** 2 / (kp**2).sum(axis=1))
    offsets = [o for o in np.ndindex(3, 3, 3)]
    offsets = [tuple(v - 1 for v in o) for o in offsets]
    half = [o for o in offsets if o > (0, 0, 0)]  # one of each ± pair
    # response: w0 + Σ 2 w_o cos(2π k·o), with w0 = -Σ 2 w_o (zero at k = 0)
    basis = np.stack([2 * (np.cos(2 * np.pi * k @ np.asarray(o, float)) - 1.0) for o in half], axis=1)
    weight = 1.0 / np.maximum(np.abs(lap), 1e-3 * np.abs(lap).max())
    coef, *_ = np.linalg.lstsq(basis * weight[:, None], target * weight, rcond=None)
    weights = {(0, 0, 0): float(-2 * coef.sum())}
    for o, c in zip(half, coef):
        if abs(c) > 1e-9 * abs(weights[(0, 0, 0)]):
            weights[o] = float(c)
    return weights


def apply_stencil(x: torch.Tensor, weights: dict) -> torch.Tensor:
    """Apply a symmetric stencil ``{offset: w}`` (one of each ± pair) with zero extension."""
    xp = F.pad(x, (1, 1, 1, 1, 1, 1))
    out = x * weights[(0, 0, 0)]
    for offset, w in weights.items():
        if offset == (0, 0, 0):
            continue
        neg = tuple(-o for o in offset)
        out = out + w * (_shift(xp, offset) + _shift(xp, neg))
    return out


def laplacian(x: torch.Tensor, h) -> torch.Tensor:
    """7-point Laplacian with zero extension outside the array."""
    return apply_stencil(x, stencil_weights(h))


def wave(x: torch.Tensor, h, b_zyx, fitted: bool = False) -> torch.Tensor:
    """Image-space dipole operator ``(1/3)Δ - ∂_b²`` (the Laplacian of the dipole field)."""
    return apply_stencil(x, fitted_wave_weights(h, b_zyx) if fitted else stencil_weights(h, b_zyx))


def stencil_norm(weights: dict) -> float:
    """Upper bound of the operator norm: the sum of absolute stencil weights."""
    return abs(weights[(0, 0, 0)]) + 2 * sum(abs(w) for k, w in weights.items() if k != (0, 0, 0))


def _replicate_neighbours(v: torch.Tensor):
    vp = F.pad(v[None, None], (1, 1, 1, 1, 1, 1), mode="replicate")[0, 0]
    for a in range(3):
        plus = [0, 0, 0]
        plus[a] = 1
        yield a, _shift(vp, tuple(plus)), _shift(vp, tuple(-o for o in plus))


def wrapped_laplacian(phase: torch.Tensor, h, method: str = "sincos") -> torch.Tensor:
    """Laplacian of a wrapped phase without unwrapping.

    ``method="sincos"``: ``cos φ Δ(sin φ) - sin φ Δ(cos φ)`` (Schofield & Zhu 2003), which per
    axis is ``(sin(φ₊ - φ) + sin(φ₋ - φ))/h²``: it matches the Laplacian of the unwrapped phase
    up to a relative error ~ g²/2 for a phase step g per voxel, and stays bounded in noise.
    ``method="wrapped"``: ``(W(φ₊ - φ) + W(φ₋ - φ))/h²`` with W the wrap to (-π, π], exact
    whenever neighbour differences of the true phase stay below π.
    The array border uses replicate padding (no artificial edge).
    """
    if method not in ("sincos", "wrapped"):
        raise ValueError(f"wrapped Laplacian method must be 'sincos' or 'wrapped', got {method!r}")
    out = torch.zeros_like(phase)
    if method == "sincos":
        s, c = torch.sin(phase), torch.cos(phase)
        for a, (sp, sm), (cp, cm) in (
            (a, (sp, sm), (cp, cm))
            for (a, sp, sm), (_, cp, cm) in zip(_replicate_neighbours(s), _replicate_neighbours(c))
        ):
            out = out + (c * (sp + sm - 2 * s) - s * (cp + cm - 2 * c)) / h[a] ** 2
        return out
    two_pi = 2 * math.pi
    for a, pp, pm in _replicate_neighbours(phase):
        dp = torch.remainder(pp - phase + math.pi, two_pi) - math.pi
        dm = torch.remainder(pm - phase + math.pi, two_pi) - math.pi
        out = out + (dp + dm) / h[a] ** 2
    return out


def operator_norm_bound(h, b_zyx, fitted: bool = False) -> dict:
    """Norm bounds used for the primal-dual step sizes (masks have entries in [0, 1])."""
    inv2 = sum(1.0 / v**2 for v in h)
    return {
        "grad": math.sqrt(4 * inv2),
        "sym_grad": math.sqrt(4 * inv2),
        "laplacian": 4 * inv2,
        "wave": stencil_norm(fitted_wave_weights(h, b_zyx) if fitted else stencil_weights(h, b_zyx)),
    }

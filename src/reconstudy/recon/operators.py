"""Linear operators of the plane-wise reconstruction problems, each with its adjoint.

All operators act on a *batch of planes*: images ``(B, n1, n2)`` and multi-coil k-space
``(B, C, n1, n2)``. To avoid an ``fftshift`` pair per iteration, arrays are held in the
*unshifted* layout: ``x_u = ifftshift(x)`` over the plane axes, so that the centred unitary
transform of :mod:`reconstudy.fourier` becomes a plain ``fft2`` (``fftc(x) =
fftshift(fft2(x_u))``). :func:`to_unshifted` / :func:`to_centred` convert.

Operators (forward ``apply``, adjoint ``adjoint``; tested with <Ax, y> = <x, A^H y>):

* :class:`SenseOp` ``A x = M F (S x)``, with coil maps S, unitary FFT F and sampling mask M.
* :class:`WaveletOp` orthonormal periodic Daubechies wavelet (Mallat, separable per level).
* :class:`FiniteDifferenceOp` periodic forward differences along both plane axes.

Every operator takes an array module ``xp`` (numpy or cupy) so the same code runs on a GPU.

References:
    Pruessmann KP, et al. Advances in sensitivity encoding with arbitrary k-space
    trajectories. Magn Reson Med 2001;46:638-651.
    Mallat S. A Wavelet Tour of Signal Processing. 3rd ed., Academic Press 2009 (ch. 7).
    Daubechies I. Ten Lectures on Wavelets. SIAM 1992.
"""

from __future__ import annotations

import os

import numpy as np
import pywt
import scipy.fft as sfft

PLANE_AXES = (-2, -1)


def fft_workers() -> int:
    """Threads for scipy's FFT: ``RECONSTUDY_THREADS``, else ``OMP_NUM_THREADS``, else all visible cores.

    Snakemake sets ``OMP_NUM_THREADS`` to a job's declared ``threads``, so a workflow job's FFTs
    stay within what the scheduler gave it (two 1-thread jobs on 2 cores no longer run 4 threads).
    """
    ours = os.environ.get("RECONSTUDY_THREADS", "").strip()
    if ours:
        if not ours.isdigit() or int(ours) < 1:
            raise ValueError(f"RECONSTUDY_THREADS={ours!r}: give a whole number of threads >= 1, or unset it")
        return int(ours)
    # OpenMP allows a nested list ("4,2"); its first entry is the outer level
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if omp.isdigit() and int(omp) >= 1:
        return int(omp)
    return len(os.sched_getaffinity(0))


def fft2(x, xp=np, inverse=False):
    """Unitary, unshifted 2D FFT over the last two axes (numpy: scipy.fft, threaded)."""
    if xp is np:
        func = sfft.ifft2 if inverse else sfft.fft2
        return func(x, axes=PLANE_AXES, norm="ortho", workers=fft_workers())
    func = xp.fft.ifft2 if inverse else xp.fft.fft2
    return func(x, axes=PLANE_AXES, norm="ortho")


def to_unshifted(x, xp=np):
    return xp.fft.ifftshift(x, axes=PLANE_AXES)


def to_centred(x, xp=np):
    return xp.fft.fftshift(x, axes=PLANE_AXES)


class SenseOp:
    """``A x = M F (S x)``: image batch ``(B, n1, n2)`` to masked coil k-space ``(B, C, n1, n2)``.

    Args:
        maps: coil sensitivities ``(B, C, n1, n2)`` (or broadcastable), unshifted layout.
        mask: sampling mask broadcastable to ``(B, C, n1, n2)``, unshifted layout.
        xp: array module.

    With sum_c |S_c|^2 <= 1 (ESPIRiT maps) and a unitary F, ||A|| <= 1, so gradient steps of
    size 1 are safe.
    """

    def __init__(self, maps, mask, xp=np):
        self.maps, self.xp = maps, xp
        self.maps_conj = xp.conj(maps)
        self.mask = mask.astype(np.float32) if mask.dtype == bool else mask

    def apply(self, x):
        return self.mask * fft2(self.maps * x[:, None], self.xp)

    def adjoint(self, y):
        coil_images = fft2(self.mask * y, self.xp, inverse=True)
        coil_images *= self.maps_conj
        return coil_images.sum(axis=1)

    def residual_gradient(self, x, y):
        """``A^H (A x - y)`` for data ``y`` that is zero off the mask, with one coil temporary."""
        k = fft2(self.maps * x[:, None], self.xp)
        k *= self.mask
        k -= y
        k = fft2(k, self.xp, inverse=True)
        k *= self.maps_conj
        return k.sum(axis=1)

    def normal(self, x):
        """``A^H A x``."""
        k = fft2(self.maps * x[:, None], self.xp)
        k *= self.mask
        k = fft2(k, self.xp, inverse=True)
        k *= self.maps_conj
        return k.sum(axis=1)


def _take(x, axis, start, stop, step=1):
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, stop, step)
    return tuple(index)


class WaveletOp:
    """Orthonormal periodic separable wavelet transform of the last N axes (N = 2 or 3, Mallat ordering).

    The coefficient array has the image's (padded) shape: each level transforms every one of the
    N axes of the current approximation block, which then sits in the low corner
    ``[:m_1, ..., :m_N]`` (halved per level) and is transformed again. Each axis is zero-padded
    to a multiple of ``2**levels``; ``adjoint`` crops back, so ``adjoint(apply(x)) == x`` and
    ``apply`` is an isometry (a tensor product of orthonormal 1D transforms is orthonormal).

    Args:
        shape: shape of the transformed axes, ``(n1, n2)`` for planes or ``(n0, n1, n2)`` for a
            3D block (the leading array axes, if any, are batch axes).
        wavelet: a PyWavelets orthogonal family name (``haar``, ``db2``, ``db4``, ...): only its
            filter coefficients are used.
        levels: decomposition levels (the same on every axis).
    """

    def __init__(self, shape, wavelet="db4", levels=4, xp=np):
        self.shape, self.levels, self.xp = tuple(int(n) for n in shape), int(levels), xp
        if len(self.shape) not in (2, 3):
            raise ValueError(f"WaveletOp transforms 2 or 3 axes, got shape {shape}")
        block = 2**self.levels
        self.padded = tuple(-(-n // block) * block for n in self.shape)
        if min(self.padded) // block < 1:
            raise ValueError(f"plane {shape} is too small for {levels} wavelet levels")
        filters = pywt.Wavelet(wavelet)
        if not filters.orthogonal:
            raise ValueError(f"wavelet {wavelet!r} is not orthogonal; use haar or dbN")
        self.low = [float(h) for h in filters.rec_lo]
        n = len(self.low)
        self.high = [(-1) ** k * self.low[n - 1 - k] for k in range(n)]
        self.approx_shape = tuple(p // block for p in self.padded)
        self.axes = tuple(range(-len(self.shape), 0))

    def approx_index(self):
        """Index of the unpenalised approximation band in a coefficient array."""
        return (Ellipsis, *(slice(0, m) for m in self.approx_shape))

    def _analysis(self, x, axis):
        """One level along ``axis``: returns [low | high] of the same length."""
        xp, n, taps = self.xp, x.shape[axis], len(self.low)
        wrap = xp.concatenate([x, x[_take(x, axis, 0, taps - 2)]], axis=axis) if taps > 2 else x
        lo = hi = None
        for k in range(taps):
            part = wrap[_take(wrap, axis, k, k + n, 2)]
            lo = part * self.low[k] if lo is None else lo + part * self.low[k]
            hi = part * self.high[k] if hi is None else hi + part * self.high[k]
        return xp.concatenate([lo, hi], axis=axis)

    def _synthesis(self, c, axis):
        xp, n, taps = self.xp, c.shape[axis], len(self.low)
        lo, hi = c[_take(c, axis, 0, n // 2)], c[_take(c, axis, n // 2, n)]
        shape = list(c.shape)
        shape[axis] = n + taps - 2
        out = xp.zeros(shape, dtype=c.dtype)
        for k in range(taps):
            out[_take(out, axis, k, k + n, 2)] += lo * self.low[k] + hi * self.high[k]
        if taps > 2:
            out[_take(out, axis, 0, taps - 2)] += out[_take(out, axis, n, n + taps - 2)]
        return out[_take(out, axis, 0, n)]

    def apply(self, x):
        if self.shape != self.padded:
            pad = [(0, 0)] * (x.ndim - len(self.shape))
            pad += [(0, p - n) for n, p in zip(self.shape, self.padded)]
            c = self.xp.pad(x, pad)
        else:
            c = x.copy()
        sizes = self.padded
        for _ in range(self.levels):
            index = (Ellipsis, *(slice(0, m) for m in sizes))
            block = c[index]
            for axis in reversed(self.axes):
                block = self._analysis(block, axis)
            c[index] = block
            sizes = tuple(m // 2 for m in sizes)
        return c

    def adjoint(self, c):
        c = c.copy()
        sizes = self.approx_shape
        for _ in range(self.levels):
            sizes = tuple(2 * m for m in sizes)
            index = (Ellipsis, *(slice(0, m) for m in sizes))
            block = c[index]
            for axis in self.axes:
                block = self._synthesis(block, axis)
            c[index] = block
        return c[(Ellipsis, *(slice(0, n) for n in self.shape))]


class FiniteDifferenceOp:
    """Periodic forward differences: ``(B, n1, n2) -> (2, B, n1, n2)``; adjoint is minus the divergence."""

    def __init__(self, xp=np):
        self.xp = xp

    def apply(self, x):
        xp = self.xp
        return xp.stack([xp.roll(x, -1, axis=-2) - x, xp.roll(x, -1, axis=-1) - x])

    def adjoint(self, g):
        xp = self.xp
        return (xp.roll(g[0], 1, axis=-2) - g[0]) + (xp.roll(g[1], 1, axis=-1) - g[1])

    norm_squared = 8.0  # ||D||^2 <= 4 per axis pair in 2D

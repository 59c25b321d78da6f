"""3D ESPIRiT: one calibration over the (kz, ky, kx) cube, sensitivities evaluated plane by plane.

3D Cartesian data are reconstructed as independent (kz, ky) planes, one per readout position x,
but the coil sensitivities are smooth in all three directions. Calibrating each plane on its own
2D block of hybrid (x, kz, ky) data throws that smoothness away along x and leaves only
``(c - k + 1)^2`` patches per plane; calibrating once on the 3D calibration cube (kx is fully
sampled, so the cube is as long along kx as we like) gives ``(c - k + 1)^3`` patches of k x k x k
kernels: a better-conditioned signal subspace, hence better maps at high R (benchmarks/RESULTS.md,
issue 3). This is what BART's ``ecalib`` does with 3D data.

Maths. Let V be the signal subspace (right singular vectors of the calibration matrix of
patches above ``threshold``), ``v_r`` its kernels reshaped to ``(C, kz, ky, kx)``. ESPIRiT's
per-voxel operator is ``M(r) = (1/K) sum_d R(d) e^{-i 2 pi d . r / n}`` with ``K = kz ky kx``
kernel positions and ``R(d)`` the ``(C, C)`` autocorrelation of the kernels at lag d
(``(2k-1)^3`` lags); the sensitivity is its eigenvector with eigenvalue ~1. ``R`` is computed
once per volume. The exponential separates, so for the readout position x the x-lags are
contracted first, ``R_x(dz, dy) = (1/kx) sum_dx R(d) e^{-i 2 pi dx x / nx}``, and the plane is
then solved exactly like a 2D calibration (:func:`reconstudy.recon.coils.maps_from_correlation`).
Memory is therefore the calibration (``K C`` squared Gram matrix, built from patch slices) plus
the per-plane matrices of the planes asked for: independent of the number of readout positions.

References:
    Uecker M, et al. ESPIRiT - an eigenvalue approach to autocalibrating parallel MRI: where
    SENSE meets GRAPPA. Magn Reson Med 2014;71:990-1001.
    Uecker M, Lustig M. Estimating absolute-phase maps using ESPIRiT and virtual conjugate coils.
    Magn Reson Med 2017;77:1201-1207 (appendix: the kernel-autocorrelation form of M).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
from scipy import linalg
from scipy.linalg import blas
from scipy.sparse.linalg import eigsh
from threadpoolctl import threadpool_limits

from reconstudy.recon.coils import maps_from_correlation, signed_lags

KERNEL = 6  # largest kernel width along each axis, as BART's ecalib (-k 6); see kernel_for
# Singular values kept: sigma >= THRESHOLD * sigma_max. BART's ecalib default (-t 0.001 on
# sigma^2, i.e. sqrt(0.001) on sigma). The per-plane path's 0.02 keeps noise vectors here: with a
# 3D calibration matrix that cost 0.02 SSIM at R = 12 (benchmarks/RESULTS.md, issue 3).
THRESHOLD = 0.001**0.5
CALIB_MAX = 24  # calibration extent per axis at most (BART's ecalib -r 24): bounds the Gram cost
CHUNK_BYTES = 64 * 2**20  # patch rows / kernel spectra processed at once


def calibration_cube(echo_data, calib_zy, whitening=None, limit=CALIB_MAX) -> np.ndarray:
    """Centred calibration cube ``(C, cz, cy, cx)`` of one echo's k-space ``(C, kz, ky, kx)``.

    Args:
        echo_data: centred k-space of one echo, ``(coil, kz, ky, kx)``.
        calib_zy: fully sampled centred box ``(cz, cy)`` of the (kz, ky) mask.
        whitening: optional ``(C, C)`` noise-whitening matrix applied to the coil axis.
        limit: largest extent per axis. kx is fully sampled, so its extent is ``min(limit, nx)``.

    The Gram matrix costs ``rows * (C k^3)^2`` with ``rows = prod(c - k + 1)``: 24 per axis
    keeps a 32-coil calibration at about a minute on two cores.
    """
    nz, ny, nx = echo_data.shape[1:]
    cz, cy, cx = min(calib_zy[0], limit), min(calib_zy[1], limit), min(nx, limit)
    starts = (nz // 2 - cz // 2, ny // 2 - cy // 2, nx // 2 - cx // 2)
    cube = np.asarray(
        echo_data[
            :,
            starts[0] : starts[0] + cz,
            starts[1] : starts[1] + cy,
            starts[2] : starts[2] + cx,
        ],
        dtype=np.complex64,
    )
    if whitening is not None:
        cube = np.einsum("dc,czyx->dzyx", whitening, cube, optimize=True).astype(np.complex64)
    return cube


@dataclass(frozen=True)
class Calibration:
    """One volume's 3D ESPIRiT calibration: all :func:`plane_maps` needs.

    Attributes:
        correlation: ``(C, C, Lz, Ly, Lx)`` kernel autocorrelation (:func:`kernel_correlation`).
        kernel: kernel widths ``(kz, ky, kx)``.
        reference: ``(C,)`` principal coil combination of the calibration data (the first
            eigenvector of its coil covariance); the maps are phase-referenced to this virtual
            coil, whose phase is smooth wherever the object is, unlike a single coil's far from it.
    """

    correlation: np.ndarray
    kernel: tuple[int, int, int]
    reference: np.ndarray


def kernel_for(cube_shape, largest: int = KERNEL, smallest: int = 3) -> int:
    """The largest kernel width whose calibration matrix has at least as many rows as columns.

    A ``(C, cz, cy, cx)`` cube gives ``prod(c - k + 1)`` patch rows of ``C k^3`` values. With
    fewer rows than columns the signal subspace is not determined by the data and the maps are
    poor: with a 12 x 12 (kz, ky) calibration and 8 coils, k = 6 (931 rows, 1,728 columns) gave
    CS at R = 6 an SSIM of 0.755 on a 72 x 88 x 72 phantom, k = 5 (1,280 x 1,000) 0.957, close
    to the 0.969 of maps from the fully sampled data. BART's k = 6 assumes its 24-wide
    calibration (6,859 rows). Never below ``smallest`` (nor above the cube).
    """
    n_coils, *extent = (int(v) for v in cube_shape)
    for k in range(min(largest, *extent), smallest - 1, -1):
        if np.prod([c - k + 1 for c in extent]) >= n_coils * k**3:
            return k
    return max(min(smallest, *extent), 1)


def calibrate(cube, kernel=None, threshold=THRESHOLD) -> Calibration:
    """:class:`Calibration` from a centred calibration cube ``(C, cz, cy, cx)``.

    ``kernel``: width (or ``(kz, ky, kx)`` widths); default :func:`kernel_for` the cube.
    """
    kernel = kernel_for(cube.shape) if kernel is None else kernel
    ks = (kernel,) * 3 if np.isscalar(kernel) else tuple(kernel)
    flat = cube.reshape(cube.shape[0], -1).astype(np.complex128)
    _, vectors = np.linalg.eigh(flat @ np.conj(flat.T))
    return Calibration(kernel_correlation(cube, ks, threshold), ks, vectors[:, -1].astype(np.complex64))


def kernel_correlation(cube, kernel=KERNEL, threshold=THRESHOLD) -> np.ndarray:
    """Autocorrelation ``R(d)`` ``(C, C, Lz, Ly, Lx)`` of the ESPIRiT signal-subspace kernels.

    Args:
        cube: centred calibration k-space ``(C, cz, cy, cx)``.
        kernel: kernel width (int, all axes) or ``(kz, ky, kx)``.
        threshold: keep singular vectors with ``sigma >= threshold * sigma_max``.

    Lag axes hold ``0..k-1, -(k-1)..-1`` (``L = 2k - 1``). Not normalised by the kernel size.
    """
    c = cube.shape[0]
    ks = (kernel,) * 3 if np.isscalar(kernel) else tuple(kernel)
    if any(n <= k for n, k in zip(cube.shape[1:], ks)):
        raise ValueError(
            f"calibration region {'x'.join(map(str, cube.shape[1:]))} must be larger than the "
            f"ESPIRiT kernel {'x'.join(map(str, ks))}"
        )
    if not cube.any():  # no signal, no subspace: zero maps (the caller names the calibration region)
        return np.zeros((c, c, *(2 * k - 1 for k in ks)), dtype=np.complex64)
    gram = _gram(cube, ks)
    # Only the signal subspace is needed: LAPACK's MRRR driver for the eigenpairs above
    # threshold^2 times the largest eigenvalue (sigma^2) is ~10x faster than numpy's full eigh.
    # A fixed ARPACK start vector keeps the result deterministic (the cutoff moves the MRRR bounds).
    start = np.ones(gram.shape[0], dtype=gram.dtype)
    top = eigsh(gram, k=1, which="LA", v0=start, return_eigenvectors=False, tol=1e-4)[0]
    _, right = linalg.eigh(gram, subset_by_value=(threshold**2 * top, np.inf), driver="evr")
    vecs = right.T.reshape(-1, c, *ks)  # (r, C, kz, ky, kx)
    # Autocorrelation on a 2k grid per axis (no wrap: the support is 2k - 1), summed over r.
    grid = tuple(2 * k for k in ks)
    n_grid = int(np.prod(grid))
    auto = np.zeros((n_grid, c, c), dtype=np.complex128)
    step = max(1, CHUNK_BYTES // (c * n_grid * 8))
    for r0 in range(0, vecs.shape[0], step):
        spec = sfft.fftn(vecs[r0 : r0 + step], s=grid, axes=(-3, -2, -1))  # complex64 in and out
        spec = spec.reshape(spec.shape[0], c, n_grid).transpose(2, 1, 0)  # (G, C, r)
        auto += spec @ np.conj(spec.transpose(0, 2, 1))
    auto = auto.transpose(1, 2, 0).reshape(c, c, *grid)
    corr = np.fft.ifftn(auto, axes=(-3, -2, -1))  # lag d at index d mod 2k
    index = [np.r_[0:k, k + 1 : 2 * k] for k in ks]
    return corr[..., index[0][:, None, None], index[1][None, :, None], index[2][None, None, :]].astype(
        np.complex64
    )


def _gram(cube, ks):
    """``A^H A`` of the calibration matrix A (rows: patch positions, columns: ``C kz ky kx``).

    Built from one slice of patch positions along kz at a time, so A is never held whole.
    """
    c = cube.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(cube, ks, axis=(1, 2, 3))  # (C, pz, py, px, k..)
    pz, py, px = windows.shape[1:4]
    cols = c * int(np.prod(ks))
    gram = np.zeros((cols, cols), dtype=np.complex64, order="F")
    step = max(1, CHUNK_BYTES // (py * px * cols * 8))
    for z0 in range(0, pz, step):
        block = windows[:, z0 : z0 + step].transpose(1, 2, 3, 0, 4, 5, 6).reshape(-1, cols)
        # Hermitian rank-k update (half the flops of a matmul); fills the upper triangle only.
        gram = blas.cherk(1.0, block, beta=1.0, c=gram, trans=2, overwrite_c=True)
    upper = np.triu(gram)
    return upper + np.conj(np.triu(gram, 1).T)


def plane_maps(calibration: Calibration, positions, nx, plane_shape, crop=0.8, iterations=12, xp=np):
    """Unshifted-layout maps ``(B, C, nz, ny)`` of the readout positions ``positions`` (centred x).

    Args:
        calibration: :func:`calibrate` output.
        positions: centred readout indices x (0..nx-1, the planes of ``reconstudy.recon.planes``).
        nx: number of readout positions.
        plane_shape: ``(nz, ny)``.
        crop: zero the maps where the largest eigenvalue is below this (BART: 0.8).
        iterations: power iterations per pixel.
        xp: array module for the per-plane eigenproblem.

    Memory: ``B C^2 nz ny 8`` bytes; pass few positions when C is large.

    Returns:
        complex64 maps with ``sum_c |S_c|^2 = 1`` inside the support, zero outside, and the
        virtual coil ``sum_c conj(w_c) S_c`` (w = ``calibration.reference``) real and >= 0.
    """
    corr, ks = calibration.correlation, calibration.kernel
    # The centred position x is the unshifted index (x - nx//2) mod nx of the periodic grid.
    unshifted = (np.asarray(positions) - nx // 2) % nx
    lags = signed_lags(corr.shape[-1])
    phase = np.exp(-2j * np.pi * np.outer(lags, unshifted) / nx).astype(np.complex64)  # (Lx, B)
    with threadpool_limits(1, user_api="blas"):
        plane_corr = np.moveaxis(corr @ phase, -1, 0) / ks[2]  # (B, C, C, Lz, Ly)
        return maps_from_correlation(
            xp.asarray(np.ascontiguousarray(plane_corr)),
            plane_shape,
            ks[0] * ks[1],
            crop,
            iterations,
            xp,
            reference=calibration.reference,
        )

"""Receiver-coil handling: noise prewhitening and coil sensitivity maps per plane.

The estimators here calibrate *per plane* from the fully sampled calibration region of that
plane's hybrid k-space (3D data: after the inverse FFT along the readout kx, each readout
position x is a 2D (kz, ky) plane; multi-slice data: each slice is a (ky, kx) plane); this is
``coil_method="espirit2d"``, the default for multi-slice data. 3D encodings default to one
calibration per volume (:mod:`reconstudy.recon.espirit3d`), which reuses
:func:`maps_from_correlation` for each plane. Maps are computed once per volume from the first
echo and reused for every echo and method, so multi-echo phase stays consistent.

Two estimators:

* :func:`espirit_maps` (default): ESPIRiT. The calibration matrix of k x k patches gives its
  signal subspace V (eigenvectors of its Gram matrix above ``threshold``); per pixel, the
  Hermitian matrix ``M(x) = (1/k^2) sum_r g_r(x) g_r(x)^H`` (g_r the image-space kernels) has the
  sensitivity as its eigenvector with eigenvalue ~1. M is band-limited ((2k-1)^2 lags), so it is
  assembled with two small DFT-matrix products per coil pair, and its top eigenvector found by
  power iteration vectorised over pixels. Maps are zeroed where the eigenvalue is below
  ``crop`` (0.8, as BART's ``ecalib``) and phase-referenced to coil 0.
* :func:`lowres_maps`: Hann-windowed calibration images divided by their root-sum-of-squares.

References:
    Uecker M, et al. ESPIRiT - an eigenvalue approach to autocalibrating parallel MRI: where
    SENSE meets GRAPPA. Magn Reson Med 2014;71:990-1001.
    Pruessmann KP, et al. SENSE: sensitivity encoding for fast MRI. Magn Reson Med 1999;42:952-962.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from reconstudy.recon.operators import PLANE_AXES


def mix_coils(matrix: np.ndarray, array: np.ndarray) -> np.ndarray:
    """``(D, C)`` coil matrix (whitening, compression) applied to the leading coil axis of ``array``."""
    return np.einsum("dc,c...->d...", matrix, array, optimize=True).astype(np.complex64, copy=False)


def whitening_matrix(noise_covariance: np.ndarray) -> np.ndarray:
    """``W = sqrt(mean diag Psi) L^{-1}`` with ``Psi = L L^H``: decorrelates coil noise.

    The scalar keeps the data's overall scale, so images stay "scaled like the input".
    """
    psi = np.asarray(noise_covariance, dtype=np.complex128)
    if psi.ndim != 2 or psi.shape[0] != psi.shape[1]:
        raise ValueError(f"noise covariance must be square (coil, coil), got shape {psi.shape}")
    if not np.all(np.isfinite(psi)):
        raise ValueError("noise covariance contains NaN or inf")
    try:
        chol = np.linalg.cholesky(psi)
    except np.linalg.LinAlgError as err:
        raise ValueError(f"noise covariance is not positive definite ({err})") from err
    scale = np.sqrt(np.real(np.trace(psi)) / psi.shape[0])
    return (scale * np.linalg.inv(chol)).astype(np.complex64)


def centre_region(kspace, size, xp=np):
    """The centred ``(c1, c2)`` block of centred k-space ``(..., n1, n2)``."""
    n1, n2 = kspace.shape[-2:]
    c1, c2 = min(size[0], n1), min(size[1], n2)
    s1, s2 = n1 // 2 - c1 // 2, n2 // 2 - c2 // 2
    return kspace[..., s1 : s1 + c1, s2 : s2 + c2]


def _patches(calib, kernel, xp):
    """Calibration matrices ``(B, positions, C*k*k)`` from ``(B, C, c1, c2)``."""
    b, c, c1, c2 = calib.shape
    view = xp.lib.stride_tricks.sliding_window_view(calib, (kernel, kernel), axis=(-2, -1))
    view = view.transpose(0, 2, 3, 1, 4, 5)  # (B, p1, p2, C, k, k)
    return view.reshape(b, (c1 - kernel + 1) * (c2 - kernel + 1), c * kernel * kernel)


def kernel_for(calib_shape, largest: int = 6) -> int:
    """Per-plane ESPIRiT kernel width: at most half the narrower calibration side, at most ``largest``.

    Measured on an 8- and a 32-coil phantom (benchmarks/RESULTS.md, "Per-plane ESPIRiT kernel"):
    a k = 6 kernel on a 7-9 wide calibration square left 1-29 % of the object with any
    sensitivity (maps error 0.7-0.99), while k <= c / 2 covered all of it with errors <= 0.003;
    from c = 12 on, k = 6 (BART's default) is as good as any.
    """
    return max(2, min(largest, min(int(c) for c in calib_shape) // 2))


def espirit_maps(calib, shape, kernel=None, threshold=0.02, crop=0.8, xp=np, iterations=12):
    """ESPIRiT sensitivities for a batch of planes (see :func:`_espirit_maps`).

    ``kernel=None``: :func:`kernel_for` the calibration region.

    Small dense ``eigh``/matmul calls run far faster single-threaded than with a busy OpenBLAS
    pool (20x measured on the shared 2-core machine), so BLAS is limited to one thread here.
    """
    kernel = kernel_for(calib.shape[-2:]) if kernel is None else kernel
    with threadpool_limits(1, user_api="blas"):
        return _espirit_maps(calib, shape, kernel, threshold, crop, xp, iterations)


def _espirit_maps(calib, shape, kernel, threshold, crop, xp, iterations):
    """ESPIRiT sensitivities for a batch of planes, in the unshifted layout of the operators.

    Args:
        calib: centred calibration k-space ``(B, C, c1, c2)``.
        shape: plane shape ``(n1, n2)``.
        kernel: ESPIRiT kernel width k.
        threshold: keep singular vectors with sigma >= threshold * sigma_max.
        crop: zero the maps where the largest eigenvalue is below this.
        xp: array module.
        iterations: power iterations per pixel.

    Memory: ``B * C^2 * n1 * n2 * 8`` bytes for the per-pixel matrices; callers pass few planes
    when C is large.

    Returns:
        ``(B, C, n1, n2)`` complex64 maps with ``sum_c |S_c|^2 = 1`` inside the support.
    """
    b, c, c1, c2 = calib.shape
    if min(c1, c2) <= kernel:
        raise ValueError(f"calibration region {c1}x{c2} must be larger than the ESPIRiT kernel {kernel}")
    n1, n2 = shape
    matrix = _patches(calib.astype(np.complex64), kernel, xp)
    # Right singular vectors from the Gram matrix (much faster than an SVD of the tall matrix).
    gram = xp.conj(matrix.transpose(0, 2, 1)) @ matrix
    power, right = xp.linalg.eigh(gram)  # ascending; power = sigma^2
    # A plane without signal (zero calibration) has no signal subspace: zero maps, not eigh's
    # arbitrary basis of the null matrix.
    keep = (power >= threshold**2 * power[:, -1:]) & (power[:, -1:] > 0)
    vecs = (right * keep[:, None, :]).transpose(0, 2, 1)  # (B, r, C*k*k)
    vecs = vecs.reshape(b, -1, c, kernel, kernel)
    # Autocorrelation of the kernels on a 2k grid (no wrap: the support is 2k-1).
    grid = 2 * kernel
    spec = xp.fft.fft2(vecs, s=(grid, grid), axes=PLANE_AXES)  # (B, r, C, g, g)
    auto = xp.einsum("brcuv,brduv->bcduv", spec, xp.conj(spec))
    corr = xp.fft.ifft2(auto, axes=PLANE_AXES)  # (B, C, C, g, g); lag d at index d mod g
    lags = np.r_[0:kernel, grid - kernel + 1 : grid]
    corr = corr[..., lags[:, None], lags[None, :]].astype(np.complex64)  # (B, C, C, L, L)
    return maps_from_correlation(corr, (n1, n2), kernel**2, crop, iterations, xp)


def maps_from_correlation(corr, shape, positions, crop=0.8, iterations=12, xp=np, reference=None):
    """Per-pixel ESPIRiT eigenproblem on a plane from the kernel autocorrelation at signed lags.

    ``M(x) = (1/K) sum_d corr(d) e^{-i 2 pi d x / n}``, K the number of kernel positions: only
    the ``L = 2k - 1`` lags per axis of ``corr`` are non-zero, so two small DFT-matrix products
    replace an FFT of C^2 full planes. Its top eigenvector is the conjugate of the sensitivity
    (checked against known maps in tests/test_recon_coils.py).

    Args:
        corr: ``(B, C, C, L1, L2)`` autocorrelation, lag axis order ``0..k-1, -(k-1)..-1``.
        shape: plane shape ``(n1, n2)``.
        positions: K, the normaliser that makes the sensitivity's eigenvalue ~1.
        crop: zero the maps where the largest eigenvalue is below this.
        iterations: power iterations per pixel.
        xp: array module.
        reference: ``(C,)`` coil combination w whose virtual coil ``sum_c conj(w_c) S_c`` gets
            zero phase (default: coil 0, i.e. ``S_0`` real and non-negative).

    Returns:
        ``(B, C, n1, n2)`` complex64 maps, unshifted layout, phase-referenced to ``reference``.
    """
    b, c = corr.shape[:2]
    n1, n2 = shape
    lag1, lag2 = (signed_lags(n) for n in corr.shape[-2:])
    dft1 = xp.asarray(np.exp(-2j * np.pi * np.outer(np.arange(n1), lag1) / n1).astype(np.complex64))
    dft2 = xp.asarray(np.exp(-2j * np.pi * np.outer(lag2, np.arange(n2)) / n2).astype(np.complex64))
    operator = dft1 @ (corr @ dft2)
    operator /= positions
    operator = operator.reshape(b, c, c, n1 * n2)
    top, value = _power_iteration(operator, iterations, xp)
    # top ~ conj(S) e^{i phi}; ref = sum_c w_c top_c = e^{i phi} conj(virtual-coil sensitivity).
    if reference is None:
        ref = top[:, :1]
    else:
        ref = (xp.asarray(reference, dtype=np.complex64)[None, :, None] * top).sum(axis=1, keepdims=True)
    top = xp.conj(top * xp.conj(ref) / xp.maximum(xp.abs(ref), 1e-12))
    maps = top * (value >= crop)[:, None]
    return maps.reshape(b, c, n1, n2).astype(np.complex64)


def signed_lags(length):
    """Signed lags ``0..k-1, -(k-1)..-1`` of an autocorrelation axis of ``length = 2k - 1``."""
    k = (length + 1) // 2
    return np.r_[0:k, -(k - 1) : 0]


def _power_iteration(operator, iterations, xp):
    """Dominant eigenvector and eigenvalue of Hermitian ``(B, C, C, P)`` matrices, per pixel P.

    The ESPIRiT operator has eigenvalue ~1 on the sensitivity and a clear gap to the rest,
    so a few iterations from the coil-sum start vector converge; loops over coils keep every
    numpy call vectorised over pixels.
    """
    c = operator.shape[1]
    vec = operator.sum(axis=2)
    for _ in range(iterations):
        new = operator[:, :, 0] * vec[:, None, 0]
        for d in range(1, c):
            new += operator[:, :, d] * vec[:, None, d]
        norm = xp.sqrt((xp.abs(new) ** 2).sum(axis=1, keepdims=True))
        vec = new / xp.maximum(norm, 1e-12)
    return vec, norm[:, 0]


def lowres_maps(calib, shape, xp=np, floor=0.05):
    """Simple maps: Hann-windowed calibration coil images over their RSS (unshifted layout)."""
    b, c, c1, c2 = calib.shape
    n1, n2 = shape
    window = xp.asarray(np.outer(np.hanning(c1 + 2)[1:-1], np.hanning(c2 + 2)[1:-1]), dtype=np.float32)
    padded = xp.zeros((b, c, n1, n2), dtype=np.complex64)
    centre_region(padded, (c1, c2), xp)[...] = calib * window
    images = xp.fft.ifft2(xp.fft.ifftshift(padded, axes=PLANE_AXES), axes=PLANE_AXES)
    rss = xp.sqrt((xp.abs(images) ** 2).sum(axis=1, keepdims=True))
    support = rss > floor * rss.reshape(b, -1).max(axis=1)[:, None, None, None]
    return (images / xp.maximum(rss, 1e-30) * support).astype(np.complex64)

"""``reconstruct``: canonical k-space to a complex ``(echo, z, y, x)`` image, by plane batches.

Pipeline for every echo: optional noise prewhitening (from ``KSpace.noise_covariance``) ->
planes (3D: inverse FFT along kx, each x a (kz, ky) problem; 2D: each slice a (ky, kx)
problem) -> coil maps per plane (ESPIRiT from the calibration box, computed once per volume
from echo 0 and reused) -> zero-filled, CG-SENSE or CS per batch -> image. Data are divided by
a per-echo RMS intensity (``||y|| / sqrt(n_voxels)``) before solving and multiplied back after,
so ``lam`` is scale-free and the output is scaled like the input. See docs/reconstruction.md.
"""

from __future__ import annotations

import logging

import numpy as np

from reconstudy.io.kspace import KSpace
from reconstudy.progress import Progress
from reconstudy.recon import coils, espirit3d, planes
from reconstudy.recon.cs import REGULARISERS, cs_recon
from reconstudy.recon.operators import SenseOp, to_centred, to_unshifted
from reconstudy.recon.sense import cg_sense
from reconstudy.recon.zerofill import zero_filled

log = logging.getLogger("reconstudy")

METHODS = ("zf", "sense", "cs")
DEFAULTS = {
    "zf": {},
    "sense": {"lam": 1e-3, "iterations": 30, "tol": 1e-4},
    "cs": {"lam": 4e-3, "iterations": 40, "tol": 1e-4},
}
BATCH_BYTES = 1 * 2**30  # solver working set per batch
SLAB_BYTES = 1 * 2**30  # extracted plane k-space per kx-FFT pass (the slab's maps take as much)
ESPIRIT_BYTES = 1 * 2**30  # per-pixel ESPIRiT matrices per call
COIL_METHODS = ("espirit", "espirit3d", "espirit2d", "lowres")
MIN_READOUT_3D = 2 * espirit3d.KERNEL  # readout positions below which espirit means espirit2d


def array_module(device: str):
    """numpy, or cupy when ``device == "cuda"`` and cupy imports (else numpy, with a log line)."""
    if device == "cuda":
        try:
            import cupy

            return cupy
        except ImportError:
            log.warning("device 'cuda' requested but cupy is not installed: reconstructing on the CPU")
    elif device != "cpu":
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return np


def reconstruct(
    kspace: KSpace,
    method: str,
    *,
    lam: float | None = None,
    iterations: int | None = None,
    tol: float | None = None,
    batch_planes: int | None = None,
    slab_planes: int | None = None,
    device: str = "cpu",
    coil_maps: np.ndarray | None = None,
    coil_method: str = "espirit",
    coil_compression: int | None = None,
    regulariser: str = "wavelet",
    wavelet: str = "haar",
    levels: int = 4,
    seed=0,
) -> np.ndarray:
    """Reconstruct every echo of ``kspace`` with ``method`` (``zf``, ``sense`` or ``cs``).

    Args:
        kspace: canonical k-space; ``sampling_mask`` says what was acquired.
        method: ``zf`` (zero-filled, sensitivity-combined), ``sense`` (CG-SENSE) or ``cs``.
        lam: regularisation weight (SENSE Tikhonov; CS L1/TV), relative to unit RMS intensity.
        iterations: maximum solver iterations.
        tol: relative-change (CS) or residual (SENSE) stopping tolerance.
        batch_planes: planes per solver batch (default: fits ~1 GiB of working memory).
        slab_planes: planes extracted per pass of the kx FFT (default: ~1 GiB of plane k-space;
            rounded to a multiple of the batch).
        device: ``cpu`` or ``cuda`` (cupy; falls back to the CPU if cupy is missing).
        coil_maps: optional ``(coil, z, y, x)`` sensitivities; default estimated per plane.
        coil_method: how maps are estimated (see :func:`resolve_coil_method`): ``espirit``
            (default: ``espirit3d`` for 3D encodings, ``espirit2d`` for multi-slice data),
            ``espirit3d`` (one (kz, ky, kx) calibration per volume), ``espirit2d`` (one
            calibration per plane of hybrid k-space) or ``lowres``.
        coil_compression: when maps are estimated here, compress the (whitened) coils to at most
            this many virtual coils first (:func:`coil_compression_matrix`); None, or a number
            no smaller than the coil count, keeps every coil. Given ``coil_maps`` of rank V < C
            over the coil axis (as :func:`estimate_coil_maps` returns them with compression),
            the data are compressed to V virtual coils by themselves: exact, as the dropped
            directions hold no signal.
        regulariser: CS penalty, ``wavelet`` (L1, orthonormal Daubechies, 2D per plane),
            ``wavelet3d`` (3D wavelet over each batch of consecutive readout positions; 3D
            encodings only: a 2D (multi-slice) acquisition keeps the 2D wavelet, and batches of
            fewer than ``2**levels`` planes fall back to it) or ``tv``.
        wavelet, levels: wavelet family and depth for the L1-wavelet penalty.
        seed: seed for the cycle-spinning shifts (results are deterministic given it).

    Returns:
        complex64 ``(echo, z, y, x)`` image.
    """
    if method not in METHODS:
        raise ValueError(f"unknown reconstruction method {method!r}; choose one of {', '.join(METHODS)}")
    settings = {**DEFAULTS[method]}
    settings.update(
        {k: v for k, v in {"lam": lam, "iterations": iterations, "tol": tol}.items() if v is not None}
    )
    if regulariser not in REGULARISERS:
        raise ValueError(f"unknown CS regulariser {regulariser!r}; choose one of {', '.join(REGULARISERS)}")
    xp = array_module(device)
    data = kspace.data
    planes.finite_check(data, f"k-space of acquisition {kspace.acquisition!r}")
    layout = planes.PlaneLayout.of(data.shape, kspace.encoding)
    coil_method = resolve_coil_method(coil_method, layout)
    n_echo, n_coil = data.shape[:2]
    n1, n2 = layout.plane_shape
    mask = kspace.sampling_mask
    whitening = None if kspace.noise_covariance is None else coils.whitening_matrix(kspace.noise_covariance)
    if coil_maps is not None and coil_maps.shape != (n_coil, *data.shape[2:]):
        raise ValueError(
            f"coil_maps must have shape (coil, z, y, x) = {(n_coil, *data.shape[2:])}, got {coil_maps.shape}"
        )
    if regulariser == "wavelet3d" and layout.encoding != "3d":
        # Multi-slice planes are separately excited slices, not samples of one smooth readout.
        log.info("regulariser wavelet3d on a 2D (multi-slice) acquisition: using the 2D wavelet per slice")
        regulariser = "wavelet"
    calib = planes.calibration_size(mask, layout)
    if coil_maps is None and min(calib) <= 6:
        raise ValueError(
            f"the sampling mask has no fully sampled calibration region (found {calib}); coil maps "
            f"need one of at least 7x7: sample the k-space centre or pass coil_maps"
        )
    if coil_maps is not None:
        virtual, coil_maps = compress_maps(coil_maps)
    else:
        virtual = _requested_compression(data[0], layout, calib, coil_compression, whitening)
    if virtual is not None:
        whitening, n_coil = _compress_after_whitening(virtual, whitening)
    plane_bytes = n_coil * n1 * n2 * 8
    batch = batch_planes or max(1, BATCH_BYTES // (6 * plane_bytes))
    slab = max(batch, ((slab_planes or SLAB_BYTES // plane_bytes) // batch) * batch)
    espirit_batch = max(1, ESPIRIT_BYTES // (3 * n_coil * n_coil * n1 * n2 * 8))
    calibration = (
        None if coil_maps is not None else _calibrate(data[0], layout, calib, coil_method, whitening)
    )
    scales = [planes.echo_scale(data[e]) for e in range(n_echo)]
    rng = np.random.default_rng(seed)
    image = np.zeros((n_echo, *data.shape[2:]), dtype=np.complex64)
    progress = Progress(layout.n_planes * n_echo, f"{method} reconstruction", unit="plane")
    log.info(
        "%s: %d planes of %dx%d, %d coils, %d echoes, batch %d, calibration %s, %s",
        method,
        layout.n_planes,
        n1,
        n2,
        n_coil,
        n_echo,
        batch,
        calib,
        settings,
    )
    for s0 in range(0, layout.n_planes, slab):
        s1 = min(s0 + slab, layout.n_planes)
        maps_slab = None
        for e in range(n_echo):
            ksp = planes.extract_slab(data[e], layout, s0, s1, whitening)
            if maps_slab is None:
                maps_slab = _slab_maps(
                    ksp, coil_maps, layout, s0, s1, calib, coil_method, espirit_batch, calibration
                )
            mask_slab = planes.slab_mask(mask, layout, s0, s1)
            for b0 in range(0, s1 - s0, batch):
                b1 = min(b0 + batch, s1 - s0)
                sub_mask = mask_slab if mask_slab.shape[0] == 1 else mask_slab[b0:b1]
                result = _solve(
                    ksp[b0:b1] / scales[e],
                    sub_mask,
                    maps_slab[b0:b1],
                    method,
                    settings,
                    xp,
                    rng,
                    regulariser,
                    wavelet,
                    levels,
                )
                planes.put_planes(image[e], layout, s0 + b0, s0 + b1, result * scales[e])
                progress.advance(b1 - b0, echo=e)
    if coil_maps is None and not image.any():
        raise ValueError(no_sensitivity_message(calib, n_coil, coil_method))
    return image


def resolve_coil_method(coil_method: str, layout: planes.PlaneLayout) -> str:
    """The estimator ``coil_method`` means for this layout: ``espirit3d``, ``espirit2d`` or ``lowres``.

    ``espirit`` picks ``espirit3d`` for 3D encodings with at least ``MIN_READOUT_3D`` readout
    positions (measured better than per-plane calibration at R >= 6, benchmarks/RESULTS.md) and
    ``espirit2d`` otherwise; an explicit ``espirit3d`` on multi-slice data or a short readout
    falls back to ``espirit2d`` with a log line (the slices are separate excitations).
    """
    if coil_method not in COIL_METHODS:
        raise ValueError(f"coil_method must be one of {', '.join(COIL_METHODS)}, got {coil_method!r}")
    volumetric = layout.encoding == "3d" and layout.n_planes >= MIN_READOUT_3D
    if coil_method == "espirit":
        return "espirit3d" if volumetric else "espirit2d"
    if coil_method == "espirit3d" and not volumetric:
        log.info(
            "coil_method espirit3d needs a 3D encoding with >= %d readout positions (got %s, %d): "
            "calibrating each plane (espirit2d)",
            MIN_READOUT_3D,
            layout.encoding,
            layout.n_planes,
        )
        return "espirit2d"
    return coil_method


def _calibrate(echo_data, layout, calib, coil_method, whitening):
    """Per-volume calibration (:class:`espirit3d.Calibration`), or None for per-plane methods."""
    if coil_method != "espirit3d":
        return None
    cube = espirit3d.calibration_cube(echo_data, calib, whitening=whitening)
    kernel = espirit3d.kernel_for(cube.shape)
    log.info("espirit3d: calibration cube %s (kz, ky, kx), kernel %d", cube.shape[1:], kernel)
    return espirit3d.calibrate(cube, kernel)


def _slab_maps(ksp, coil_maps, layout, s0, s1, calib, coil_method, espirit_batch, calibration=None):
    """Unshifted coil maps ``(B, C, n1, n2)`` for one slab (``ksp`` is unused by ``espirit3d``)."""
    if coil_maps is not None:
        return to_unshifted(planes.slab_maps(coil_maps, layout, s0, s1).astype(np.complex64))
    if coil_method == "espirit3d":
        parts = [
            espirit3d.plane_maps(
                calibration, np.arange(p0, min(p0 + espirit_batch, s1)), layout.n_planes, layout.plane_shape
            )
            for p0 in range(s0, s1, espirit_batch)
        ]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]
    region = coils.centre_region(ksp, calib)
    if coil_method == "lowres":
        return coils.lowres_maps(region, layout.plane_shape)
    parts = [
        coils.espirit_maps(region[i : i + espirit_batch], layout.plane_shape)
        for i in range(0, region.shape[0], espirit_batch)
    ]
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _solve(ksp, mask, maps, method, settings, xp, rng, regulariser, wavelet, levels):
    """One batch: centred k-space in, centred complex images ``(B, n1, n2)`` out (numpy)."""
    y = xp.asarray(to_unshifted(ksp))
    mask_u = xp.asarray(to_unshifted(np.broadcast_to(mask, mask.shape)))
    y *= mask_u
    op = SenseOp(xp.asarray(maps), mask_u, xp)
    if method == "zf":
        x = zero_filled(op, y)
    elif method == "sense":
        x = cg_sense(op, y, settings["lam"], settings["iterations"], settings["tol"])
    else:
        x = cs_recon(
            op,
            y,
            settings["lam"],
            regulariser=regulariser,
            iterations=settings["iterations"],
            tol=settings["tol"],
            wavelet=wavelet,
            levels=levels,
            rng=rng,
        )
    x = to_centred(x, xp)
    return x.get() if hasattr(x, "get") else np.asarray(x)


def estimate_coil_maps(
    kspace: KSpace,
    *,
    coil_method: str = "espirit",
    slab_planes: int | None = None,
    coil_compression: int | None = None,
) -> np.ndarray:
    """Coil sensitivities ``(coil, z, y, x)`` from the calibration region, as :func:`reconstruct` makes them.

    The maps live in the noise-whitened coil space that :func:`reconstruct` works in, so they
    can be passed back as ``coil_maps=`` to reconstruct any acquisition that shares this
    calibration region (every R of a retrospective study) without estimating them again.
    ``coil_method`` as in :func:`reconstruct`; ``espirit3d`` calibrates once per volume and
    then needs no kx FFT at all (its maps depend only on the readout position).

    ``coil_compression=V`` (V < C; otherwise every coil is kept): the maps are estimated for V
    virtual coils (the calibration's principal components, :func:`coil_compression_matrix`),
    ESPIRiT's cost falling with the square of the coil count or faster, and returned in the
    C-coil space (``A^H S_virtual``): maps of rank V, from which :func:`reconstruct` recovers
    the compression by itself.
    """
    data = kspace.data
    planes.finite_check(data, f"k-space of acquisition {kspace.acquisition!r}")
    layout = planes.PlaneLayout.of(data.shape, kspace.encoding)
    coil_method = resolve_coil_method(coil_method, layout)
    n_coil = data.shape[1]
    n1, n2 = layout.plane_shape
    calib = planes.calibration_size(kspace.sampling_mask, layout)
    if min(calib) <= 6:
        raise ValueError(
            f"the sampling mask has no fully sampled calibration region (found {calib}); coil maps "
            "need one of at least 7x7: sample the k-space centre"
        )
    whitening = None if kspace.noise_covariance is None else coils.whitening_matrix(kspace.noise_covariance)
    virtual = _requested_compression(data[0], layout, calib, coil_compression, whitening)
    if virtual is not None:
        whitening, n_coil = _compress_after_whitening(virtual, whitening)
    plane_bytes = n_coil * n1 * n2 * 8
    slab = max(1, slab_planes or SLAB_BYTES // plane_bytes)
    espirit_batch = max(1, ESPIRIT_BYTES // (3 * n_coil * n_coil * n1 * n2 * 8))
    calibration = _calibrate(data[0], layout, calib, coil_method, whitening)
    maps = np.zeros((n_coil, *data.shape[2:]), dtype=np.complex64)
    progress = Progress(layout.n_planes, f"{coil_method} coil maps", unit="plane")
    for s0 in range(0, layout.n_planes, slab):
        s1 = min(s0 + slab, layout.n_planes)
        ksp = None if calibration is not None else planes.extract_slab(data[0], layout, s0, s1, whitening)
        slab_maps = to_centred(
            _slab_maps(ksp, None, layout, s0, s1, calib, coil_method, espirit_batch, calibration)
        )
        for c in range(n_coil):
            planes.put_planes(maps[c], layout, s0, s1, slab_maps[:, c])
        progress.advance(s1 - s0)
    if not maps.any():
        raise ValueError(no_sensitivity_message(calib, n_coil, coil_method))
    if virtual is not None:
        return coils.mix_coils(np.conj(virtual.T), maps)  # A^H S_virtual
    return maps


def coil_compression_matrix(echo_data, layout, calib, virtual: int, whitening=None) -> np.ndarray:
    """``(V, C)`` coil compression: the V principal components of the calibration data.

    Single-matrix SVD compression (Buehrer et al., MRM 2007; Huang et al., MRI 2008): the rows are
    the conjugated leading left singular vectors of the (whitened) calibration k-space, coils by
    samples, so they are orthonormal, keep white noise white and keep the largest share of the
    signal energy any V combinations can.
    """
    n_coil = echo_data.shape[0]
    if not 1 <= int(virtual) <= n_coil:
        raise ValueError(
            f"coil_compression must be between 1 and the {n_coil} coils of the data, got {virtual}"
        )
    if layout.encoding == "3d":
        region = espirit3d.calibration_cube(echo_data, calib, whitening=whitening)
    else:  # multi-slice: the calibration box of every slice
        slab = planes.extract_slab(echo_data, layout, 0, layout.n_planes, whitening)
        region = np.moveaxis(coils.centre_region(slab, calib), 1, 0)
    flat = region.reshape(n_coil, -1).astype(np.complex128)
    power, vectors = np.linalg.eigh(flat @ np.conj(flat.T))  # ascending: U S^2 U^H
    return np.conj(vectors[:, ::-1][:, : int(virtual)].T).astype(np.complex64)


def _requested_compression(echo_data, layout, calib, coil_compression, whitening):
    """The ``(V, C)`` compression ``coil_compression`` asks for, or None (not asked, or V >= C)."""
    if coil_compression is None or coil_compression >= echo_data.shape[0]:
        return None
    return coil_compression_matrix(echo_data, layout, calib, coil_compression, whitening)


def _compress_after_whitening(virtual, whitening):
    """The one ``(V, C)`` matrix that whitens then compresses the coils, and V."""
    log.info("coil compression: %d coils -> %d virtual coils", virtual.shape[1], virtual.shape[0])
    return (virtual if whitening is None else virtual @ whitening), virtual.shape[0]


def maps_compression(coil_maps: np.ndarray, tolerance: float = 1e-4) -> np.ndarray | None:
    """``(V, C)`` orthonormal basis of the coil-space span of ``coil_maps``, or None at full rank.

    Maps estimated with coil compression are ``A^H S_virtual``, of rank V over the coil axis;
    data and maps projected onto that span give the same least-squares problem (the rest of the
    data is noise), so a reconstruction can compress to V coils without being told ``A``.
    """
    flat = coil_maps.reshape(coil_maps.shape[0], -1)
    gram = np.zeros((flat.shape[0],) * 2, dtype=np.complex128)
    for v0 in range(0, flat.shape[1], 1 << 16):  # double precision: a float32 Gram blurs the rank
        chunk = flat[:, v0 : v0 + (1 << 16)].astype(np.complex128)
        gram += chunk @ np.conj(chunk.T)
    power, vectors = np.linalg.eigh(gram)  # ascending
    rank = int((power > tolerance**2 * power[-1]).sum()) if power[-1] > 0 else coil_maps.shape[0]
    if rank == coil_maps.shape[0]:
        return None
    return np.conj(vectors[:, ::-1][:, :rank].T).astype(np.complex64)


def compress_maps(coil_maps: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """``(A, A @ coil_maps)`` for maps of rank V < C (:func:`maps_compression`), else ``(None, coil_maps)``.

    Project the (whitened) data with the same ``A`` (:func:`coils.mix_coils`).
    """
    virtual = maps_compression(coil_maps)
    return (None, coil_maps) if virtual is None else (virtual, coils.mix_coils(virtual, coil_maps))


def no_sensitivity_message(calib, n_coil, coil_method) -> str:
    return (
        f"{coil_method} found no coil sensitivity anywhere: the {calib[0]}x{calib[1]} calibration region "
        f"of {n_coil} coils is too small for its kernel; sample a larger fully sampled centre "
        "(sampling.calibration) or use coil_method: lowres"
    )

"""Reconstruct a 3D Cartesian k-space with a trained DL model, plane by plane.

The inverse FFT along the readout ``kx`` turns the volume into ``nx`` independent
``(coil, kz, ky)`` planes that share one sampling mask. Planes go through the network in
batches of ``batch_planes``, so memory does not grow with the volume, and the same code runs
on ``cpu`` and ``cuda``. Intensities are normalised per volume (see :func:`volume_scale`)
exactly as in training and restored afterwards; coil noise is prewhitened from
``KSpace.noise_covariance`` like in :func:`reconstudy.recon.api.reconstruct`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from reconstudy.fourier import ifftc
from reconstudy.io.kspace import KSpace
from reconstudy.progress import Progress
from reconstudy.recon.coils import mix_coils
from reconstudy.recon.dl.io import load_model


def volume_scale(coil_kspace: np.ndarray) -> float:
    """Intensity scale of one echo: 99th percentile of the zero-filled root-sum-of-squares image.

    Args:
        coil_kspace: acquired k-space ``(coil, kz, ky, kx)`` (zeros where not acquired).
    """
    rss = np.sqrt((np.abs(ifftc(coil_kspace, axes=(-3, -2, -1))) ** 2).sum(axis=0))
    scale = float(np.percentile(rss, 99))
    return scale if scale > 0 else 1.0


def prewhiten(coil_kspace: np.ndarray, noise_covariance: np.ndarray | None) -> np.ndarray:
    """Decorrelate coil noise as the conventional reconstructions do (no-op without a covariance).

    Uses :func:`reconstudy.recon.coils.whitening_matrix`, which keeps the overall scale, so a
    DL image and a SENSE/CS image of the same data share their intensity profile.
    """
    if noise_covariance is None:
        return coil_kspace
    from reconstudy.recon.coils import whitening_matrix

    return mix_coils(whitening_matrix(noise_covariance), coil_kspace)


def hybrid_planes(coil_kspace: np.ndarray) -> np.ndarray:
    """``(coil, kz, ky, kx)`` -> ``(x, coil, kz, ky)``: inverse FFT along the readout, planes first."""
    return np.ascontiguousarray(np.moveaxis(ifftc(coil_kspace, axes=(-1,)), -1, 0)).astype(np.complex64)


def maps_as_planes(coil_maps: np.ndarray) -> np.ndarray:
    """``(coil, z, y, x)`` image-space coil maps -> ``(x, coil, z, y)``, the planes' layout."""
    return np.ascontiguousarray(np.moveaxis(coil_maps, -1, 0)).astype(np.complex64)


def reconstruct_planes(
    model: nn.Module,
    planes: np.ndarray,
    mask: np.ndarray,
    device="cpu",
    batch_planes: int = 8,
    progress: Progress | None = None,
    maps: np.ndarray | None = None,
) -> np.ndarray:
    """Run ``model`` over ``planes (n, coil, kz, ky)`` in batches; return images ``(n, kz, ky)``.

    ``maps`` ``(n, coil, z, y)``: coil maps per plane, for models that take them.
    """
    device = torch.device(device)
    mask_t = torch.as_tensor(np.asarray(mask, dtype=np.float32), device=device)
    out = np.empty((planes.shape[0], *planes.shape[-2:]), dtype=np.complex64)
    with torch.inference_mode():
        for start in range(0, planes.shape[0], batch_planes):
            batch = torch.as_tensor(planes[start : start + batch_planes], device=device)
            inputs = [batch, mask_t]
            if maps is not None:
                inputs.append(torch.as_tensor(maps[start : start + batch_planes], device=device))
            out[start : start + batch.shape[0]] = model(*inputs).cpu().numpy()
            if progress is not None:
                progress.advance(batch.shape[0])
    return out


def dl_reconstruct(
    kspace: KSpace,
    model_path,
    device: str = "cpu",
    batch_planes: int = 8,
    model: nn.Module | None = None,
    coil_maps: np.ndarray | None = None,
) -> np.ndarray:
    """Reconstruct undersampled (VarNet) or low-resolution (SuperResolution) k-space.

    Args:
        kspace: 3D-encoded k-space; ``kspace.sampling_mask`` says which ``(kz, ky)`` were acquired.
        model_path: a model written by :func:`reconstudy.recon.dl.io.save_model` (manifest next
            to it); ignored when ``model`` is given.
        device: ``"cpu"`` or ``"cuda"`` (or ``"cuda:1"``...).
        batch_planes: readout positions per network call; bounds the memory.
        model: an already loaded model (used by training-time validation).
        coil_maps: ``(coil, z, y, x)`` maps from :func:`reconstudy.recon.api.estimate_coil_maps`
            for models that take coil maps (e.g. the workflow's maps of this acquisition); by
            default estimated here from the calibration region, as the conventional methods do.
            Ignored by models that estimate their own.

    Returns:
        complex64 image ``(echo, z, y, x)`` on the k-space's matrix.
    """
    if kspace.encoding != "3d":
        raise ValueError(
            f"DL reconstruction works on 3D-encoded k-space (planes in (kz, ky)); {kspace.acquisition} has "
            f"encoding={kspace.encoding!r}. Use a 3D acquisition or another reconstruction method."
        )
    if batch_planes < 1:
        raise ValueError(f"batch_planes must be >= 1, got {batch_planes}")
    if model is None:
        model, _ = load_model(model_path, device=device)
    model = model.to(device).eval()
    mask = kspace.sampling_mask
    n_echo, n_coil, nz, ny, nx = kspace.data.shape
    plane_maps, virtual = None, None
    if getattr(model, "needs_coil_maps", False):
        from reconstudy.recon.api import compress_maps

        if coil_maps is None:
            from reconstudy.recon.api import estimate_coil_maps

            coil_maps = estimate_coil_maps(kspace)
        if coil_maps.shape != (n_coil, nz, ny, nx):
            raise ValueError(
                f"coil maps must have shape (coil, z, y, x) = {(n_coil, nz, ny, nx)} for "
                f"{kspace.acquisition}, got {coil_maps.shape}"
            )
        # Maps of rank V < C (coil compression, recon.api.estimate_coil_maps): the network's
        # SENSE operators see the same problem on V virtual coils, at V/C of the cost.
        virtual, coil_maps = compress_maps(coil_maps)
        plane_maps = maps_as_planes(coil_maps)
    image = np.empty((n_echo, nz, ny, nx), dtype=np.complex64)
    progress = Progress(n_echo * nx, label=f"DL reconstruction {kspace.acquisition}", unit="plane")
    for echo in range(n_echo):
        acquired = prewhiten(kspace.data[echo], kspace.noise_covariance) * mask[None, :, :, None]
        scale = volume_scale(acquired)  # of every coil: the network sees the same input scale
        if virtual is not None:
            acquired = mix_coils(virtual, acquired)
        planes = hybrid_planes(acquired / scale)
        recon = reconstruct_planes(model, planes, mask, device, batch_planes, progress, plane_maps)
        image[echo] = np.moveaxis(recon, 0, -1) * scale
    return image


def dl_sr_reconstruct(
    kspace: KSpace,
    boost_model: nn.Module,
    sharp_model: nn.Module,
    device: str = "cpu",
    batch_planes: int = 8,
    coil_maps: np.ndarray | None = None,
) -> np.ndarray:
    """A low-resolution acquisition to a full-resolution image: DL reconstruction, then 2x SR.

    The two steps of the vendor pipeline of seed 003 ("Deep Resolve Boost", then "Sharp"):

    1. Boost: when the acquired centre is itself undersampled (R above ``factor^2``, see
       :func:`reconstudy.sampling.low_resolution_mask`), ``boost_model`` (the ``dl`` network)
       reconstructs it, and its coil k-space ``F S x`` fills the centre's missing samples;
       acquired samples are kept as they are.
    2. Sharp: ``sharp_model`` (:class:`~reconstudy.recon.dl.superres.SuperResolution`) predicts
       the outer k-space from the completed centre, keeping the centre exactly.

    Args:
        kspace: 3D-encoded k-space whose ``sampling_mask`` lies inside the central
            ``1/factor`` of each phase-encode axis (``factor`` from the SR model's config).
        boost_model, sharp_model: loaded models (:func:`reconstudy.recon.dl.io.load_model`).
        device, batch_planes: as :func:`dl_reconstruct`.
        coil_maps: ``(coil, z, y, x)`` ESPIRiT maps in the noise-whitened coil space (the
            workflow's maps); estimated from the calibration region when None.

    Returns:
        complex64 image ``(echo, z, y, x)`` on the full matrix.
    """
    from reconstudy.fourier import fftc
    from reconstudy.recon.api import estimate_coil_maps
    from reconstudy.sampling import centre_box_mask

    factor = int(sharp_model.config.get("factor", 2))
    mask = np.asarray(kspace.sampling_mask, bool)
    centre = centre_box_mask(mask.shape, factor)
    outside = int((mask & ~centre).sum())
    if outside:
        raise ValueError(
            f"dl_sr takes a low-resolution acquisition: {outside} acquired (kz, ky) samples of "
            f"{kspace.acquisition} lie outside the central 1/{factor} of each phase-encode axis; "
            f"make the mask with `reconstudy mask --low-resolution {factor}` "
            "(reconstudy.sampling.low_resolution_mask)"
        )
    if coil_maps is None:
        coil_maps = estimate_coil_maps(kspace)
    # Work in the whitened coil space of the maps, so the boost's F S x and the data agree.
    data = np.stack([prewhiten(echo, kspace.noise_covariance) for echo in kspace.data]) * mask[..., None]
    white = KSpace(data, kspace.geometry, kspace.acquisition, None, mask, kspace.encoding)
    missing = centre & ~mask
    if missing.any():
        boosted = dl_reconstruct(white, None, device, batch_planes, model=boost_model, coil_maps=coil_maps)
        predicted = fftc(coil_maps[None] * boosted[:, None], axes=(-3, -2, -1))
        data[:, :, missing, :] = predicted[:, :, missing, :]  # data is this function's own array
    lowres = KSpace(
        data.astype(np.complex64, copy=False),
        kspace.geometry,
        kspace.acquisition,
        None,
        centre,
        kspace.encoding,
    )
    return dl_reconstruct(lowres, None, device, batch_planes, model=sharp_model, coil_maps=coil_maps)

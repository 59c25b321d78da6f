"""Image-quality metrics of a reconstruction against a reference, inside a mask.

All functions take magnitude volumes of equal shape and an optional boolean mask (the brain);
the reference defines the data range. Pure functions, no I/O.

References:
    Wang Z, Bovik AC, Sheikh HR, Simoncelli EP. Image quality assessment: from error
    visibility to structural similarity. IEEE Trans Image Process 2004;13:600-612.
    Zbontar J et al. fastMRI: an open dataset and benchmarks for accelerated MRI. arXiv:1811.08839
    (NMSE and PSNR as used for MRI reconstruction).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _check(image, reference, mask):
    image = np.asarray(image, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if image.shape != reference.shape:
        raise ValueError(f"image shape {image.shape} differs from reference shape {reference.shape}")
    if mask is None:
        mask = np.ones(reference.shape, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != reference.shape:
        raise ValueError(f"mask shape {mask.shape} differs from image shape {reference.shape}")
    if not mask.any():
        raise ValueError("the mask is empty: metrics need at least one voxel")
    return image, reference, mask


def nmse(image, reference, mask=None) -> float:
    """Normalised mean squared error ||x - y||² / ||y||² inside the mask."""
    image, reference, mask = _check(image, reference, mask)
    return float(np.sum((image[mask] - reference[mask]) ** 2) / np.sum(reference[mask] ** 2))


def nrmse(image, reference, mask=None) -> float:
    """Normalised root mean squared error ||x - y|| / ||y|| inside the mask."""
    return float(np.sqrt(nmse(image, reference, mask)))


def psnr(image, reference, mask=None, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio (dB); the peak is the reference maximum inside the mask."""
    image, reference, mask = _check(image, reference, mask)
    if data_range is None:
        data_range = float(reference[mask].max() - min(reference[mask].min(), 0.0))
    mse = np.mean((image[mask] - reference[mask]) ** 2)
    if mse == 0:
        return float("inf")
    return float(10 * np.log10(data_range**2 / mse))


def ssim_map(image, reference, data_range: float, sigma: float = 1.5, k1=0.01, k2=0.03) -> np.ndarray:
    """Local SSIM with a Gaussian window (σ = 1.5 voxels), in any number of dimensions.

    Uses population (not sample) covariances and truncates the window at 3.5 σ, the
    definition of Wang et al. 2004 and of ``skimage.metrics.structural_similarity`` with
    ``gaussian_weights=True, use_sample_covariance=False``.
    """
    x = np.asarray(image, dtype=np.float64)
    y = np.asarray(reference, dtype=np.float64)

    def blur(v):
        return ndimage.gaussian_filter(v, sigma=sigma, truncate=3.5, mode="reflect")

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))


def ssim(image, reference, mask=None, data_range: float | None = None) -> float:
    """Mean local SSIM inside the mask (3D window for volumes)."""
    image, reference, mask = _check(image, reference, mask)
    if data_range is None:
        data_range = float(reference[mask].max() - min(reference[mask].min(), 0.0))
    return float(ssim_map(image, reference, data_range)[mask].mean())


def minmax_clip(volume, reference, mask=None, percentiles=(0.5, 99.5)):
    """Clip to the reference's percentile range and scale to [0, 1] (seed 004's normalisation)."""
    _, reference, mask = _check(volume, reference, mask)
    low, high = np.percentile(reference[mask], percentiles)
    if high <= low:
        raise ValueError("the reference has no intensity range inside the mask")
    return np.clip((np.asarray(volume, float) - low) / (high - low), 0.0, 1.0)


def image_metrics(image, reference, mask=None, normalise: str = "none") -> dict[str, float]:
    """PSNR, SSIM, NMSE and NRMSE of ``image`` against ``reference`` inside ``mask``.

    Args:
        normalise: ``"none"`` compares intensities as they are (both come from the same
            scanner scale); ``"minmax_clip"`` first clips both to the reference's 0.5–99.5
            percentiles and scales to [0, 1], as in seed study 004.
    """
    if normalise == "minmax_clip":
        image, reference = minmax_clip(image, reference, mask), minmax_clip(reference, reference, mask)
    elif normalise != "none":
        raise ValueError(f"unknown normalise={normalise!r}; use 'none' or 'minmax_clip'")
    return {
        "psnr": psnr(image, reference, mask),
        "ssim": ssim(image, reference, mask),
        "nmse": nmse(image, reference, mask),
        "nrmse": nrmse(image, reference, mask),
    }

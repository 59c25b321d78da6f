"""QSM-challenge metrics of a χ map against the truth (Langkammer et al. 2018, QSM challenge 1).

* RMSE (ppm) and NRMSE = ‖χ - χ_true‖₂ / ‖χ_true‖₂ (the challenge's "RMSE" in %),
* HFEN: the NRMSE of Laplacian-of-Gaussian filtered maps (σ = 1.5 voxels; Ravishankar &
  Bresler 2011), sensitive to edges and fine structure,
* SSIM with the data range of the truth in the mask (``reconstudy.metrics.ssim``).

All inside a mask (the eroded mask both methods share). QSM fixes χ only up to a constant
(the field of a uniform χ is zero inside it), so by default both maps are referenced to their
mask mean first (``demean=True``), as the challenge referenced χ to a region.

References:
    Langkammer C et al. Quantitative susceptibility mapping: Report from the 2016
    reconstruction challenge. Magn Reson Med 2018;79:1661-1673.
    Ravishankar S, Bresler Y. MR image reconstruction from highly undersampled k-space data by
    dictionary learning. IEEE TMI 2011;30:1028-1041.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _prepare(chi, truth, mask, demean):
    chi = np.asarray(chi, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if chi.shape != truth.shape:
        raise ValueError(f"χ shape {chi.shape} differs from the truth's {truth.shape}")
    mask = np.ones(chi.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("empty mask for QSM metrics")
    if demean:
        chi = np.where(mask, chi - chi[mask].mean(), 0.0)
        truth = np.where(mask, truth - truth[mask].mean(), 0.0)
    return chi, truth, mask


def rmse(chi, truth, mask=None, demean: bool = True) -> float:
    chi, truth, mask = _prepare(chi, truth, mask, demean)
    return float(np.sqrt(np.mean((chi[mask] - truth[mask]) ** 2)))


def nrmse(chi, truth, mask=None, demean: bool = True) -> float:
    chi, truth, mask = _prepare(chi, truth, mask, demean)
    return float(np.linalg.norm(chi[mask] - truth[mask]) / max(np.linalg.norm(truth[mask]), 1e-30))


def hfen(chi, truth, mask=None, demean: bool = True, sigma: float = 1.5) -> float:
    chi, truth, mask = _prepare(chi, truth, mask, demean)
    a = ndimage.gaussian_laplace(np.where(mask, chi, 0.0), sigma)
    b = ndimage.gaussian_laplace(np.where(mask, truth, 0.0), sigma)
    return float(np.linalg.norm(a[mask] - b[mask]) / max(np.linalg.norm(b[mask]), 1e-30))


def ssim(chi, truth, mask=None, demean: bool = True) -> float:
    from reconstudy.metrics import ssim as _ssim

    chi, truth, mask = _prepare(chi, truth, mask, demean)
    data_range = float(truth[mask].max() - truth[mask].min()) or 1.0
    return float(
        _ssim(np.where(mask, chi, 0.0), np.where(mask, truth, 0.0), mask=mask, data_range=data_range)
    )


def qsm_metrics(chi, truth, mask=None, demean: bool = True) -> dict[str, float]:
    """All four metrics in one dict: ``rmse_ppm, nrmse, hfen, ssim``."""
    return {
        "rmse_ppm": rmse(chi, truth, mask, demean),
        "nrmse": nrmse(chi, truth, mask, demean),
        "hfen": hfen(chi, truth, mask, demean),
        "ssim": ssim(chi, truth, mask, demean),
    }

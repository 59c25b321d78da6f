"""2x in-plane super-resolution that predicts outer k-space and keeps the acquired centre exactly.

A low-resolution acquisition of a 3D Cartesian scan samples only the central
``nz/2 x ny/2`` phase encodes (four times fewer phase-encode lines). Represented on the full
matrix, this is a centred rectangular sampling mask ``M``. Zero-filling the rest and inverting
gives a sinc-interpolated image without new detail. The network here instead predicts each
coil image at full resolution, ``x_c' = x_c + U(x_c)``, and returns the k-space

    k_c = M y_c + (1 - M) F x_c'

so every acquired sample ``y_c`` is passed through unchanged (hard data consistency), and only
the unacquired outer k-space is learned. The coil-combined image uses coil maps estimated from
the acquired centre.

References:
    Behl N. Deep Resolve: unrivaled speed in MRI. MAGNETOM Flash 2021;78(1) (seed 002: a
    network predicts the outer k-space while the acquired raw data are kept).
    Lim B, Son S, Kim H, et al. Enhanced deep residual networks for single image
    super-resolution. CVPR Workshops 2017 (residual prediction on an interpolated input).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from reconstudy.recon.dl.unet import ComplexUNet
from reconstudy.recon.dl.varnet import SensitivityModel, _as_batch_mask, fft2c, ifft2c, sense_combine


def centre_box_mask(shape: tuple[int, int], factor: int = 2) -> np.ndarray:
    """Boolean ``(nz, ny)`` mask of the central ``1/factor`` of each phase-encode axis.

    Args:
        shape: ``(nz, ny)`` of the full-resolution phase-encode plane.
        factor: resolution factor per axis (2 for 2x in-plane super-resolution).
    """
    if factor < 1:
        raise ValueError(f"super-resolution factor must be >= 1, got {factor}")
    mask = np.zeros(shape, dtype=bool)
    slices = []
    for n in shape:
        keep = max(int(round(n / factor)), 1)
        start = n // 2 - keep // 2
        slices.append(slice(start, start + keep))
    mask[tuple(slices)] = True
    return mask


class SuperResolution(nn.Module):
    """Multi-coil k-space super-resolution with hard data consistency.

    Args:
        chans: base channels of the U-Net shared across coils.
        num_pools: poolings of the U-Net.
        factor: in-plane resolution factor the model was trained for (recorded in its config).

    Shapes:
        ``predict_kspace(kspace (B, coil, H, W), mask)`` -> ``(B, coil, H, W)`` k-space;
        ``forward(kspace, mask)`` -> complex coil-combined image ``(B, H, W)``.
    """

    def __init__(self, chans: int = 8, num_pools: int = 3, factor: int = 2):
        super().__init__()
        self.config = dict(chans=chans, num_pools=num_pools, factor=factor)
        self.predictor = ComplexUNet(chans, num_pools)
        self.sensitivity = SensitivityModel(chans=0)

    def predict_kspace(self, kspace: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not torch.is_complex(kspace) or kspace.ndim != 4:
            raise ValueError(
                f"SuperResolution expects complex k-space (batch, coil, H, W), got {kspace.dtype} "
                f"{tuple(kspace.shape)}"
            )
        batch, coils, height, width = kspace.shape
        acquired = _as_batch_mask(mask, batch).to(kspace.device) != 0
        measured = torch.where(acquired, kspace, torch.zeros((), dtype=kspace.dtype, device=kspace.device))
        coil_images = ifft2c(measured).reshape(batch * coils, height, width)
        predicted = fft2c(coil_images + self.predictor(coil_images)).reshape(batch, coils, height, width)
        # torch.where (not M*y + (1-M)*k) so acquired samples are copied bit for bit.
        return torch.where(acquired, measured, predicted)

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        full = self.predict_kspace(kspace, mask)
        batch_mask = _as_batch_mask(mask, kspace.shape[0]).to(kspace.device)
        maps = self.sensitivity(kspace * batch_mask, batch_mask)
        return sense_combine(full, maps)

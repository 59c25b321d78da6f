"""2x super-resolution in the phase-encode plane that predicts outer k-space and keeps the acquired centre.

A low-resolution acquisition of a 3D Cartesian scan samples only the central
``nz/2 x ny/2`` phase encodes (four times fewer phase-encode lines; the readout keeps its full
resolution, it costs no scan time). Represented on the full matrix this is a centred
rectangular sampling mask ``M`` (:func:`reconstudy.sampling.centre_box_mask`). With the
ESPIRiT coil maps ``S`` the network starts from the conventional reconstruction of those
data, the CG-SENSE image ``x_0`` on the full matrix (the coil maps extrapolate a little;
otherwise it is a sinc interpolation), adds a learned residual ``x' = x_0 + R(x_0)`` and
returns the coil k-space

    k_c = M y_c + (1 - M) F S_c x'

so every acquired sample ``y_c`` is passed through unchanged (hard data consistency), and only
the unacquired outer k-space is learned. The image is ``S^H F^H k``. ``R`` is a residual U-Net
whose last layer starts at zero: the untrained network *is* the conventional low-resolution
reconstruction, as the untrained MoDL is CG-SENSE.

References:
    Behl N. Deep Resolve: unrivaled speed in MRI. MAGNETOM Flash 2021;78(1) (seed 002: a
    network generates a high-resolution image from low-resolution data; the acquired raw data
    are incorporated into the reconstruction).
    Lim B, Son S, Kim H, et al. Enhanced deep residual networks for single image
    super-resolution. CVPR Workshops 2017 (residual prediction on an interpolated input).
"""

from __future__ import annotations

import torch
from torch import nn

from reconstudy.recon.dl.modl import ResidualDenoiser, cg_sense
from reconstudy.recon.dl.varnet import _as_batch_mask, check_maps, check_planes, sense_combine, sense_expand
from reconstudy.sampling import centre_box_mask

__all__ = ["SuperResolution", "centre_box_mask"]


class SuperResolution(nn.Module):
    """Multi-coil k-space super-resolution with hard data consistency and ESPIRiT coil maps.

    Args:
        chans: base channels of the residual U-Net.
        num_pools: poolings of the residual U-Net.
        factor: resolution factor per phase-encode axis the model was trained for (recorded in
            its config; the mask given to ``forward`` decides what is acquired).
        cg_iterations: CG iterations of the low-resolution CG-SENSE start ``x_0``.
        eps: Tikhonov weight of that CG-SENSE (the workflow's ``sense`` lam).

    Shapes:
        ``predict_kspace(kspace (B, coil, H, W), mask, maps (B, coil, H, W))`` -> coil k-space
        ``(B, coil, H, W)``; ``forward(kspace, mask, maps)`` -> complex image ``(B, H, W)``.
    """

    def __init__(
        self, chans: int = 16, num_pools: int = 3, factor: int = 2, cg_iterations: int = 10, eps: float = 1e-3
    ):
        super().__init__()
        if cg_iterations < 0 or eps <= 0:
            raise ValueError(
                f"SuperResolution needs cg_iterations >= 0 and eps > 0, got {cg_iterations}, {eps}"
            )
        self.config = dict(
            chans=chans, num_pools=num_pools, factor=factor, cg_iterations=cg_iterations, eps=float(eps)
        )
        self.residual = ResidualDenoiser(chans, num_pools)

    @property
    def needs_coil_maps(self) -> bool:
        """Always True: the model combines and expands coils with the ESPIRiT maps given to it."""
        return True

    def predict_kspace(
        self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor | None
    ) -> torch.Tensor:
        check_planes("SuperResolution", kspace)
        check_maps("SuperResolution", kspace, maps)
        acquired = _as_batch_mask(mask, kspace.shape[0]).to(kspace.device) != 0
        measured = torch.where(acquired, kspace, torch.zeros((), dtype=kspace.dtype, device=kspace.device))
        with torch.autocast(device_type=kspace.device.type, enabled=False):
            start = cg_sense(
                measured, acquired.to(torch.float32), maps, self.config["eps"], self.config["cg_iterations"]
            )
        predicted = sense_expand(start + self.residual(start), maps)
        # torch.where (not M*y + (1-M)*k) so acquired samples are copied bit for bit.
        return torch.where(acquired, measured, predicted)

    def forward(
        self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor | None = None
    ) -> torch.Tensor:
        return sense_combine(self.predict_kspace(kspace, mask, maps), maps)

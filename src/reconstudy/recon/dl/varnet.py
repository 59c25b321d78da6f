"""End-to-end variational network for multi-coil (kz, ky) planes of 3D Cartesian data.

After the inverse FFT along the readout ``kx``, every readout position ``x`` is an independent
2D problem in the phase-encode plane: the same decomposition the CS reconstruction uses. One
plane is ``y in C^{coil x nz x ny}`` with a sampling mask ``M`` on ``(kz, ky)``. With coil maps
``S_c`` and the centred unitary 2D FFT ``F``, the forward model of an image ``m`` is
``y_c = M F (S_c m)``. Cascade ``t`` of the network updates the full multi-coil k-space ``k``:

    k <- k - lambda_t M (k - y) - F S R_t(S^H F^H k)

where ``R_t`` is a U-Net on the coil-combined complex image (the learned regulariser) and
``lambda_t`` a learned data-consistency weight. The image is ``m = sum_c conj(S_c) F^H k_c``.
Coil maps come either from the conventional ESPIRiT calibration (``coil_maps="espirit"``: the
maps SENSE and CS use, passed to ``forward``), or from the network itself
(``coil_maps="network"``, the end-to-end variant): low-pass coil images of the calibration (ACS)
centre normalised by their root-sum-of-squares, refined by a small U-Net trained end to end.
ESPIRiT maps are the default for new models: with a 12-line calibration the low-pass maps are
the bottleneck (CS with them: SSIM 0.90 at R = 4 on a held-out phantom, with ESPIRiT maps 0.99),
and a network trained for minutes cannot learn that refinement.

References:
    Hammernik K, Klatzer T, Kobler E, et al. Learning a variational network for reconstruction
    of accelerated MRI data. Magn Reson Med 2018;79(6):3055-3071.
    Sriram A, Zbontar J, Murrell T, et al. End-to-end variational networks for accelerated MRI
    reconstruction. MICCAI 2020:64-73.
"""

from __future__ import annotations

import torch
from torch import nn

from reconstudy.recon.dl.unet import ComplexUNet

COIL_MAP_SOURCES = ("network", "espirit")


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Centred unitary 2D FFT over the last two axes (k-space centre at ``n // 2``)."""
    x = torch.fft.ifftshift(x, dim=(-2, -1))
    x = torch.fft.fft2(x, norm="ortho")
    return torch.fft.fftshift(x, dim=(-2, -1))


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """Centred unitary inverse 2D FFT over the last two axes."""
    k = torch.fft.ifftshift(k, dim=(-2, -1))
    k = torch.fft.ifft2(k, norm="ortho")
    return torch.fft.fftshift(k, dim=(-2, -1))


def sense_combine(kspace: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """``S^H F^H k``: multi-coil k-space ``(batch, coil, H, W)`` -> image ``(batch, H, W)``."""
    return (maps.conj() * ifft2c(kspace)).sum(dim=1)


def sense_expand(image: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """``F S m``: image ``(batch, H, W)`` -> multi-coil k-space ``(batch, coil, H, W)``."""
    return fft2c(maps * image.unsqueeze(1))


def soft_data_consistency(
    kspace: torch.Tensor, measured: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """The data-consistency term ``weight * M (k - y)`` of one cascade.

    It is the gradient of ``weight/2 * ||M k - y||^2`` with respect to ``k`` (``y`` is zero
    where ``M`` is zero), so subtracting it pulls acquired samples towards the measurement.

    Args:
        kspace: current estimate ``(batch, coil, H, W)``, complex.
        measured: acquired k-space ``y`` (zeros where not acquired), same shape.
        mask: ``(batch, 1, H, W)`` or ``(H, W)``, 1 where acquired.
        weight: scalar tensor ``lambda``.
    """
    return weight * mask * (kspace - measured)


def calibration_region(mask: torch.Tensor) -> torch.Tensor:
    """The centred rectangle that is contiguously sampled along the central row and column.

    Args:
        mask: ``(batch, 1, H, W)`` real tensor, nonzero where acquired.

    Returns:
        ``(batch, 1, H, W)`` float mask of the calibration (ACS) rectangle; at least the
        central sample, so later normalisations stay defined. A fully sampled plane gives all
        ones (the run to the ``-n/2`` edge is kept, so the rectangle may be one sample
        asymmetric, as the calibration boxes of even-sized grids are).
    """
    height, width = mask.shape[-2:]
    sampled = (mask[:, 0] != 0).to(torch.int64)
    row, col = sampled[:, height // 2, :], sampled[:, :, width // 2]

    def run(line: torch.Tensor, centre: int) -> tuple[torch.Tensor, torch.Tensor]:
        right = torch.cumprod(line[:, centre:], dim=1).sum(dim=1)
        left = torch.cumprod(line[:, : centre + 1].flip(1), dim=1).sum(dim=1)
        return left.clamp_min(1) - 1, right.clamp_min(1) - 1

    def inside(line: torch.Tensor, n: int) -> torch.Tensor:
        left, right = run(line, n // 2)
        offset = torch.arange(n, device=mask.device)[None, :] - n // 2
        return (offset >= -left[:, None]) & (offset <= right[:, None])

    inside_w, inside_h = inside(row, width), inside(col, height)
    return (inside_h[:, :, None] & inside_w[:, None, :]).unsqueeze(1).float()


def check_planes(model: str, masked_kspace: torch.Tensor) -> None:
    """Raise unless ``masked_kspace`` is complex ``(batch, coil, H, W)``."""
    if not torch.is_complex(masked_kspace) or masked_kspace.ndim != 4:
        raise ValueError(
            f"{model} expects complex k-space (batch, coil, H, W), got {masked_kspace.dtype} "
            f"{tuple(masked_kspace.shape)}"
        )


def check_maps(model: str, masked_kspace: torch.Tensor, maps: torch.Tensor | None) -> None:
    """Raise unless ``maps`` (the ESPIRiT maps the model was given) match the k-space's shape."""
    if maps is None or tuple(maps.shape) != tuple(masked_kspace.shape):
        got = None if maps is None else tuple(maps.shape)
        raise ValueError(
            f"{model} uses ESPIRiT coil maps: pass maps of shape {tuple(masked_kspace.shape)} "
            f"(batch, coil, H, W), got {got}"
        )


def _as_batch_mask(mask: torch.Tensor, batch: int) -> torch.Tensor:
    if mask.ndim == 2:
        mask = mask[None, None].expand(batch, 1, *mask.shape)
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] != batch:
        raise ValueError(f"mask must be (H, W) or ({batch}, 1, H, W), got shape {tuple(mask.shape)}")
    return mask.float()


class SensitivityModel(nn.Module):
    """Coil maps from the ACS centre: ``S_c = x_c / sqrt(sum |x_c|^2)`` with a learned refinement.

    ``x_c`` is the low-pass coil image from the calibration rectangle, refined as
    ``x_c + U(x_c)`` by a U-Net shared across coils whose last layer starts at zero, so an
    untrained model gives the classical ACS estimate. The maps carry the phase relative to the
    coil-sum image, so the coil-combined image keeps the object phase up to a smooth term.

    Args:
        chans: base channels of the refinement U-Net; 0 disables the refinement.
        num_pools: poolings of the refinement U-Net.
    """

    def __init__(self, chans: int = 4, num_pools: int = 2):
        super().__init__()
        self.refine = ComplexUNet(chans, num_pools) if chans > 0 else None
        if self.refine is not None:
            nn.init.zeros_(self.refine.unet.head.weight)
            nn.init.zeros_(self.refine.unet.head.bias)

    def forward(self, masked_kspace: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, coils, height, width = masked_kspace.shape
        lowpass = ifft2c(masked_kspace * calibration_region(_as_batch_mask(mask, batch)))
        if self.refine is not None:
            flat = lowpass.reshape(batch * coils, height, width)
            lowpass = (flat + self.refine(flat)).reshape(batch, coils, height, width)
        rss = lowpass.abs().square().sum(dim=1, keepdim=True).sqrt()
        coil_sum = lowpass.sum(dim=1, keepdim=True)
        phase = coil_sum / coil_sum.abs().clamp_min(1e-12)
        scale = rss.amax(dim=(-2, -1), keepdim=True) * 1e-6 + 1e-12
        return lowpass * phase.conj() / (rss + scale)


class VarNetCascade(nn.Module):
    """One unrolled iteration: soft data consistency plus a U-Net regulariser (see module doc)."""

    def __init__(self, chans: int = 8, num_pools: int = 3):
        super().__init__()
        self.regulariser = ComplexUNet(chans, num_pools)
        self.dc_weight = nn.Parameter(torch.ones(()))

    def forward(
        self, kspace: torch.Tensor, measured: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor
    ) -> torch.Tensor:
        dc = soft_data_consistency(kspace, measured, mask, self.dc_weight)
        image = sense_combine(kspace, maps)
        # Under CUDA autocast only the real-valued convolutions run in half precision: the
        # U-Net wrapper returns float32, so FFTs and data consistency stay in complex64.
        regularised = self.regulariser(image)
        return kspace - dc - sense_expand(regularised, maps)


class VarNet(nn.Module):
    """End-to-end variational network on multi-coil phase-encode planes.

    Args:
        num_cascades: number of unrolled iterations.
        chans: base channels of each regulariser U-Net.
        num_pools: poolings of each regulariser U-Net.
        sens_chans: base channels of the coil-map refinement U-Net (0: classical ACS maps).
        sens_pools: poolings of the coil-map refinement U-Net.
        coil_maps: ``"network"`` (maps estimated inside, end to end) or ``"espirit"`` (maps
            given to ``forward``; ``sens_*`` are then unused).

    Shapes:
        ``forward(masked_kspace (B, coil, H, W) complex64, mask (B, 1, H, W) | (H, W),
        maps (B, coil, H, W) complex64 | None)`` returns the complex coil-combined image
        ``(B, H, W)``.
    """

    def __init__(
        self,
        num_cascades: int = 5,
        chans: int = 8,
        num_pools: int = 3,
        sens_chans: int = 4,
        sens_pools: int = 2,
        coil_maps: str = "network",
    ):
        super().__init__()
        if coil_maps not in COIL_MAP_SOURCES:
            raise ValueError(f"VarNet coil_maps must be one of {COIL_MAP_SOURCES}, got {coil_maps!r}")
        self.config = dict(
            num_cascades=num_cascades,
            chans=chans,
            num_pools=num_pools,
            sens_chans=sens_chans,
            sens_pools=sens_pools,
            coil_maps=coil_maps,
        )
        self.sensitivity = SensitivityModel(sens_chans, sens_pools) if coil_maps == "network" else None
        self.cascades = nn.ModuleList([VarNetCascade(chans, num_pools) for _ in range(num_cascades)])

    @property
    def needs_coil_maps(self) -> bool:
        """True when ``forward`` must be given coil maps (``coil_maps="espirit"``)."""
        return self.sensitivity is None

    def forward(
        self, masked_kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_planes("VarNet", masked_kspace)
        mask = _as_batch_mask(mask, masked_kspace.shape[0]).to(masked_kspace.device)
        measured = masked_kspace * mask
        if self.sensitivity is not None:
            maps = self.sensitivity(measured, mask)
        else:
            check_maps("this VarNet", masked_kspace, maps)
        kspace = measured
        for cascade in self.cascades:
            kspace = cascade(kspace, measured, mask, maps)
        return sense_combine(kspace, maps)

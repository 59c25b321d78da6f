"""A small 2D U-Net and its normalised wrapper for complex images stored as two channels.

The U-Net is the learned regulariser of every variational-network cascade, the coil-sensitivity
refiner and the super-resolution predictor. It is kept small on purpose (8-16 base channels,
2-3 poolings) so it trains on a laptop CPU; the same module runs on CUDA unchanged.

References:
    Ronneberger O, Fischer P, Brox T. U-Net: convolutional networks for biomedical image
    segmentation. MICCAI 2015:234-241.
    Sriram A, Zbontar J, Murrell T, et al. End-to-end variational networks for accelerated MRI
    reconstruction. MICCAI 2020:64-73 (the per-image normalisation around the U-Net).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBlock(nn.Module):
    """Two 3x3 convolutions, each followed by instance normalisation and a leaky ReLU."""

    def __init__(self, in_chans: int, out_chans: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_chans, out_chans, kernel_size=3, padding=1, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(0.2, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class UpBlock(nn.Module):
    """2x up-sampling by a transposed convolution that also halves the channel count."""

    def __init__(self, in_chans: int, out_chans: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.ConvTranspose2d(in_chans, out_chans, kernel_size=2, stride=2, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(0.2, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class UNet(nn.Module):
    """U-Net mapping ``(batch, in_chans, H, W)`` to ``(batch, out_chans, H, W)``.

    Any ``H, W`` is accepted: the input is padded up to a multiple of ``2**num_pools`` and the
    output cropped back, so odd matrices such as 72x87 need no special handling by callers.

    Args:
        in_chans: input channels (2 for one complex image).
        out_chans: output channels.
        chans: channels of the first level; level ``l`` has ``chans * 2**l``.
        num_pools: number of 2x down-samplings.
    """

    def __init__(self, in_chans: int = 2, out_chans: int = 2, chans: int = 8, num_pools: int = 3):
        super().__init__()
        if chans < 1 or num_pools < 1:
            raise ValueError(f"UNet needs chans >= 1 and num_pools >= 1, got {chans}, {num_pools}")
        self.in_chans, self.out_chans, self.num_pools = in_chans, out_chans, num_pools
        self.down = nn.ModuleList([ConvBlock(in_chans, chans)])
        ch = chans
        for _ in range(num_pools - 1):
            self.down.append(ConvBlock(ch, ch * 2))
            ch *= 2
        self.bottom = ConvBlock(ch, ch * 2)
        self.up_conv = nn.ModuleList()
        self.up = nn.ModuleList()
        for _ in range(num_pools):
            self.up_conv.append(UpBlock(ch * 2, ch))
            self.up.append(ConvBlock(ch * 2, ch))
            ch //= 2
        self.head = nn.Conv2d(chans, out_chans, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ValueError(f"UNet expects (batch, {self.in_chans}, H, W), got shape {tuple(x.shape)}")
        height, width = x.shape[-2:]
        x = self._pad(x)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.avg_pool2d(x, kernel_size=2)
        x = self.bottom(x)
        for up_conv, block in zip(self.up_conv, self.up):
            x = up_conv(x)
            x = block(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)[..., :height, :width]

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        multiple = 2**self.num_pools
        pad_h = (-x.shape[-2]) % multiple
        pad_w = (-x.shape[-1]) % multiple
        # Reflection would need pads smaller than the image; zeros are fine after normalisation.
        return F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x


def complex_to_channels(x: torch.Tensor) -> torch.Tensor:
    """Complex ``(batch, H, W)`` -> real ``(batch, 2, H, W)`` (real, imaginary)."""
    return torch.stack([x.real, x.imag], dim=1)


def channels_to_complex(x: torch.Tensor) -> torch.Tensor:
    """Real ``(batch, 2, H, W)`` -> complex ``(batch, H, W)``."""
    return torch.complex(x[:, 0].float(), x[:, 1].float())


class ComplexUNet(nn.Module):
    """A U-Net on complex images with per-image mean/std normalisation around it.

    For a complex image ``x`` the network computes ``s * UNet((x - mu) / s) + mu`` where ``mu``
    and ``s`` are the mean and standard deviation of the real and imaginary channels of each
    image, so the learned weights do not depend on the arbitrary intensity scale of the data.

    Args:
        chans: base channels of the U-Net.
        num_pools: number of poolings of the U-Net.
    """

    def __init__(self, chans: int = 8, num_pools: int = 3):
        super().__init__()
        self.unet = UNet(2, 2, chans=chans, num_pools=num_pools)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_complex(x) or x.ndim != 3:
            raise ValueError(f"ComplexUNet expects complex (batch, H, W), got {x.dtype} {tuple(x.shape)}")
        channels = complex_to_channels(x)
        mean = channels.mean(dim=(-2, -1), keepdim=True)
        std = channels.std(dim=(-2, -1), keepdim=True).clamp_min(1e-8)
        out = self.unet((channels - mean) / std)
        return channels_to_complex(out.float() * std + mean)

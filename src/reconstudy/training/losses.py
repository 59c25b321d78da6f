"""Training losses on magnitude images: L1 plus one minus SSIM.

The SSIM here is the differentiable 2D version used for training (Gaussian window, sigma 1.5,
population covariances, constants k1 = 0.01, k2 = 0.03), the same definition that
:func:`reconstudy.metrics.ssim` evaluates in 3D.

References:
    Wang Z, Bovik AC, Sheikh HR, Simoncelli EP. Image quality assessment: from error visibility
    to structural similarity. IEEE Trans Image Process 2004;13(4):600-612.
    Zhao H, Gallo O, Frosio I, Kautz J. Loss functions for image restoration with neural
    networks. IEEE Trans Comput Imaging 2017;3(1):47-57 (mixing L1 and SSIM).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812


def _gaussian_window(sigma: float, device, dtype) -> torch.Tensor:
    radius = int(3.5 * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def _symmetric_pad(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Half-sample symmetric padding (``d c b a | a b c d``), scipy.ndimage's ``reflect`` mode."""
    n = x.shape[dim]
    if radius > n:
        raise ValueError(f"SSIM window radius {radius} exceeds the image size {n}")
    head = x.narrow(dim, 0, radius).flip(dim)
    tail = x.narrow(dim, n - radius, radius).flip(dim)
    return torch.cat([head, x, tail], dim=dim)


def _blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    radius = kernel.numel() // 2
    x = _symmetric_pad(_symmetric_pad(x, radius, -1), radius, -2)
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    return F.conv2d(x, kernel.view(1, 1, -1, 1))


def ssim_2d(
    image: torch.Tensor, reference: torch.Tensor, data_range: torch.Tensor, sigma: float = 1.5
) -> torch.Tensor:
    """Mean SSIM of each image pair, ``(batch, H, W)`` real -> ``(batch,)``.

    Args:
        image, reference: real ``(batch, H, W)``.
        data_range: ``(batch,)`` or scalar dynamic range of the reference.
    """
    x, y = image.unsqueeze(1), reference.unsqueeze(1)
    kernel = _gaussian_window(sigma, x.device, x.dtype)
    data_range = torch.as_tensor(data_range, device=x.device, dtype=x.dtype).reshape(-1, 1, 1, 1)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = _blur(x, kernel), _blur(y, kernel)
    var_x = _blur(x * x, kernel) - mu_x**2
    var_y = _blur(y * y, kernel) - mu_y**2
    cov = _blur(x * y, kernel) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean(dim=(1, 2, 3))


def reconstruction_loss(
    image: torch.Tensor,
    target: torch.Tensor,
    data_range: torch.Tensor,
    l1_weight: float = 1.0,
    ssim_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """``l1_weight * mean|(|x| - t)| / range + ssim_weight * (1 - SSIM(|x|, t))``.

    Args:
        image: complex (or real) network output ``(batch, H, W)``.
        target: real magnitude target ``(batch, H, W)``.
        data_range: ``(batch,)`` dynamic range of each target's volume.

    Returns:
        the scalar loss and its parts as floats (for logs).
    """
    magnitude = image.abs() if torch.is_complex(image) else image
    data_range = torch.as_tensor(data_range, device=target.device, dtype=target.dtype).reshape(-1)
    l1 = ((magnitude - target).abs().mean(dim=(1, 2)) / data_range).mean()
    ssim = ssim_2d(magnitude, target, data_range).mean()
    loss = l1_weight * l1 + ssim_weight * (1 - ssim)
    return loss, {"l1": float(l1.detach()), "ssim": float(ssim.detach())}

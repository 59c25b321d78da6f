"""MoDL: unrolled network whose data-consistency step solves the SENSE problem by conjugate gradients.

One (kz, ky) plane with acquired k-space ``y``, mask ``M``, ESPIRiT coil maps ``S_c`` and the
centred unitary 2D FFT ``F`` has the forward model ``A = M F S``. The network starts from the
Tikhonov-regularised CG-SENSE image

    x_0 = argmin_x ||A x - y||^2 + eps ||x||^2   <=>   (A^H A + eps I) x_0 = A^H y,

and then alternates a learned residual denoiser with a data-consistency step, for ``k = 1..K``:

    z_k = x_{k-1} + R_k(x_{k-1})
    x_k = argmin_x ||A x - y||^2 + eps ||x||^2 + mu_k ||x - z_k||^2
        <=> (A^H A + (eps + mu_k) I) x_k = A^H y + mu_k z_k.

Both linear systems are solved by a fixed number of batched complex conjugate-gradient
iterations, warm-started from the current image, and differentiated by unrolling them. ``R_k`` is
a U-Net on the real and imaginary parts with a per-image normalisation; its last layer starts at
zero, so the untrained network has ``z_k = x_{k-1}``. Because ``eps`` stays in every step, the
CG-SENSE image is then a fixed point of every unroll: the untrained network returns CG-SENSE
(each unroll only runs more CG iterations on it), and training learns a correction to it. This is
the difference from the end-to-end VarNet (:mod:`reconstudy.recon.dl.varnet`), whose gradient-style
data consistency only touches the acquired samples, so its U-Nets must learn the un-aliasing that
the coil maps give SENSE for free. ``mu_k = softplus(w_k)`` keeps the weights positive.

The denoiser is shared across unrolls by default (as in MoDL, which makes the network's size
independent of ``K``); ``shared=False`` gives every unroll its own U-Net.

Mixed precision: only the U-Net may run under CUDA autocast; the CG solves and FFTs run with
autocast disabled, in complex64.

References:
    Aggarwal HK, Mani MP, Jacob M. MoDL: model-based deep learning architecture for inverse
    problems. IEEE Trans Med Imaging 2019;38(2):394-405.
    Pruessmann KP, Weiger M, Boernert P, Boesiger P. Advances in sensitivity encoding with
    arbitrary k-space trajectories. Magn Reson Med 2001;46:638-651.
    Hestenes MR, Stiefel E. Methods of conjugate gradients for solving linear systems. 1952.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from reconstudy.recon.dl.unet import UNet, channels_to_complex, complex_to_channels
from reconstudy.recon.dl.varnet import _as_batch_mask, check_maps, check_planes, sense_combine, sense_expand

# Smallest denominator in the CG step sizes: an all-zero plane (no signal, zero residual) must give
# a zero step, not 0/0, and a clamp (unlike torch.where) keeps the gradient finite there as well.
_TINY = 1e-30


def sense_normal(image: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``A^H A x = S^H F^H M F S x`` for images ``(batch, H, W)``; mask ``(batch, 1, H, W)``."""
    return sense_combine(mask * sense_expand(image, maps), maps)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image real inner product ``Re <a, b>`` -> ``(batch, 1, 1)``."""
    return (a.conj() * b).real.sum(dim=(-2, -1), keepdim=True)


def conjugate_gradient(
    normal: Callable[[torch.Tensor], torch.Tensor], rhs: torch.Tensor, x: torch.Tensor, iterations: int
) -> torch.Tensor:
    """``iterations`` CG steps on ``normal(x) = rhs``, independently for every image of the batch.

    ``normal`` must be Hermitian positive definite (here ``A^H A + lambda I``). The iteration
    count is fixed (no tolerance test), so the result is a differentiable function of ``rhs``,
    ``x`` and whatever ``normal`` depends on, and autograd differentiates through the unrolled
    iterations.

    Args:
        normal: the operator, ``(batch, H, W) -> (batch, H, W)``.
        rhs: right-hand side ``(batch, H, W)``, complex.
        x: starting image (warm start), same shape.
        iterations: CG iterations (0 returns ``x``).
    """
    r = rhs - normal(x)
    p = r
    rr = _dot(r, r)
    for _ in range(iterations):
        ap = normal(p)
        alpha = rr / _dot(p, ap).clamp_min(_TINY)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = _dot(r, r)
        p = r + (rr_new / rr.clamp_min(_TINY)) * p
        rr = rr_new
    return x


def regularised_sense(
    rhs: torch.Tensor,
    maps: torch.Tensor,
    mask: torch.Tensor,
    lam: torch.Tensor | float,
    x: torch.Tensor,
    iterations: int,
) -> torch.Tensor:
    """CG on ``(A^H A + lam I) x = rhs`` (``rhs`` already contains ``A^H y`` and any prior term).

    The centred FFT is ``F_c = P F Q`` with ``Q = ifftshift`` and ``P = fftshift = Q^{-1}``, so
    ``A^H A = P (Q S)^H F^H (Q M) F (Q S) Q``: after permuting the image, the maps and the mask
    once, every CG iteration uses plain FFTs. A permutation keeps inner products, so the CG
    iterates are exactly the permuted centred ones, without the four shifts (copies of the
    multi-coil array) per iteration, which cost about as much as the FFTs themselves.

    Runs with autocast disabled, so under mixed precision the FFTs and the CG recursion stay in
    complex64 whatever the caller's context.
    """
    dims = (-2, -1)
    with torch.autocast(device_type=rhs.device.type, enabled=False):
        maps_q, mask_q = torch.fft.ifftshift(maps, dim=dims), torch.fft.ifftshift(mask, dim=dims)

        def normal(v: torch.Tensor) -> torch.Tensor:
            kspace = mask_q * torch.fft.fft2(maps_q * v.unsqueeze(1), norm="ortho")
            return (maps_q.conj() * torch.fft.ifft2(kspace, norm="ortho")).sum(dim=1) + lam * v

        x_q = conjugate_gradient(
            normal, torch.fft.ifftshift(rhs, dim=dims), torch.fft.ifftshift(x, dim=dims), iterations
        )
        return torch.fft.fftshift(x_q, dim=dims)


def cg_sense(
    masked_kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor, eps: float, iterations: int
) -> torch.Tensor:
    """The CG-SENSE image ``(A^H A + eps I)^{-1} A^H y`` after ``iterations`` CG steps from zero.

    Args:
        masked_kspace: ``(batch, coil, H, W)`` complex; samples outside ``mask`` are ignored.
        mask: ``(batch, 1, H, W)`` or ``(H, W)``, 1 where acquired.
        maps: coil maps ``(batch, coil, H, W)``.
        eps: Tikhonov weight.
        iterations: CG iterations.
    """
    mask = _as_batch_mask(mask, masked_kspace.shape[0]).to(masked_kspace.device)
    rhs = sense_combine(masked_kspace * mask, maps)
    return regularised_sense(rhs, maps, mask, eps, torch.zeros_like(rhs), iterations)


class ResidualDenoiser(nn.Module):
    """``R(x) = s * UNet((x - m) / s)``: a scale-equivariant residual on complex images.

    ``m`` and ``s`` are the per-image mean and standard deviation of the real and imaginary
    channels. Unlike :class:`~reconstudy.recon.dl.unet.ComplexUNet`, the mean is not added back:
    this is a correction to ``x``, and with the last layer at zero it is exactly zero, which makes
    the untrained MoDL return CG-SENSE.
    """

    def __init__(self, chans: int, num_pools: int):
        super().__init__()
        self.unet = UNet(2, 2, chans=chans, num_pools=num_pools)
        nn.init.zeros_(self.unet.head.weight)
        nn.init.zeros_(self.unet.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = complex_to_channels(x)
        mean = channels.mean(dim=(-2, -1), keepdim=True)
        std = channels.std(dim=(-2, -1), keepdim=True).clamp_min(1e-8)
        # Under CUDA autocast the convolutions return float16; the residual goes back to float32.
        return channels_to_complex(self.unet((channels - mean) / std).float() * std)


def _inverse_softplus(value: float) -> float:
    return value + math.log(-math.expm1(-value))


class MoDL(nn.Module):
    """Model-based unrolled network: CG-SENSE start, then learned denoiser + CG data consistency.

    Args:
        num_unrolls: ``K``, the denoiser / data-consistency alternations.
        chans: base channels of the denoiser U-Net(s).
        num_pools: poolings of the denoiser U-Net(s).
        shared: one denoiser for every unroll (MoDL) or one per unroll.
        cg_init: CG iterations of the CG-SENSE start ``x_0`` (from zero).
        cg_iterations: CG iterations of each data-consistency step (warm-started).
        eps: Tikhonov weight of CG-SENSE, kept in every unroll.
        mu_init: initial ``mu_k`` (learned per unroll, positive through a softplus).

    Shapes:
        ``forward(masked_kspace (B, coil, H, W) complex64, mask (B, 1, H, W) | (H, W),
        maps (B, coil, H, W) complex64)`` returns the complex image ``(B, H, W)``. The maps are
        the ESPIRiT maps SENSE and CS use, normalised to unit root-sum-of-squares.
    """

    def __init__(
        self,
        num_unrolls: int = 6,
        chans: int = 16,
        num_pools: int = 3,
        shared: bool = True,
        cg_init: int = 10,
        cg_iterations: int = 6,
        eps: float = 1e-3,
        mu_init: float = 0.1,
    ):
        super().__init__()
        if num_unrolls < 0 or cg_init < 0 or cg_iterations < 0:
            raise ValueError(
                f"MoDL needs num_unrolls, cg_init, cg_iterations >= 0, got {num_unrolls}, {cg_init}, "
                f"{cg_iterations}"
            )
        if eps <= 0 or mu_init <= 0:
            raise ValueError(f"MoDL needs eps > 0 and mu_init > 0, got eps={eps}, mu_init={mu_init}")
        self.config = dict(
            num_unrolls=num_unrolls,
            chans=chans,
            num_pools=num_pools,
            shared=bool(shared),
            cg_init=cg_init,
            cg_iterations=cg_iterations,
            eps=float(eps),
            mu_init=float(mu_init),
        )
        count = min(num_unrolls, 1) if shared else num_unrolls
        self.denoisers = nn.ModuleList([ResidualDenoiser(chans, num_pools) for _ in range(count)])
        self.mu_weight = nn.Parameter(torch.full((num_unrolls,), _inverse_softplus(mu_init)))

    @property
    def needs_coil_maps(self) -> bool:
        """Always True: MoDL reconstructs with the ESPIRiT maps given to ``forward``."""
        return True

    @property
    def mu(self) -> torch.Tensor:
        """The data-consistency weights ``mu_k > 0``, one per unroll."""
        return F.softplus(self.mu_weight)

    def forward(
        self, masked_kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_planes("MoDL", masked_kspace)
        check_maps("MoDL", masked_kspace, maps)
        cfg = self.config
        mask = _as_batch_mask(mask, masked_kspace.shape[0]).to(masked_kspace.device)
        with torch.autocast(device_type=masked_kspace.device.type, enabled=False):
            adjoint = sense_combine(masked_kspace * mask, maps)  # A^H y
        x = regularised_sense(adjoint, maps, mask, cfg["eps"], torch.zeros_like(adjoint), cfg["cg_init"])
        mu = self.mu
        for k in range(cfg["num_unrolls"]):
            denoiser = self.denoisers[0 if cfg["shared"] else k]
            z = x + denoiser(x)
            x = regularised_sense(
                adjoint + mu[k] * z, maps, mask, cfg["eps"] + mu[k], x, cfg["cg_iterations"]
            )
        return x

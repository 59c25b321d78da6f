"""Centred, orthonormal Fourier transforms (k-space centre at index n // 2)."""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft


def fftc(x: np.ndarray, axes=(-3, -2, -1), workers: int | None = None) -> np.ndarray:
    """Image -> k-space over ``axes``, centred and unitary."""
    x = sfft.ifftshift(x, axes=axes)
    x = sfft.fftn(x, axes=axes, norm="ortho", workers=workers)
    return sfft.fftshift(x, axes=axes)


def ifftc(k: np.ndarray, axes=(-3, -2, -1), workers: int | None = None) -> np.ndarray:
    """k-space -> image over ``axes``, centred and unitary."""
    k = sfft.ifftshift(k, axes=axes)
    k = sfft.ifftn(k, axes=axes, norm="ortho", workers=workers)
    return sfft.fftshift(k, axes=axes)

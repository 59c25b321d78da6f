"""Operators of the plane-wise problems: adjointness, linearity, isometry, known answers."""

import os

import numpy as np
import pytest
import pywt

from reconstudy.fourier import fftc
from reconstudy.recon.operators import (
    FiniteDifferenceOp,
    SenseOp,
    WaveletOp,
    fft2,
    fft_workers,
    to_centred,
    to_unshifted,
)

RNG = np.random.default_rng(0)


def crandn(*shape):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(np.complex64)


def inner(a, b):
    return np.vdot(a.astype(np.complex128).ravel(), b.astype(np.complex128).ravel())


def assert_adjoint(op, x, y):
    lhs, rhs = inner(op.apply(x), y), inner(x, op.adjoint(y))
    assert abs(lhs - rhs) <= 1e-4 * max(abs(lhs), 1.0)


def test_sense_adjoint_and_linearity():
    maps = crandn(3, 4, 12, 10)
    mask = RNG.random((1, 1, 12, 10)) > 0.5
    op = SenseOp(maps, mask)
    x, y = crandn(3, 12, 10), crandn(3, 4, 12, 10)
    assert_adjoint(op, x, y)
    assert np.allclose(op.apply(2 * x + y[:, 0]), 2 * op.apply(x) + op.apply(y[:, 0]), atol=1e-4)
    assert np.allclose(op.normal(x), op.adjoint(op.apply(x)), atol=1e-4)
    data = op.apply(crandn(3, 12, 10))
    assert np.allclose(op.residual_gradient(x, data), op.adjoint(op.apply(x) - data), atol=1e-4)


def test_sense_norm_at_most_one_for_normalised_maps():
    maps = crandn(2, 6, 16, 16)
    maps /= np.sqrt((np.abs(maps) ** 2).sum(axis=1, keepdims=True))
    op = SenseOp(maps, np.ones((1, 1, 16, 16), bool))
    x = crandn(2, 16, 16)
    for _ in range(30):
        x = op.normal(x)
        x /= np.linalg.norm(x)
    assert np.linalg.norm(op.normal(x)) <= 1.0 + 1e-4


def test_unshifted_fft_equals_centred_fft():
    x = crandn(2, 12, 9)
    assert np.allclose(to_centred(fft2(to_unshifted(x))), fftc(x, axes=(-2, -1)), atol=1e-5)


@pytest.mark.parametrize("wavelet", ["haar", "db2", "db4"])
@pytest.mark.parametrize("shape", [(32, 48), (30, 37)])
def test_wavelet_adjoint_and_perfect_reconstruction(wavelet, shape):
    op = WaveletOp(shape, wavelet, levels=2)
    x = crandn(2, *shape)
    y = crandn(2, *op.padded)
    assert_adjoint(op, x, y)
    assert np.allclose(op.adjoint(op.apply(x)), x, atol=1e-4)
    assert np.isclose(np.linalg.norm(op.apply(x)), np.linalg.norm(x), rtol=1e-4)


def test_haar_matches_pywavelets():
    x = RNG.standard_normal((16, 16)).astype(np.float32)
    ours = WaveletOp((16, 16), "haar", levels=1).apply(x[None].astype(np.complex64))[0].real
    ca, (ch, cv, cd) = pywt.dwt2(x, "haar", mode="periodization")
    # Our quadrants: [[LL, L along axis 0 / H along axis 1], [H along 0 / L along 1, HH]].
    assert np.allclose(np.abs(ours[:8, :8]), np.abs(ca), atol=1e-5)
    assert np.allclose(np.abs(ours[8:, 8:]), np.abs(cd), atol=1e-5)
    assert np.allclose(
        np.sort(np.abs(np.r_[ours[:8, 8:], ours[8:, :8]]).ravel()),
        np.sort(np.abs(np.r_[ch, cv]).ravel()),
        atol=1e-5,
    )


def test_wavelet_rejects_non_orthogonal_and_tiny_planes():
    with pytest.raises(ValueError, match="not orthogonal"):
        WaveletOp((32, 32), "bior2.2", levels=1)


def test_finite_difference_adjoint_and_known_answer():
    op = FiniteDifferenceOp()
    x = crandn(2, 9, 11)
    assert_adjoint(op, x, crandn(2, 2, 9, 11))
    ramp = np.tile(np.arange(5, dtype=np.complex64), (4, 1))[None]
    d = op.apply(ramp)
    assert np.allclose(d[0], 0) and np.allclose(d[1][..., :-1], 1) and np.allclose(d[1][..., -1], -4)
    assert op.norm_squared >= np.linalg.norm(op.apply(x)) ** 2 / np.linalg.norm(x) ** 2


def test_fft_threads_follow_the_job_budget(monkeypatch):
    """RECONSTUDY_THREADS wins; else OMP_NUM_THREADS (what Snakemake sets per job); else all cores."""
    monkeypatch.delenv("RECONSTUDY_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert fft_workers() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "3,1")  # OpenMP's nested form: the outer level counts
    assert fft_workers() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")  # not ours to judge: fall back to the cores
    assert fft_workers() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("RECONSTUDY_THREADS", "5")
    assert fft_workers() == 5
    monkeypatch.setenv("RECONSTUDY_THREADS", "0")
    with pytest.raises(ValueError, match="RECONSTUDY_THREADS='0'"):
        fft_workers()

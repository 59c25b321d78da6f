"""Signal equations: MPRAGE / MP2RAGE T1-weighting, spoiled multi-echo GRE, smooth phase.

Longitudinal magnetisation (M0 = 1) is propagated through one repetition of the sequence as
a chain of affine maps M -> a M + b, and the steady state is the fixed point
M_ss = b / (1 - a) of the whole cycle:

* inversion with efficiency eta:            M -> -eta M
* free relaxation for t (E = exp(-t/T1)):   M -> E M + (1 - E)
* m readout pulses of flip alpha, spacing tau (E_tau = exp(-tau/T1)):
      M -> (E_tau cos alpha)^m M + (1 - E_tau) (1 - (E_tau cos alpha)^m) / (1 - E_tau cos alpha)

With linear phase encoding the k-space centre is read at the middle pulse of each train, so
the image intensity is PD sin(alpha) M_centre exp(-TE/T2*) (Deichmann et al. 2000; Wang et
al. 2014 for MPRAGE; Marques et al. 2010, appendix, for the two trains of MP2RAGE, whose
UNI image is GRE1 GRE2 / (GRE1^2 + GRE2^2)).

References:
    Deichmann R, Good CD, Josephs O, Ashburner J, Turner R. Optimization of 3-D MP-RAGE
    sequences for structural brain imaging. NeuroImage 2000;12:112-127.
    Wang J, He L, Zheng H, Lu Z-L. Optimizing the magnetization-prepared rapid
    gradient-echo (MP-RAGE) sequence. PLoS One 2014;9:e96899.
    Marques JP et al. MP2RAGE, a self bias-field corrected sequence for improved segmentation
    and T1-mapping at high field. NeuroImage 2010;49:1271-1281.
"""

from __future__ import annotations

import numpy as np

from reconstudy.dipole import ppm_to_radians


class _Affine:
    """Longitudinal magnetisation as an affine function a M_start + b (elementwise arrays)."""

    def __init__(self, t1_ms):
        self.t1 = np.asarray(t1_ms, dtype=np.float64)
        self.a = np.ones_like(self.t1)
        self.b = np.zeros_like(self.t1)

    def _then(self, a, b):
        self.a, self.b = a * self.a, a * self.b + b

    def invert(self, efficiency):
        self._then(-efficiency, 0.0)

    def relax(self, t_ms):
        e = np.exp(-max(t_ms, 0.0) / self.t1)
        self._then(e, 1 - e)

    def pulses(self, m, flip_deg, spacing_ms):
        e = np.exp(-spacing_ms / self.t1)
        q = e * np.cos(np.deg2rad(flip_deg))
        qm = q**m
        self._then(qm, (1 - e) * (1 - qm) / (1 - q))

    def apply(self, m_start):
        return self.a * m_start + self.b


def _cycle(t1_ms, cfg, m_start=None):
    """Run one MPRAGE/MP2RAGE repetition; returns the centre-of-train magnetisations."""
    n, tau = cfg.n_readouts, cfg.echo_spacing_ms
    first, second = n // 2, n - n // 2
    trains = [(cfg.ti_ms, cfg.flip_deg)]
    if cfg.sequence == "mp2rage":
        trains = [(cfg.ti_ms, cfg.flip_deg), (cfg.ti2_ms, cfg.flip2_deg)]
    chain = _Affine(t1_ms)
    chain.invert(cfg.inversion_efficiency)
    centres, clock = [], 0.0  # clock: time since inversion at the current point
    for ti, flip in trains:
        chain.relax(ti - first * tau - clock)
        chain.pulses(first, flip, tau)
        centres.append(None if m_start is None else chain.apply(m_start))
        chain.pulses(second, flip, tau)
        clock = ti + second * tau
    chain.relax(cfg.tr_ms - clock)
    return chain, centres


def mprage_longitudinal(t1_ms, cfg) -> list[np.ndarray]:
    """Steady-state longitudinal magnetisation at each train centre (one for MPRAGE, two for MP2RAGE)."""
    chain, _ = _cycle(t1_ms, cfg)
    steady = chain.b / (1 - chain.a)
    _, centres = _cycle(t1_ms, cfg, m_start=steady)
    return centres


def t1w_signal(pd, t1_ms, t2star_ms, cfg) -> np.ndarray:
    """Real (signed) T1-weighted signal of an MPRAGE, or PD-gated UNI of an MP2RAGE.

    For MP2RAGE the UNI value (in [-0.5, 0.5]) is shifted to [0, 1] and multiplied by
    min(1, PD / 0.5), which darkens no-signal tissue (bone, air) as masking UNI by the second
    inversion image does in practice; the UNI contrast itself is free of PD and T2*.
    """
    decay = np.exp(-cfg.te_ms / np.asarray(t2star_ms))
    centres = mprage_longitudinal(t1_ms, cfg)
    if cfg.sequence == "mprage":
        return pd * np.sin(np.deg2rad(cfg.flip_deg)) * centres[0] * decay
    gre1 = np.sin(np.deg2rad(cfg.flip_deg)) * centres[0]
    gre2 = np.sin(np.deg2rad(cfg.flip2_deg)) * centres[1]
    uni = gre1 * gre2 / (gre1**2 + gre2**2)
    return (uni + 0.5) * np.minimum(1.0, np.asarray(pd) / 0.5)


def flash_signal(pd, t1_ms, t2star_ms, te_ms, tr_ms, flip_deg) -> np.ndarray:
    """Spoiled GRE (FLASH) magnitude: PD sin(a) (1 - E1) / (1 - cos(a) E1) exp(-TE/T2*)."""
    e1 = np.exp(-tr_ms / np.asarray(t1_ms))
    a = np.deg2rad(flip_deg)
    return pd * np.sin(a) * (1 - e1) / (1 - np.cos(a) * e1) * np.exp(-te_ms / np.asarray(t2star_ms))


def mgre_signal(pd, t1_ms, t2star_ms, field_ppm, phase0_rad, echo_times_ms, tr_ms, flip_deg, b0_tesla):
    """Complex multi-echo GRE (echo, z, y, x):

    S(TE) = PD sin(a) (1 - E1)/(1 - cos(a) E1) exp(-TE/T2*) exp(i (phi0 + 2 pi gamma B0 delta TE)).
    """
    out = np.empty((len(echo_times_ms),) + np.shape(pd), dtype=np.complex64)
    for e, te in enumerate(echo_times_ms):
        magnitude = flash_signal(pd, t1_ms, t2star_ms, te, tr_ms, flip_deg)
        out[e] = magnitude * np.exp(1j * (phase0_rad + ppm_to_radians(field_ppm, te, b0_tesla)))
    return out


def smooth_phase(shape_zyx, amplitude_rad, rng) -> np.ndarray:
    """Smooth transceive phase: a random constant plus a random quadratic over the grid.

    The spatially varying part peaks at ``amplitude_rad``; the constant is uniform in [-pi, pi).
    """
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n, dtype=np.float32) for n in shape_zyx), indexing="ij")
    terms = [x, y, z, x * x, y * y, z * z, x * y, x * z, y * z]
    coeffs = rng.normal(size=len(terms))
    varying = sum(c * t for c, t in zip(coeffs, terms))
    peak = float(np.abs(varying).max())
    varying *= amplitude_rad / peak if peak > 0 else 0.0
    return (varying + rng.uniform(-np.pi, np.pi)).astype(np.float32)

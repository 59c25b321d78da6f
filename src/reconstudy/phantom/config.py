"""Parameters of the simulated cohort: the ``phantom:`` mapping of the workflow config.

Defaults are the embedded demo (a 72 x 88 x 72 grid at 2.5 mm, 3 T, 8 coils, 4 echoes), so
``PhantomConfig()`` and ``PhantomConfig.from_dict({})`` simulate the default cohort.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reconstudy.resources import resource_path

GROUPS = ("control", "impaired", "ms")


def _fail(key: str, value, fix: str):
    raise ValueError(f"phantom.{key}: got {value!r}; {fix}")


def _vector(key, value, n, positive=False, integer=False):
    try:
        array = np.asarray(value, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        _fail(key, value, f"give a list of {n} numbers")
    if array.size == 1 and n > 1:
        array = np.repeat(array, n)
    if array.size != n or not np.all(np.isfinite(array)):
        _fail(key, value, f"give a list of {n} finite numbers")
    if positive and np.any(array <= 0):
        _fail(key, value, "every entry must be > 0")
    if integer:
        if np.any(array != np.round(array)):
            _fail(key, value, "every entry must be an integer")
        return tuple(int(v) for v in array)
    return tuple(float(v) for v in array)


@dataclass(frozen=True)
class T1wConfig:
    """Magnetisation-prepared gradient-echo (MPRAGE or MP2RAGE) T1-weighted acquisition.

    Times in ms, flip angles in degrees. ``sequence="mprage"`` uses ``ti_ms``/``flip_deg``;
    ``"mp2rage"`` uses ``ti_ms`` as TI1, ``ti2_ms`` as TI2 and ``flip_deg``/``flip2_deg`` and
    simulates the UNI contrast. ``n_readouts`` is the number of excitations per inversion
    (partition encodes of the real protocol, independent of the simulated matrix).
    Defaults: a 3 T MPRAGE (Deichmann et al. 2000; ADNI-like TR 2300 ms, TI 900 ms, 9 deg).
    """

    sequence: str = "mprage"
    tr_ms: float = 2300.0
    ti_ms: float = 900.0
    ti2_ms: float = 2500.0
    flip_deg: float = 9.0
    flip2_deg: float = 5.0
    echo_spacing_ms: float = 7.1
    n_readouts: int = 176
    te_ms: float = 2.98
    inversion_efficiency: float = 0.96


@dataclass(frozen=True)
class MGREConfig:
    """Spoiled multi-echo gradient echo for QSM (3 T defaults: TR 28 ms, 15 deg)."""

    echo_times_ms: tuple[float, ...] = (4.0, 10.0, 16.0, 22.0)
    tr_ms: float = 28.0
    flip_deg: float = 15.0


@dataclass(frozen=True)
class PhantomConfig:
    """Everything that defines one simulated subject besides its id, group, anatomy and seed.

    Args:
        matrix: image matrix (nx, ny, nz).
        voxel_size_mm: voxel size (dx, dy, dz) in mm.
        b0_tesla: main field; selects T1/T2* (interpolated between the 3 T and 7 T columns).
        b0_direction: unit B0 vector in the voxel frame (x, y, z).
        n_coils: receive coils (>= 8).
        coil_correlation: mean magnitude of the off-diagonal noise correlation between coils.
        noise_level: complex noise std (E|n|^2 = sigma^2) per coil, relative to the 95th
            percentile of the noise-free coil-combined magnitude of each acquisition.
        deformation_mm: RMS amplitude of the smooth random displacement field.
        scaling_range: global isotropic size scaling is drawn uniformly in 1 +- this.
        atrophy_range: fractional volume loss of hippocampus and amygdala ("impaired").
        ventricle_growth_range: fractional growth of the lateral ventricles ("impaired").
        n_lesions: inclusive range of the number of white-matter lesions ("ms").
        lesion_radius_mm: range of lesion radii.
        prl_fraction: expected fraction of lesions with a paramagnetic rim.
        jitter: per-subject relative jitter bounds of t1, t2star, pd and absolute bound of chi_ppm.
        phase_amplitude_rad: peak amplitude of the smooth transceive phase.
        background_margin_mm: head margin simulated around the grid for the background field.
        shim_order: order (0-3) of the spherical-harmonic shim removed from the background
            field inside the brain, as a scanner's shim would.
        anatomy_dir, tissue_table: override the shipped resources.
    """

    matrix: tuple[int, int, int] = (72, 88, 72)
    voxel_size_mm: tuple[float, float, float] = (2.5, 2.5, 2.5)
    b0_tesla: float = 3.0
    b0_direction: tuple[float, float, float] = (0.0, 0.0, 1.0)
    n_coils: int = 8
    coil_correlation: float = 0.2
    noise_level: float = 0.01
    t1w: T1wConfig = field(default_factory=T1wConfig)
    mgre: MGREConfig = field(default_factory=MGREConfig)
    deformation_mm: float = 3.0
    scaling_range: float = 0.05
    atrophy_range: tuple[float, float] = (0.15, 0.30)
    ventricle_growth_range: tuple[float, float] = (0.20, 0.50)
    n_lesions: tuple[int, int] = (6, 10)
    lesion_radius_mm: tuple[float, float] = (3.5, 7.0)
    prl_fraction: float = 0.35
    jitter: dict = field(default_factory=lambda: {"t1": 0.05, "t2star": 0.05, "pd": 0.02, "chi_ppm": 0.005})
    phase_amplitude_rad: float = 0.5
    background_margin_mm: float = 30.0
    shim_order: int = 2
    anatomy_dir: str | None = None
    tissue_table: str | None = None

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen dataclass
        set_("matrix", _vector("matrix", self.matrix, 3, positive=True, integer=True))
        set_("voxel_size_mm", _vector("voxel_size_mm", self.voxel_size_mm, 3, positive=True))
        direction = np.asarray(_vector("b0_direction", self.b0_direction, 3))
        if np.linalg.norm(direction) == 0:
            _fail("b0_direction", self.b0_direction, "give a non-zero vector")
        set_("b0_direction", tuple(float(v) for v in direction / np.linalg.norm(direction)))
        if not (0.5 <= float(self.b0_tesla) <= 11.7):
            _fail("b0_tesla", self.b0_tesla, "use a field strength between 0.5 and 11.7 T")
        if int(self.n_coils) != self.n_coils or self.n_coils < 8:
            _fail("n_coils", self.n_coils, "simulate at least 8 receive coils")
        if not (0.0 <= self.coil_correlation < 0.9):
            _fail("coil_correlation", self.coil_correlation, "use a value in [0, 0.9)")
        if not (0.0 <= self.noise_level < 1.0):
            _fail("noise_level", self.noise_level, "use a value in [0, 1), e.g. 0.01")
        if min(self.matrix) < 16:
            _fail("matrix", self.matrix, "each side needs at least 16 voxels")
        fov = np.multiply(self.matrix, self.voxel_size_mm)
        if np.any(fov < 100):
            _fail(
                "matrix",
                self.matrix,
                f"the field of view {tuple(fov)} mm is too small for a head (>= 100 mm)",
            )
        for key in ("atrophy_range", "ventricle_growth_range", "lesion_radius_mm"):
            low, high = _vector(key, getattr(self, key), 2)
            if not (0 <= low <= high):
                _fail(key, getattr(self, key), "give [low, high] with 0 <= low <= high")
            set_(key, (low, high))
        if self.atrophy_range[1] >= 0.9:
            _fail("atrophy_range", self.atrophy_range, "volume loss must stay below 0.9")
        low, high = _vector("n_lesions", self.n_lesions, 2, integer=True)
        if not (0 <= low <= high):
            _fail("n_lesions", self.n_lesions, "give [low, high] integers with 0 <= low <= high")
        set_("n_lesions", (low, high))
        if not (0.0 <= self.prl_fraction <= 1.0):
            _fail("prl_fraction", self.prl_fraction, "use a fraction in [0, 1]")
        if self.deformation_mm < 0 or not (0 <= self.scaling_range < 0.5):
            _fail(
                "deformation_mm/scaling_range",
                (self.deformation_mm, self.scaling_range),
                "use deformation_mm >= 0 and 0 <= scaling_range < 0.5",
            )
        jitter = {"t1": 0.05, "t2star": 0.05, "pd": 0.02, "chi_ppm": 0.005, **dict(self.jitter)}
        unknown = set(jitter) - {"t1", "t2star", "pd", "chi_ppm"}
        if unknown:
            _fail("jitter", self.jitter, f"unknown keys {sorted(unknown)}; allowed: t1, t2star, pd, chi_ppm")
        if any(not (0 <= float(v) < 0.5) for v in jitter.values()):
            _fail("jitter", self.jitter, "each bound must be in [0, 0.5)")
        set_("jitter", {k: float(v) for k, v in jitter.items()})
        if self.shim_order not in (0, 1, 2, 3):
            _fail("shim_order", self.shim_order, "use 0, 1, 2 or 3")
        if self.background_margin_mm < 0:
            _fail("background_margin_mm", self.background_margin_mm, "use a margin >= 0 mm")
        self._check_sequences()

    def _check_sequences(self):
        t1w, mgre = self.t1w, self.mgre
        if t1w.sequence not in ("mprage", "mp2rage"):
            _fail("t1w.sequence", t1w.sequence, "use 'mprage' or 'mp2rage'")
        train = t1w.n_readouts * t1w.echo_spacing_ms
        if t1w.n_readouts < 1 or t1w.echo_spacing_ms <= 0 or t1w.te_ms <= 0:
            _fail("t1w", t1w, "n_readouts, echo_spacing_ms and te_ms must be > 0")
        if t1w.ti_ms < train / 2:
            _fail("t1w.ti_ms", t1w.ti_ms, f"TI must be at least half the readout train ({train / 2:g} ms)")
        last_ti = t1w.ti2_ms if t1w.sequence == "mp2rage" else t1w.ti_ms
        if t1w.sequence == "mp2rage" and t1w.ti2_ms - t1w.ti_ms < train:
            _fail("t1w.ti2_ms", t1w.ti2_ms, f"TI2 - TI1 must be at least the readout train ({train:g} ms)")
        if t1w.tr_ms < last_ti + train / 2:
            _fail(
                "t1w.tr_ms",
                t1w.tr_ms,
                f"TR must be at least the last TI + half the train ({last_ti + train / 2:g} ms)",
            )
        if not (0 < t1w.flip_deg < 90 and 0 < t1w.flip2_deg < 90):
            _fail("t1w.flip_deg", (t1w.flip_deg, t1w.flip2_deg), "flip angles must be in (0, 90) degrees")
        if not (0 < t1w.inversion_efficiency <= 1):
            _fail("t1w.inversion_efficiency", t1w.inversion_efficiency, "use a value in (0, 1]")
        tes = mgre.echo_times_ms
        if len(tes) < 1 or any(t <= 0 for t in tes) or any(b <= a for a, b in zip(tes, tes[1:])):
            _fail("mgre.echo_times_ms", tes, "give positive, strictly increasing echo times")
        if mgre.tr_ms <= tes[-1]:
            _fail("mgre.tr_ms", mgre.tr_ms, f"TR must exceed the last echo time ({tes[-1]:g} ms)")
        if not (0 < mgre.flip_deg < 90):
            _fail("mgre.flip_deg", mgre.flip_deg, "use a flip angle in (0, 90) degrees")

    @classmethod
    def from_dict(cls, d: dict | None) -> PhantomConfig:
        """Build from the config's ``phantom:`` mapping; unknown keys raise ValueError."""
        d = dict(d or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"phantom: unknown key(s) {unknown}; allowed keys: {sorted(known)}")
        nested = {"t1w": T1wConfig, "mgre": MGREConfig}
        for key, kind in nested.items():
            if key in d:
                sub = d[key] or {}
                if not isinstance(sub, dict):
                    raise ValueError(f"phantom.{key}: expected a mapping, got {sub!r}")
                allowed = {f.name for f in dataclasses.fields(kind)}
                bad = sorted(set(sub) - allowed)
                if bad:
                    raise ValueError(f"phantom.{key}: unknown key(s) {bad}; allowed keys: {sorted(allowed)}")
                for name, value in sub.items():
                    numeric = name not in ("sequence", "echo_times_ms")
                    if numeric and (isinstance(value, bool) or not isinstance(value, (int, float))):
                        raise ValueError(f"phantom.{key}.{name}: expected a number, got {value!r}")
                if key == "mgre" and "echo_times_ms" in sub:
                    sub = {**sub, "echo_times_ms": tuple(float(t) for t in sub["echo_times_ms"])}
                try:
                    d[key] = kind(**sub)
                except TypeError as err:
                    raise ValueError(f"phantom.{key}: {err}") from err
        return cls(**d)

    def resource(self, name: str) -> Path:
        """Path of a shipped resource (``anatomy`` folder or ``tissue_properties.tsv``)."""
        override = {"anatomy": self.anatomy_dir, "tissue_properties.tsv": self.tissue_table}.get(name)
        if override:
            return Path(override)
        return resource_path(name)

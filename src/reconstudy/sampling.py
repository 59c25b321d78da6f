"""Undersampling patterns in the (kz, ky) phase-encode plane of Cartesian k-space.

Every pattern is an object that owns its ``numpy.random.Generator`` (seeded from the tuple
``(config seed, subject, R)``, see :func:`mask_seed`), builds a boolean mask of shape
``(nz, ny)`` (axes ``(kz, ky)`` like :class:`reconstudy.io.kspace.KSpace`) and reports the
acceleration it achieved. The requested acceleration ``R`` is met by construction: each pattern
first tunes its density parameter by bisection and then adds or removes a few samples so that
the mask holds exactly ``round(nz * ny / R)`` samples, i.e. the achieved R is within 2 % of
the request whenever the grid is large enough to express it (otherwise a ``ValueError``).

Patterns:

* ``poisson``: variable-density Poisson disc (minimum distance grows linearly with |k|) with a
  fully sampled calibration box; dart throwing in a random order (Bridson-like, on the grid).
* ``phyllotaxis``: Cartesian phyllotaxis, samples on a golden-angle spiral snapped to the grid
  (Mussard et al. 2020), variable density via the radial exponent, plus the calibration box.
* ``equispaced``: fastMRI-style 2D pattern, equispaced ky lines plus fully sampled centre lines,
  constant along kz (for multi-slice data whose kz axis holds slices).
* :func:`subset_mask`: retrospective undersampling; the returned mask is a subset of an
  acquired mask (e.g. R = 8 from an R = 4 acquisition, as in seed 000).

References:
    Bridson R. Fast Poisson disk sampling in arbitrary dimensions. SIGGRAPH sketches 2007.
    Lustig M, Donoho D, Pauly JM. Sparse MRI. Magn Reson Med 2007;58:1182-1195.
    Mussard E, et al. Accelerated MP2RAGE imaging using Cartesian phyllotaxis readout and
    compressed sensing reconstruction. Magn Reson Med 2020;84:1881-1894.
    Zbontar J, et al. fastMRI: an open dataset and benchmarks. arXiv:1811.08839 (mask functions).
"""

from __future__ import annotations

import numba
import numpy as np

PATTERNS = ("poisson", "phyllotaxis", "equispaced")
TOLERANCE = 0.02  # achieved R must lie within 2 % of the request
GOLDEN_ANGLE = np.pi * (3.0 - np.sqrt(5.0))


def mask_seed(config_seed: int, subject: int, accel: float, *extra: int) -> list[int]:
    """The seed list ``[config seed, subject, round(100 R), ...]`` for ``default_rng``."""
    return [int(config_seed), int(subject), int(round(100 * float(accel))), *(int(e) for e in extra)]


def calibration_box(shape, calib) -> np.ndarray:
    """Boolean ``(nz, ny)`` box of ``calib`` (int or ``(cz, cy)``) samples centred on n // 2."""
    nz, ny = shape
    cz, cy = (calib, calib) if np.isscalar(calib) else calib
    cz, cy = min(int(cz), nz), min(int(cy), ny)
    if cz < 0 or cy < 0:
        raise ValueError(f"calibration size must be >= 0, got {calib}")
    box = np.zeros(shape, dtype=bool)
    z0, y0 = nz // 2 - cz // 2, ny // 2 - cy // 2
    box[z0 : z0 + cz, y0 : y0 + cy] = True
    return box


def _normalised_radius(shape) -> np.ndarray:
    """|k| in units of the half-extent of each axis: 0 at the centre, 1 on the edges, sqrt(2) corners."""
    nz, ny = shape
    kz = (np.arange(nz) - nz // 2) / max(nz / 2, 1)
    ky = (np.arange(ny) - ny // 2) / max(ny / 2, 1)
    return np.sqrt(kz[:, None] ** 2 + ky[None, :] ** 2)


@numba.njit(cache=True)
def _dart_throw(order, radius, candidates, seeded):  # pragma: no cover - compiled
    """Accept grid points in ``order`` unless an accepted point lies closer than ``radius``."""
    nz, ny = radius.shape
    accepted = seeded.copy()
    for flat in order:
        z, y = flat // ny, flat % ny
        if accepted[z, y] or not candidates[z, y]:
            continue
        r = radius[z, y]
        w = int(np.ceil(r)) - 1
        ok = True
        for dz in range(-w, w + 1):
            zz = z + dz
            if zz < 0 or zz >= nz:
                continue
            for dy in range(-w, w + 1):
                yy = y + dy
                if 0 <= yy < ny and accepted[zz, yy] and dz * dz + dy * dy < r * r:
                    ok = False
                    break
            if not ok:
                break
        if ok:
            accepted[z, y] = True
    return accepted


class SamplingPattern:
    """Base class: validation, the random generator, exact sample count and reporting.

    Args:
        shape: ``(nz, ny)`` of the phase-encode plane.
        accel: requested acceleration R >= 1 (grid size over number of samples).
        calib: side of the fully sampled calibration box, int or ``(cz, cy)``.
        seed: anything ``numpy.random.default_rng`` accepts, normally :func:`mask_seed`'s list.
    """

    name = "base"

    def __init__(self, shape, accel: float, calib=24, seed=0):
        shape = tuple(int(n) for n in np.atleast_1d(shape))
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"mask shape must be two positive sizes (nz, ny), got {shape}")
        accel = float(accel)
        if not np.isfinite(accel) or accel < 1:
            raise ValueError(
                f"acceleration R must be a number >= 1, got {accel}; use R = 1 for full sampling"
            )
        self.shape, self.accel, self.calib = shape, accel, calib
        self.rng = np.random.default_rng(seed)
        self.target = int(round(shape[0] * shape[1] / accel))
        if accel > shape[0] * shape[1] or self.target < 1:
            raise ValueError(
                f"R = {accel} is larger than possible for a {shape} grid (fewer than one sample)"
            )
        achievable = shape[0] * shape[1] / self.target
        if abs(achievable - accel) > TOLERANCE * accel:
            raise ValueError(
                f"a {shape} grid cannot realise R = {accel} within 2 % (closest is {achievable:.3f}); "
                f"use a larger grid or another R"
            )
        self.calib_box = self._calibration()
        n_calib = int(self.calib_box.sum())
        if n_calib > self.target:
            raise ValueError(
                f"the calibration region alone holds {n_calib} samples, more than the {self.target} "
                f"that R = {accel} allows on a {shape} grid; reduce calib ({calib}) or R"
            )
        self._mask = None

    def _calibration(self) -> np.ndarray:
        return calibration_box(self.shape, self.calib)

    @property
    def mask(self) -> np.ndarray:
        """The boolean ``(nz, ny)`` mask (built on first access, then cached)."""
        if self._mask is None:
            mask = self._build()
            self._mask = _fix_count(mask, self.target, self.calib_box, self.rng)
        return self._mask

    @property
    def achieved_acceleration(self) -> float:
        return self.mask.size / int(self.mask.sum())

    def _build(self) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}, accel={self.accel}, calib={self.calib})"


def _fix_count(mask, target, keep, rng) -> np.ndarray:
    """Add or drop random non-calibration samples so that the mask holds exactly ``target``."""
    mask = mask | keep
    excess = int(mask.sum()) - target
    if excess > 0:
        removable = np.flatnonzero(mask & ~keep)
        mask.flat[rng.choice(removable, size=excess, replace=False)] = False
    elif excess < 0:
        free = np.flatnonzero(~mask)
        mask.flat[rng.choice(free, size=-excess, replace=False)] = True
    return mask


def _bisect(count_for, target, lo, hi, decreasing=True, iterations=40, rel_tol=0.005):
    """Find a parameter whose sample count is close to ``target`` (count monotone in the parameter)."""
    best = None
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        mask = count_for(mid)
        n = int(mask.sum())
        if best is None or abs(n - target) < abs(int(best.sum()) - target):
            best = mask
        if abs(n - target) <= rel_tol * target:
            break
        if (n > target) == decreasing:
            lo = mid
        else:
            hi = mid
    return best


class PoissonDiscPattern(SamplingPattern):
    """Variable-density Poisson disc: minimum distance ``d(k) = s (1 + vd |k|)`` grid units.

    The scale ``s`` is bisected until the sample count matches ``R``; ``vd`` sets how fast the
    density ``~ 1 / d(k)^2`` falls away from the centre.
    """

    name = "poisson"

    def __init__(self, shape, accel, calib=24, seed=0, vd: float = 2.0, candidates=None):
        super().__init__(shape, accel, calib, seed)
        self.vd = float(vd)
        self.candidates = np.ones(self.shape, bool) if candidates is None else np.asarray(candidates, bool)

    def _build(self):
        order = self.rng.permutation(self.candidates.size)
        base = 1.0 + self.vd * _normalised_radius(self.shape)
        seeded = self.calib_box & self.candidates

        def throw(scale):
            return _dart_throw(order, scale * base, self.candidates, seeded)

        return _bisect(throw, self.target, 0.0, 2.0 * np.sqrt(self.accel) + 2.0)


class PhyllotaxisPattern(SamplingPattern):
    """Cartesian phyllotaxis: golden-angle spiral points ``r_n = sqrt(2) (n/N)^p`` on the grid.

    ``p = 0.5`` gives uniform density; larger ``p`` concentrates samples near the centre. The
    number of spiral points ``N`` is bisected to reach the requested R after snapping to the
    grid (coincident points merge); the spiral's start angle is drawn from the generator.
    """

    name = "phyllotaxis"

    def __init__(self, shape, accel, calib=24, seed=0, exponent: float = 1.0):
        super().__init__(shape, accel, calib, seed)
        self.exponent = float(exponent)

    def points(self, n_points: int) -> np.ndarray:
        """Boolean mask of the first ``n_points`` spiral points snapped to the grid."""
        nz, ny = self.shape
        n = np.arange(n_points)
        radius = np.sqrt(2.0) * (n / max(n_points, 1)) ** self.exponent
        angle = self._rotation + n * GOLDEN_ANGLE
        z = np.rint(nz // 2 + radius * (nz / 2) * np.sin(angle)).astype(int)
        y = np.rint(ny // 2 + radius * (ny / 2) * np.cos(angle)).astype(int)
        inside = (z >= 0) & (z < nz) & (y >= 0) & (y < ny)
        mask = np.zeros(self.shape, bool)
        mask[z[inside], y[inside]] = True
        return mask

    def _build(self):
        self._rotation = self.rng.uniform(0, 2 * np.pi)
        size = self.shape[0] * self.shape[1]

        def spiral(n):
            return self.points(int(n)) | self.calib_box

        return _bisect(spiral, self.target, 0, 20 * size, decreasing=False, iterations=60)


class EquispacedPattern(SamplingPattern):
    """fastMRI-style 2D pattern: ``calib`` centre ky lines plus equispaced lines, same for all kz.

    The extra lines are spread evenly over the non-centre ky positions from a random offset.
    """

    name = "equispaced"

    def __init__(self, shape, accel, calib=24, seed=0):
        super().__init__(shape, accel, calib, seed)
        nz, ny = self.shape
        self._lines_target = int(round(ny / self.accel))
        achievable = ny / max(self._lines_target, 1)
        if self._lines_target < 1 or abs(achievable - self.accel) > TOLERANCE * self.accel:
            raise ValueError(
                f"{ny} ky lines cannot realise R = {accel} within 2 % with whole lines (closest "
                f"{achievable:.3f}); choose R dividing ny more evenly"
            )
        self.target = self._lines_target * nz

    def _calibration(self):
        cy = self.calib if np.isscalar(self.calib) else self.calib[-1]
        return calibration_box(self.shape, (self.shape[0], cy))

    def _build(self):
        centre = self.calib_box[0]
        free = np.flatnonzero(~centre)
        extra = self._lines_target - int(centre.sum())
        lines = centre.copy()
        if extra > 0:
            step = free.size / extra
            picks = np.floor(self.rng.uniform(0, step) + step * np.arange(extra)).astype(int)
            lines[free[np.minimum(picks, free.size - 1)]] = True
        return np.broadcast_to(lines, self.shape).copy()

    @property
    def mask(self):
        if self._mask is None:
            self._mask = self._build()
        return self._mask


_CLASSES = {cls.name: cls for cls in (PoissonDiscPattern, PhyllotaxisPattern, EquispacedPattern)}


def create_pattern(pattern: str, shape, accel: float, calib=24, seed=0, **options) -> SamplingPattern:
    """Factory: a :class:`SamplingPattern` from its name (``poisson``, ``phyllotaxis``, ``equispaced``)."""
    if pattern not in _CLASSES:
        raise ValueError(f"unknown sampling pattern {pattern!r}; choose one of {', '.join(PATTERNS)}")
    return _CLASSES[pattern](shape, accel, calib=calib, seed=seed, **options)


def create_mask(pattern: str, shape, accel: float, calib=24, seed=0, **options) -> np.ndarray:
    """Boolean ``(nz, ny)`` mask of ``pattern`` at acceleration ``accel`` (R = 1: fully sampled)."""
    return create_pattern(pattern, shape, accel, calib=calib, seed=seed, **options).mask


def subset_mask(acquired_mask, accel: float, *, calib=24, seed=0, vd: float = 2.0) -> np.ndarray:
    """Retrospective undersampling: a variable-density subset of ``acquired_mask`` at R = ``accel``.

    R counts against the full grid (R = 8 from an R = 4 acquisition keeps half the samples).
    Acquired samples inside the calibration box are all kept; the rest are chosen by Poisson-disc
    dart throwing restricted to acquired positions, so spacing stays even.
    """
    acquired = np.asarray(acquired_mask)
    if acquired.dtype != bool or acquired.ndim != 2:
        raise ValueError(
            f"acquired mask must be a 2D boolean (kz, ky) array, got {acquired.dtype} {acquired.shape}"
        )
    have = acquired.size / max(int(acquired.sum()), 1)
    if float(accel) < have * (1 - TOLERANCE):
        raise ValueError(
            f"cannot take R = {accel} from an acquisition at R = {have:.3f}: a subset can only be "
            f"more undersampled; request R >= {have:.3f}"
        )
    box = calibration_box(acquired.shape, calib) & acquired
    pattern = PoissonDiscPattern(acquired.shape, accel, calib=0, seed=seed, vd=vd, candidates=acquired)
    pattern.calib_box = box
    if int(box.sum()) > pattern.target:
        raise ValueError(
            f"the acquired calibration region exceeds the samples R = {accel} allows; reduce calib"
        )
    mask = pattern._build() & acquired
    excess = int(mask.sum()) - pattern.target
    if excess > 0:
        drop = np.flatnonzero(mask & ~box)
        mask.flat[pattern.rng.choice(drop, size=excess, replace=False)] = False
    elif excess < 0:
        add = np.flatnonzero(acquired & ~mask)
        mask.flat[pattern.rng.choice(add, size=-excess, replace=False)] = True
    return mask


def centre_box_mask(shape, factor: int = 2) -> np.ndarray:
    """Boolean ``(nz, ny)`` mask of the central ``1/factor`` of each phase-encode axis.

    This is a low-resolution acquisition on the full matrix: ``factor = 2`` keeps a quarter of
    the phase encodes (R = 4 in scan time), the input of 2x super-resolution.
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


def low_resolution_mask(
    shape, accel: float, factor: int = 2, *, calib=24, seed=0, acquired=None
) -> np.ndarray:
    """A low-resolution acquisition at total acceleration ``accel`` (R counts against the full grid).

    The central ``1/factor`` of each phase-encode axis (:func:`centre_box_mask`, R = factor^2)
    is acquired, and above that R it is undersampled further by a variable-density subset with
    the calibration square kept (:func:`subset_mask`), e.g. R = 8 with factor 2 keeps half the
    centre. This is the acquisition the ``dl_sr`` method (boost, then 2x super-resolution) takes.

    ``acquired``: the data's own sampling mask, when the acquisition is drawn from measured data;
    its central box must be complete, or the low-resolution data would lack samples they claim.
    """
    box = centre_box_mask(shape, factor)
    if acquired is not None:
        missing = int((box & ~np.asarray(acquired, bool)).sum())
        if missing:
            raise ValueError(
                f"the central 1/{factor} of the phase encodes is not fully sampled in the data ({missing} "
                f"of {int(box.sum())} samples missing); dl_sr simulates its low-resolution acquisitions "
                "from it: drop dl_sr from recon.methods for these data"
            )
    box_r = box.size / box.sum()
    if float(accel) < box_r * (1 - TOLERANCE):
        raise ValueError(
            f"a low-resolution acquisition with factor {factor} per axis is already R = {box_r:.3g}; "
            f"R = {accel} is below it: use R >= {box_r:.3g} for dl_sr (sampling.accelerations)"
        )
    if float(accel) <= box_r * (1 + TOLERANCE):
        return box
    return subset_mask(box, accel, calib=calib, seed=seed)


def study_masks(
    acquired_mask, accelerations, pattern: str, *, calib=24, seed_for=None, retrospective_from=None
) -> dict:
    """The masks of one acquisition at every R of a study, keyed by R as given.

    Args:
        acquired_mask: boolean ``(kz, ky)`` positions the data hold (all true if fully sampled).
        accelerations: the R values (numbers or strings such as ``"4"``).
        pattern: sampling pattern name for fully sampled data (see :func:`create_mask`).
        calib: side of the fully sampled calibration square.
        seed_for: ``R -> int`` seed of each mask (default 0 for all).
        retrospective_from: an R of ``accelerations``; when given, its mask is drawn first and every
            other R is a subset of it (seed 000 simulated R = 6, 8, 12 from an acquired R = 4).

    Data that arrive already undersampled always give subsets of the acquired mask.
    """
    acquired = np.asarray(acquired_mask, bool)
    seed_for = seed_for or (lambda R: 0)
    if retrospective_from is not None and retrospective_from not in accelerations:
        raise ValueError(
            f"retrospective_from={retrospective_from!r} is not one of the R values {accelerations}"
        )

    def draw(source, R):
        if source.all():
            return create_mask(pattern, source.shape, float(R), calib=calib, seed=seed_for(R))
        return subset_mask(source, float(R), calib=calib, seed=seed_for(R))

    masks = {}
    if retrospective_from is not None:
        masks[retrospective_from] = draw(acquired, retrospective_from)
    for R in accelerations:
        if R not in masks:
            masks[R] = draw(masks.get(retrospective_from, acquired), R)
    return {R: masks[R] for R in accelerations}

"""Training data: fully sampled volumes cut into (kz, ky) planes, with masks drawn per sample.

A :class:`TrainingVolume` holds one fully sampled echo as hybrid planes ``(x, coil, kz, ky)``
(inverse FFT along the readout done once) and its magnitude target ``(x, z, y)``, both divided
by one volume scale. :class:`PlaneSampler` draws batches of planes and a sampling mask for each
plane from generators seeded by ``(seed, epoch, step)``, so an epoch's batches depend on
nothing else: this is what makes training resumable bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from reconstudy.fourier import ifftc
from reconstudy.io.kspace import KSpace
from reconstudy.recon.dl.inference import hybrid_planes, maps_as_planes, prewhiten

MaskFunction = Callable[[tuple[int, int], float, np.random.Generator], np.ndarray]


@dataclass
class TrainingVolume:
    """One fully sampled echo prepared for plane-wise training.

    Attributes:
        planes: complex64 ``(x, coil, kz, ky)``, normalised by ``scale``.
        target: float32 magnitude ``(x, z, y)``, normalised by ``scale``.
        scale: the divisor applied to both.
        name: subject / acquisition label (for manifests and logs).
        group: a grouping key, e.g. the anatomy (label map) index used for hold-out folds.
        brain: optional boolean ``(x, z, y)`` mask for evaluation.
        maps: optional complex64 ESPIRiT coil maps ``(x, coil, kz, ky)`` (image space per plane)
            for models that take them (``VarNet(coil_maps="espirit")``).
    """

    planes: np.ndarray
    target: np.ndarray
    scale: float
    name: str = ""
    group: int = 0
    brain: np.ndarray | None = None
    maps: np.ndarray | None = None

    @property
    def data_range(self) -> float:
        return float(self.target.max())

    def signal_planes(self, min_fraction: float = 0.1) -> np.ndarray:
        """Indices of readout positions whose target reaches ``min_fraction`` of the volume maximum."""
        peak = self.target.reshape(self.target.shape[0], -1).max(axis=1)
        keep = np.flatnonzero(peak >= min_fraction * peak.max())
        return keep if keep.size else np.arange(self.target.shape[0])


def rss_image(coil_kspace: np.ndarray) -> np.ndarray:
    """Root-sum-of-squares magnitude ``(z, y, x)`` of fully sampled ``(coil, kz, ky, kx)`` k-space."""
    return np.sqrt((np.abs(ifftc(coil_kspace, axes=(-3, -2, -1))) ** 2).sum(axis=0)).astype(np.float32)


def training_volume(
    kspace: KSpace,
    echo: int = 0,
    target: np.ndarray | None = None,
    brain: np.ndarray | None = None,
    name: str = "",
    group: int = 0,
    coil_map_calibration: int | None = None,
) -> TrainingVolume:
    """Prepare one echo of a fully sampled :class:`KSpace` for training.

    Args:
        kspace: fully sampled 3D k-space.
        echo: which echo to use.
        target: magnitude target ``(z, y, x)`` on the k-space's intensity scale. Default: with
            coil maps, the fully sampled coil images combined with those maps,
            ``|sum_c conj(S_c) x_c|`` (what SENSE of the full data gives: the workflow's reference,
            zero where the maps are, so no network learns the background noise); without maps
            the root-sum-of-squares of the fully sampled (prewhitened) coil images.
        brain: optional boolean ``(z, y, x)`` mask kept for evaluation.
        coil_map_calibration: when given, ESPIRiT maps are estimated from the central
            ``n x n`` (kz, ky) calibration block only, exactly as inference estimates them from an
            undersampled acquisition with that calibration region.
    """
    if kspace.encoding != "3d":
        raise ValueError(
            f"training needs 3D-encoded k-space, {name or kspace.acquisition} has {kspace.encoding!r}"
        )
    if not kspace.sampling_mask.all():
        raise ValueError(
            f"training needs fully sampled k-space; {name or kspace.acquisition} is undersampled"
        )
    coil_kspace = prewhiten(kspace.data[echo], kspace.noise_covariance)
    maps = None
    if coil_map_calibration:
        maps = plane_coil_maps(calibration_only(kspace, int(coil_map_calibration)))
    if target is None:
        target = rss_image(coil_kspace) if maps is None else coil_combined_image(coil_kspace, maps)
    target = np.abs(np.asarray(target, dtype=np.float32))
    if target.shape != coil_kspace.shape[1:]:
        raise ValueError(
            f"target shape {target.shape} does not match the image shape {coil_kspace.shape[1:]}"
        )
    scale = float(np.percentile(target, 99)) or 1.0
    to_planes = (2, 0, 1)  # (z, y, x) -> (x, z, y)
    return TrainingVolume(
        planes=hybrid_planes(coil_kspace / scale),
        target=np.ascontiguousarray(np.transpose(target / scale, to_planes)).astype(np.float32),
        scale=scale,
        name=name,
        group=group,
        brain=None
        if brain is None
        else np.ascontiguousarray(np.transpose(np.asarray(brain, bool), to_planes)),
        maps=maps,
    )


def coil_combined_image(coil_kspace: np.ndarray, plane_maps: np.ndarray) -> np.ndarray:
    """``|sum_c conj(S_c) F^H k_c|`` ``(z, y, x)`` from k-space ``(coil, kz, ky, kx)`` and maps in
    the planes' layout ``(x, coil, z, y)``."""
    images = ifftc(coil_kspace, axes=(-3, -2, -1))
    maps = np.moveaxis(plane_maps, 0, -1)  # (coil, z, y, x)
    return np.abs((np.conj(maps) * images).sum(axis=0)).astype(np.float32)


def calibration_only(kspace: KSpace, calibration: int) -> KSpace:
    """A copy of ``kspace`` keeping only the centred ``calibration``-square (kz, ky) block."""
    from reconstudy.sampling import calibration_box

    box = calibration_box(kspace.sampling_mask.shape, calibration)
    data = kspace.data * box[None, None, :, :, None]
    return KSpace(data, kspace.geometry, kspace.acquisition, kspace.noise_covariance, box, kspace.encoding)


def plane_coil_maps(kspace: KSpace, coil_method: str = "espirit") -> np.ndarray:
    """Coil maps of the conventional reconstructions as ``(x, coil, z, y)`` planes."""
    from reconstudy.recon.api import estimate_coil_maps

    return maps_as_planes(estimate_coil_maps(kspace, coil_method=coil_method))


def sampling_mask_function(pattern: str = "poisson", calibration: int = 12) -> MaskFunction:
    """Masks from :func:`reconstudy.sampling.create_mask` (the study's own patterns)."""
    from reconstudy.sampling import create_mask

    def draw(shape, accel, rng):
        return create_mask(pattern, shape, accel, calib=calibration, seed=int(rng.integers(2**31)))

    return draw


def _bank_mask(args) -> np.ndarray:
    from reconstudy.sampling import create_mask

    pattern, shape, accel, calibration, seed = args
    return create_mask(pattern, shape, accel, calib=calibration, seed=seed)


class MaskBank:
    """Pre-drawn training masks: ``size`` masks per (plane shape, R), a :data:`MaskFunction`.

    Drawing a Poisson-disc mask costs tens of milliseconds on a CPU, more than a GPU training
    step of a whole batch, so time-budgeted GPU runs draw each plane's mask from a bank instead.
    Mask ``j`` of R is seeded from ``(seed, 7919, round(100 R), j)``; which one a plane gets
    comes from the batch's generator, so batches stay a pure function of ``(seed, epoch, step)``.

    Args:
        pattern, calibration: as :func:`sampling_mask_function`.
        shapes: the ``(kz, ky)`` plane shapes of the training volumes.
        accelerations: the R values drawn in training.
        size: masks per (shape, R).
        seed: base seed.
        workers: processes drawing the bank (1: in this process).
    """

    def __init__(self, pattern, calibration, shapes, accelerations, size, seed, workers=1):
        jobs, keys = [], []
        for shape in shapes:
            for accel in accelerations:
                for j in range(int(size)):
                    keys.append((tuple(shape), float(accel)))
                    rng = np.random.default_rng([seed, 7919, int(round(100 * accel)), j])
                    mask_seed = int(rng.integers(2**31))
                    jobs.append((pattern, tuple(shape), float(accel), calibration, mask_seed))
        if workers > 1 and len(jobs) > 1:
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(int(workers)) as pool:
                masks = pool.map(_bank_mask, jobs, chunksize=max(1, len(jobs) // (4 * workers)))
        else:
            masks = [_bank_mask(job) for job in jobs]
        self.masks: dict[tuple, list[np.ndarray]] = {}
        for key, mask in zip(keys, masks):
            self.masks.setdefault(key, []).append(np.asarray(mask, bool))

    def __call__(self, shape, accel, rng: np.random.Generator) -> np.ndarray:
        bank = self.masks.get((tuple(shape), float(accel)))
        if bank is None:
            raise ValueError(f"the mask bank has no masks for plane shape {tuple(shape)} and R={accel:g}")
        return bank[int(rng.integers(len(bank)))]


@dataclass
class Batch:
    kspace: np.ndarray  # complex64 (B, coil, kz, ky), undersampled
    mask: np.ndarray  # float32 (B, 1, kz, ky)
    target: np.ndarray  # float32 (B, kz, ky)
    data_range: np.ndarray  # float32 (B,)
    maps: np.ndarray | None = None  # complex64 (B, coil, z, y) for models that take coil maps


class PlaneSampler:
    """Seeded batches of undersampled planes.

    Each batch takes ``batch_size`` planes of one volume (so volumes of different matrices can
    be mixed) and one mask per plane with R drawn uniformly from ``accelerations``.

    Args:
        volumes: the training volumes.
        mask_fn: ``(shape, R, rng) -> bool (kz, ky)``.
        accelerations: R values to draw from.
        batch_size: planes per batch.
        seed: base seed; batch ``step`` of ``epoch`` uses ``default_rng([seed, epoch, step])``.
    """

    def __init__(
        self,
        volumes: Sequence[TrainingVolume],
        mask_fn: MaskFunction,
        accelerations: Sequence[float],
        batch_size: int,
        seed: int,
        min_signal: float = 0.1,
    ):
        if not volumes:
            raise ValueError("no training volumes: check the data section of the training config")
        self.volumes, self.mask_fn = list(volumes), mask_fn
        self.accelerations, self.batch_size, self.seed = list(accelerations), int(batch_size), int(seed)
        self.candidates = [v.signal_planes(min_signal) for v in self.volumes]

    def batch(self, epoch: int, step: int) -> Batch:
        rng = np.random.default_rng([self.seed, epoch, step])
        index = int(rng.integers(len(self.volumes)))
        volume = self.volumes[index]
        xs = rng.choice(self.candidates[index], size=self.batch_size, replace=True)
        return self._assemble(volume, xs, [float(rng.choice(self.accelerations)) for _ in xs], rng)

    def fixed_batches(self, n_planes: int, accelerations: Sequence[float], seed: int) -> list[Batch]:
        """A fixed validation set: ``n_planes`` planes per volume at each R, masks seeded by ``seed``."""
        batches = []
        for v, volume in enumerate(self.volumes):
            for accel in accelerations:
                rng = np.random.default_rng([seed, v, int(round(100 * accel))])
                xs = np.sort(
                    rng.choice(self.candidates[v], size=min(n_planes, len(self.candidates[v])), replace=False)
                )
                batches.append(self._assemble(volume, xs, [accel] * len(xs), rng))
        return batches

    def _assemble(self, volume: TrainingVolume, xs, accels, rng) -> Batch:
        shape = volume.planes.shape[-2:]
        masks = np.stack([self.mask_fn(shape, accel, rng) for accel in accels]).astype(np.float32)
        kspace = volume.planes[xs] * masks[:, None]
        return Batch(
            kspace=kspace.astype(np.complex64),
            mask=masks[:, None],
            target=volume.target[xs],
            data_range=np.full(len(xs), volume.data_range, dtype=np.float32),
            maps=None if volume.maps is None else volume.maps[xs],
        )

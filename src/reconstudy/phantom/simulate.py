"""One simulated subject: anatomy -> group effects -> tissue maps -> fields -> signals -> k-space.

Every random choice draws from ``numpy.random.default_rng([seed, subject, stream])``, where
``subject`` is a stable hash of the subject id and ``stream`` names the step (anatomy,
tissue, lesions, phase, noise ...). The group never enters a stream, so a control and an
impaired subject with the same id, anatomy and seed share their deformation and tissue
jitter and differ only by the group effect.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reconstudy.dipole import ppm_to_radians
from reconstudy.fourier import fftc
from reconstudy.io.kspace import Geometry, KSpace
from reconstudy.phantom import anatomy as anat
from reconstudy.phantom import coils, effects, fields, signals
from reconstudy.phantom.config import GROUPS, PhantomConfig
from reconstudy.phantom.tissue import load_tissue_table, subject_properties

STREAMS = {
    "anatomy": 1,
    "tissue": 2,
    "effects": 3,
    "lesions": 4,
    "phase": 5,
    "coils": 6,
    "noise_T1w": 7,
    "noise_mGRE": 8,
    "lesion_chi": 9,
    "baseline": 10,
}
LESION_T1_FACTOR, LESION_T2STAR_FACTOR, LESION_PD_FACTOR, RIM_T2STAR_FACTOR = 1.5, 1.25, 1.08, 0.7


@dataclass
class SimulatedSubject:
    """A simulated subject: fully sampled raw data of each acquisition and its ground truth.

    Attributes:
        subject_id: the cohort sheet's subject id.
        kspace: ``{"T1w": KSpace (1 echo), "mGRE": KSpace (n echoes)}``, fully sampled, with
            ``noise_covariance`` set.
        truth: ``(z, y, x)`` arrays: ``labels`` int16, ``chi`` (ppm, brain only, relative to
            CSF), ``brain_mask`` uint8, ``T1w`` (noise-free coil-combined magnitude),
            ``mGRE_magnitude`` (echo, z, y, x), ``mGRE_phase0`` (rad), ``field_total`` and
            ``field_local`` (ppm), ``lesions`` (int16 lesion ids).
        lesions: one row per lesion (id, kind, centre voxel and RAS mm, radius, core/rim χ).
        geometry: image geometry shared by both acquisitions (echo times of the mGRE).
        coil_maps: complex64 (coil, z, y, x) sensitivities used for the simulation.
        info: group, anatomy, scaling, seed, timings.
    """

    subject_id: str
    kspace: dict[str, KSpace]
    truth: dict[str, np.ndarray]
    lesions: pd.DataFrame
    geometry: Geometry
    coil_maps: np.ndarray = field(repr=False)
    info: dict = field(default_factory=dict)


def subject_key(subject_id: str) -> int:
    """Stable non-negative integer of a subject id (CRC-32), for seeding."""
    return zlib.crc32(str(subject_id).encode("utf-8"))


def _rng(seed, subject_id, stream):
    return np.random.default_rng([int(seed), subject_key(subject_id), STREAMS[stream]])


def _geometries(config: PhantomConfig):
    common = dict(b0_tesla=config.b0_tesla, b0_direction=config.b0_direction)
    mgre = Geometry.centred(
        config.matrix, config.voxel_size_mm, echo_times_ms=config.mgre.echo_times_ms, **common
    )
    t1w = Geometry.centred(config.matrix, config.voxel_size_mm, echo_times_ms=(config.t1w.te_ms,), **common)
    return t1w, mgre


def _enlarged_grid(geometry: Geometry, margin_mm: float):
    margin = np.ceil(margin_mm / np.asarray(geometry.voxel_size_mm)).astype(int)  # (x, y, z)
    shift = np.eye(4)
    shift[:3, 3] = -margin
    shape = tuple(int(n + 2 * m) for n, m in zip(geometry.matrix[::-1], margin[::-1]))
    crop = tuple(slice(m, m + n) for m, n in zip(margin[::-1], geometry.matrix[::-1]))
    return geometry.affine @ shift, shape, crop


def _apply_group(group, labels, props, geometry, config, seed, subject_id):
    voxel_zyx = geometry.voxel_size_mm[::-1]
    effects.harmonise(
        labels, props.intracranial, props.parenchyma, voxel_zyx, _rng(seed, subject_id, "baseline")
    )
    info = {}
    if group == "impaired":
        rng = _rng(seed, subject_id, "effects")
        fractions = {label: float(rng.uniform(*config.atrophy_range)) for label in effects.ATROPHY}
        growth = float(rng.uniform(*config.ventricle_growth_range))
        effects.atrophy(labels, voxel_zyx, fractions, rng)
        effects.grow_ventricles(labels, voxel_zyx, growth, props.parenchyma, rng)
        info = {"atrophy_fraction": fractions, "ventricle_growth": growth}
    empty = pd.DataFrame(columns=[*effects.LESION_COLUMNS, "core_chi_ppm", "rim_chi_ppm", "n_voxels"])
    if group != "ms":
        return np.zeros(labels.shape, np.int16), np.zeros(labels.shape, bool), empty, info
    rng = _rng(seed, subject_id, "lesions")
    lesion_map, rim, table = effects.place_lesions(
        labels,
        geometry.affine,
        voxel_zyx,
        config.n_lesions,
        config.lesion_radius_mm,
        config.prl_fraction,
        rng,
    )
    return lesion_map, rim, table, info


def _lesion_maps(maps, lesion_map, rim, table, props, rng):
    """Overwrite tissue maps inside lesions and fill the table's χ columns (in place)."""
    chi_wm = float(props.chi_ppm[[2, 41]].mean())
    t2star_wm = float(props.t2star_ms[[2, 41]].mean())
    core, rim_chi, n_vox = [], [], []
    for row in table.itertuples():
        inside = lesion_map == row.lesion_id
        c, r = effects.lesion_properties(row.kind, chi_wm, rng)
        maps["t1_ms"][inside] *= LESION_T1_FACTOR
        maps["t2star_ms"][inside] *= LESION_T2STAR_FACTOR
        maps["pd"][inside] = np.minimum(maps["pd"][inside] * LESION_PD_FACTOR, 1.0)
        maps["chi_ppm"][inside] = c
        if row.kind == "prl":
            on_rim = inside & rim
            maps["chi_ppm"][on_rim] = r
            maps["t2star_ms"][on_rim] = RIM_T2STAR_FACTOR * t2star_wm
        core.append(c)
        rim_chi.append(r)
        n_vox.append(int(inside.sum()))
    table["core_chi_ppm"], table["rim_chi_ppm"], table["n_voxels"] = core, rim_chi, n_vox
    return table


def _kspace(image, coil_maps, covariance, noise_level, rng, geometry, name):
    """Coil images -> k-space (echo, coil, kz, ky, kx) with noise of std noise_level * p95(|image|)."""
    scale = float(np.percentile(np.abs(image[0]), 95))
    sigma2 = (noise_level * scale) ** 2
    cov = covariance * sigma2
    data = np.empty((image.shape[0], coil_maps.shape[0], *image.shape[1:]), dtype=np.complex64)
    for e in range(image.shape[0]):  # one echo at a time bounds the memory of the noise draws
        data[e] = fftc(coil_maps * image[e][None], axes=(-3, -2, -1))
        if sigma2 > 0:
            data[e] = coils.add_noise(data[e : e + 1], cov, rng)[0]
    return KSpace(data, geometry, acquisition=name, noise_covariance=cov.astype(np.complex64))


def simulate_subject(
    subject_id: str, group: str, anatomy: int, config: PhantomConfig, seed: int
) -> SimulatedSubject:
    """Simulate one subject's T1w and mGRE raw k-space with its ground truth.

    Args:
        subject_id: subject id (any string; hashed into the random streams).
        group: ``"control"``, ``"impaired"`` or ``"ms"``.
        anatomy: which shipped label map (1..3).
        config: simulation parameters.
        seed: the config's master seed (non-negative integer).
    """
    path = anat.anatomy_path(config.resource("anatomy"), anatomy)  # validates anatomy first
    if group not in GROUPS:
        raise ValueError(f"group must be one of {list(GROUPS)} (sheet column 'group'), got {group!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    timings, t0 = {}, time.perf_counter()
    t1w_geom, geometry = _geometries(config)
    voxel = geometry.voxel_size_mm
    table = load_tissue_table(config.resource("tissue_properties.tsv"))

    rng = _rng(seed, subject_id, "anatomy")
    scale = 1 + float(rng.uniform(-config.scaling_range, config.scaling_range))
    displacement = anat.random_displacement(rng, config.deformation_mm)
    ext_affine, ext_shape, crop = _enlarged_grid(geometry, config.background_margin_mm)
    labels_ext = anat.resample_labels(path, ext_affine, ext_shape, scale, displacement)
    props = subject_properties(table, config.b0_tesla, config.jitter, _rng(seed, subject_id, "tissue"))
    timings["anatomy_s"] = time.perf_counter() - t0

    background = fields.background_field(
        labels_ext, props.chi_ppm, props.intracranial, voxel, config.b0_direction
    )
    background = background[crop]
    labels = labels_ext[crop].copy()
    del labels_ext
    timings["background_s"] = time.perf_counter() - t0 - sum(timings.values())

    lesion_map, rim, lesions, group_info = _apply_group(
        group, labels, props, geometry, config, seed, subject_id
    )
    maps = props.maps(labels)
    brain = props.intracranial[labels]
    lesions = _lesion_maps(maps, lesion_map, rim, lesions, props, _rng(seed, subject_id, "lesion_chi"))
    chi = np.where(brain, maps["chi_ppm"], 0).astype(np.float32)
    background = fields.shim(background, brain, config.shim_order, voxel)
    local = fields.local_field(chi, voxel, config.b0_direction)
    total = (local + background).astype(np.float32)
    timings["fields_s"] = time.perf_counter() - t0 - sum(timings.values())

    phase0 = signals.smooth_phase(labels.shape, config.phase_amplitude_rad, _rng(seed, subject_id, "phase"))
    t1w_real = signals.t1w_signal(maps["pd"], maps["t1_ms"], maps["t2star_ms"], config.t1w)
    t1w_phase = phase0 + ppm_to_radians(total, config.t1w.te_ms, config.b0_tesla)
    t1w_image = (t1w_real * np.exp(1j * t1w_phase)).astype(np.complex64)[None]
    mgre = config.mgre
    mgre_image = signals.mgre_signal(
        maps["pd"],
        maps["t1_ms"],
        maps["t2star_ms"],
        total,
        phase0,
        mgre.echo_times_ms,
        mgre.tr_ms,
        mgre.flip_deg,
        config.b0_tesla,
    )
    coil_maps = coils.coil_sensitivities(geometry, config.n_coils)
    covariance = coils.noise_covariance(
        config.n_coils, config.coil_correlation, _rng(seed, subject_id, "coils")
    )
    timings["signals_s"] = time.perf_counter() - t0 - sum(timings.values())
    kspace = {
        "T1w": _kspace(
            t1w_image,
            coil_maps,
            covariance,
            config.noise_level,
            _rng(seed, subject_id, "noise_T1w"),
            t1w_geom,
            "T1w",
        ),
        "mGRE": _kspace(
            mgre_image,
            coil_maps,
            covariance,
            config.noise_level,
            _rng(seed, subject_id, "noise_mGRE"),
            geometry,
            "mGRE",
        ),
    }
    timings["kspace_s"] = time.perf_counter() - t0 - sum(timings.values())
    truth = {
        "labels": labels.astype(np.int16),
        "chi": chi,
        "brain_mask": brain.astype(np.uint8),
        "T1w": np.abs(t1w_image[0]).astype(np.float32),
        "mGRE_magnitude": np.abs(mgre_image).astype(np.float32),
        "mGRE_phase0": phase0,
        "field_total": total,
        "field_local": local.astype(np.float32),
        "lesions": lesion_map,
    }
    timings["total_s"] = time.perf_counter() - t0
    info = {
        "subject_id": str(subject_id),
        "group": group,
        "anatomy": int(path.name[13:15]),
        "scaling": scale,
        "seed": int(seed),
        "n_lesions": len(lesions),
        "timings": timings,
        **group_info,
    }
    return SimulatedSubject(str(subject_id), kspace, truth, lesions, geometry, coil_maps, info)

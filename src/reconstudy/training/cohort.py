"""Training, validation and held-out test subjects simulated from the phantom's label maps.

Leave-one-anatomy-out: training and validation subjects are made from ``train_anatomies``;
test subjects from ``test_anatomy``, a label map the network never sees. Subject ``i`` of
anatomy ``a`` is seeded from ``(data seed, "dl", a, i)`` and its group cycles through
``groups``, so the same config always simulates the same cohort. Simulated k-space can be
cached on disk (``cache_dir``) because the folds reuse the same subjects in different roles.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reconstudy.io.kspace import Geometry, KSpace
from reconstudy.seeding import derive_seed
from reconstudy.training.data import TrainingVolume, training_volume
from reconstudy.training.evaluate import HeldOutSubject

log = logging.getLogger("reconstudy")
EXTRA_CEREBRAL_FIRST = 500  # FreeSurfer/SynthSeg labels >= 500 are outside the brain
CSF_LABEL = 24


@dataclass
class Cohort:
    train: list[TrainingVolume] = field(default_factory=list)
    val: list[TrainingVolume] = field(default_factory=list)
    test: list[HeldOutSubject] = field(default_factory=list)
    description: dict = field(default_factory=dict)


def brain_mask_from_labels(labels: np.ndarray) -> np.ndarray:
    """Brain parenchyma and ventricles: FreeSurfer labels 1-499 except extra-cerebral CSF (24)."""
    labels = np.asarray(labels)
    return (labels > 0) & (labels < EXTRA_CEREBRAL_FIRST) & (labels != CSF_LABEL)


def _truth_labels(truth) -> np.ndarray:
    for name in ("labels", "label_map", "segmentation"):
        value = truth.get(name) if isinstance(truth, dict) else getattr(truth, name, None)
        if value is not None:
            return np.asarray(value)
    raise ValueError("the simulated subject's truth has no 'labels' map to derive a brain mask from")


def simulate(subject_id: str, group: str, anatomy: int, phantom: dict, seed: int, acquisition: str):
    """One simulated subject: fully sampled :class:`KSpace` of ``acquisition`` and its brain mask."""
    from reconstudy.phantom import PhantomConfig, simulate_subject

    subject = simulate_subject(subject_id, group, anatomy, PhantomConfig.from_dict(phantom), seed)
    if acquisition not in subject.kspace:
        raise ValueError(
            f"the phantom has no acquisition {acquisition!r}; it simulates {sorted(subject.kspace)}"
        )
    truth = subject.truth
    brain = truth["brain_mask"] if "brain_mask" in truth else brain_mask_from_labels(_truth_labels(truth))
    return subject.kspace[acquisition], np.asarray(brain, dtype=bool)


def _cached_simulation(cache_dir, subject_id, group, anatomy, phantom, seed, acquisition):
    if cache_dir is None:
        return simulate(subject_id, group, anatomy, phantom, seed, acquisition)
    path = Path(cache_dir) / f"{subject_id}_seed{seed}_{acquisition}.npz"
    if path.is_file():
        stored = np.load(path)
        geometry = Geometry(
            tuple(stored["matrix"]),
            tuple(stored["voxel"]),
            stored["affine"],
            float(stored["b0"]),
            tuple(stored["b0dir"]),
            tuple(stored["te"]),
        )
        covariance = stored["noise_covariance"] if stored["noise_covariance"].size else None
        return KSpace(stored["data"], geometry, acquisition, covariance), stored["brain"]
    kspace, brain = simulate(subject_id, group, anatomy, phantom, seed, acquisition)
    from reconstudy.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        g = kspace.geometry
        np.savez(
            tmp,
            data=kspace.data,
            brain=brain,
            matrix=g.matrix,
            voxel=g.voxel_size_mm,
            affine=g.affine,
            b0=g.b0_tesla,
            b0dir=g.b0_direction,
            te=np.asarray(g.echo_times_ms, float),
            noise_covariance=np.zeros(0) if kspace.noise_covariance is None else kspace.noise_covariance,
        )
    return kspace, brain


def _simulate_job(job):
    """One subject: ``(kspace, brain)`` for a test subject, its :class:`TrainingVolume` otherwise.

    Training volumes (with their ESPIRiT maps, seconds per volume) are prepared in the worker,
    so they are made in parallel too.
    """
    role, calibration, (cache_dir, subject_id, group, anatomy, phantom, seed, acquisition) = job
    kspace, brain = _cached_simulation(cache_dir, subject_id, group, anatomy, phantom, seed, acquisition)
    if role == "test":
        return kspace, brain
    return training_volume(
        kspace, name=subject_id, group=anatomy, brain=brain, coil_map_calibration=calibration
    )


def build_cohort(
    data: dict, workers: int = 1, roles=("train", "val", "test"), coil_map_calibration: int | None = None
) -> Cohort:
    """Simulate the cohort described by the ``data`` section of a training config.

    Keys: ``train_anatomies``, ``test_anatomy``, ``train_subjects_per_anatomy``,
    ``val_subjects_per_anatomy``, ``test_subjects``, ``groups``, ``seed``, ``phantom``
    (PhantomConfig overrides), ``acquisition``, ``cache_dir`` (optional).

    Args:
        data: the config's data section.
        workers: processes simulating subjects in parallel (each subject is seeded by its own
            id, so the cohort does not depend on this).
        roles: which of ``train``, ``val``, ``test`` to simulate (e.g. only ``test`` to score a
            trained model again); the description still names every subject.
        coil_map_calibration: estimate ESPIRiT maps for the training volumes from this central
            calibration block (models with ``coil_maps="espirit"``; see
            :meth:`reconstudy.training.loop.TrainConfig.coil_map_calibration`).
    """
    if data.get("source", "phantom") != "phantom":
        raise ValueError(f"data.source {data.get('source')!r} is not supported; use 'phantom'")
    cohort = Cohort()
    groups, seed, acq = list(data["groups"]), int(data["seed"]), data["acquisition"]
    n_train, n_val = int(data["train_subjects_per_anatomy"]), int(data["val_subjects_per_anatomy"])
    plan = []
    for anatomy in data["train_anatomies"]:
        plan += [("train" if i < n_train else "val", int(anatomy), i) for i in range(n_train + n_val)]
    plan += [("test", int(data["test_anatomy"]), i) for i in range(int(data["test_subjects"]))]
    started = time.perf_counter()
    names = {"train": [], "val": [], "test": []}
    jobs = []
    for role, anatomy, i in plan:
        # Test subjects use indices after the training ones, so a subject never changes role by fold.
        index = i if role != "test" else 1000 + i
        subject_id = f"dl-a{anatomy}-{index:04d}"
        names[role].append(subject_id)
        if role not in roles:
            continue
        group = groups[index % len(groups)]
        subject_seed = derive_seed(seed, "dl", anatomy, index)
        jobs.append(
            (
                role,
                anatomy,
                group,
                (data.get("cache_dir"), subject_id, group, anatomy, data["phantom"], subject_seed, acq),
            )
        )
    if workers > 1 and len(jobs) > 1:
        import multiprocessing

        # spawn, not fork: a forked child that runs BLAS (the ESPIRiT maps) can deadlock on the
        # parent's BLAS thread pool (seen on the GPU machine: every worker hung).
        with multiprocessing.get_context("spawn").Pool(min(int(workers), len(jobs))) as pool:
            simulated = pool.imap(_simulate_job, [(job[0], coil_map_calibration, job[-1]) for job in jobs])
            results = list(simulated)
    else:
        results = (_simulate_job((job[0], coil_map_calibration, job[-1])) for job in jobs)
    for (role, anatomy, group, job), result in zip(jobs, results):
        subject_id = job[1]
        if role == "test":
            cohort.test.append(HeldOutSubject(subject_id, anatomy, *result))
        else:
            (cohort.train if role == "train" else cohort.val).append(result)
        log.info(
            "cohort: %s %s (anatomy %d, %s) ready after %.1f s",
            role,
            subject_id,
            anatomy,
            group,
            time.perf_counter() - started,
        )
    cohort.description = {
        "source": "reconstudy.phantom.simulate_subject",
        "acquisition": acq,
        "train_anatomies": list(data["train_anatomies"]),
        "test_anatomy": int(data["test_anatomy"]),
        "subjects": names,
        "groups": groups,
        "seed": seed,
        "phantom": data["phantom"],
    }
    return cohort


def cs_reconstructor(options: dict, device: str = "cpu"):
    """CS through the library's reconstruction API (``reconstudy.recon.api.reconstruct``)."""
    try:
        from reconstudy.recon.api import reconstruct
    except ImportError as err:
        raise ValueError(
            "evaluation.cs needs reconstudy.recon.api.reconstruct, which is not available; "
            "set evaluation.cs.accelerations: [] to skip the CS comparison"
        ) from err

    def run(kspace: KSpace) -> np.ndarray:
        return reconstruct(kspace, "cs", **options)

    return run

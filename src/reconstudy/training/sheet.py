"""Training data from the workflow's own cohort: the sheet's learning split and measured k-space.

The workflow's ``train_dl`` rule trains on the fully sampled raw k-space of the cohort instead
of simulating a separate one (:mod:`reconstudy.training.cohort`). This module holds the two
pieces it needs: :func:`assign_splits`, which turns the sheet's ``split`` column into a
train / val / test assignment, and :func:`volumes_from_kspace`, which prepares
:class:`~reconstudy.training.data.TrainingVolume` objects from :class:`KSpace` objects.

Seeded split: subjects whose ``split`` cell is empty are sorted by label, shuffled by a
generator seeded from ``(seed, "dl-split")`` (:func:`reconstudy.seeding.derive_seed`), and the
first ``round(n * test_fraction)`` become test, the next ``round(n * val_fraction)`` val, the
rest train. The assignment depends only on the seed, the fractions and the set of unassigned
subjects, so the same sheet and config always give the same fold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from reconstudy.io.kspace import KSpace
from reconstudy.seeding import derive_seed
from reconstudy.training.data import TrainingVolume, training_volume

SPLITS = ("train", "val", "test")


def assign_splits(
    declared: Mapping[str, str],
    seed: int,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> dict[str, str]:
    """Learning split of every subject: the sheet's value, or a seeded draw where it is empty.

    Args:
        declared: subject label -> the sheet's ``split`` cell (``train``, ``val``, ``test`` or ``""``).
        seed: the config's master seed.
        val_fraction, test_fraction: shares of the unassigned subjects that become val / test
            (rounded to whole subjects; at least one unassigned subject stays train).

    Returns:
        subject -> ``train`` | ``val`` | ``test``, in the order of ``declared``.

    Raises:
        ValueError: an unknown split value, or fractions outside [0, 1) summing to 1 or more.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"split fractions val={val_fraction} test={test_fraction} must be in [0, 1) and sum to "
            "less than 1 (the rest trains)"
        )
    bad = {s: v for s, v in declared.items() if v not in ("", *SPLITS)}
    if bad:
        raise ValueError(f"unknown split value(s) {bad}; use train, val, test or leave the cell empty")
    free = sorted(s for s, v in declared.items() if v == "")
    order = [free[i] for i in np.random.default_rng(derive_seed(seed, "dl-split")).permutation(len(free))]
    n = len(order)
    n_test, n_val = int(round(n * test_fraction)), int(round(n * val_fraction))
    # Keep one subject to train on when the fractions would take them all.
    while n and n_test + n_val >= n:
        if n_val:
            n_val -= 1
        else:
            n_test -= 1
    drawn = {s: "test" for s in order[:n_test]}
    drawn.update({s: "val" for s in order[n_test : n_test + n_val]})
    drawn.update({s: "train" for s in order[n_test + n_val :]})
    return {s: (v or drawn[s]) for s, v in declared.items()}


def volumes_from_kspace(
    kspaces: Sequence[KSpace],
    names: Sequence[str] | None = None,
    echoes: str | Sequence[int] = "all",
    coil_map_calibration: int | None = None,
) -> list[TrainingVolume]:
    """Training volumes from fully sampled k-space (measured or simulated), one per echo.

    Each echo becomes its own volume with its own scale (the 99th percentile of its
    root-sum-of-squares image, see :func:`~reconstudy.training.data.training_volume`), so a
    multi-echo acquisition contributes every echo's contrast to training.

    Args:
        kspaces: fully sampled, 3D-encoded k-space.
        names: a label per k-space (default ``vol<i>``); volumes are named ``<name>`` or
            ``<name>_echo<e>`` for multi-echo data.
        echoes: ``"all"`` or the echo indices to use (each must exist in every k-space).
        coil_map_calibration: ESPIRiT maps from this central calibration block for models that
            take coil maps (see :func:`~reconstudy.training.data.training_volume`).

    Returns:
        The volumes; ``group`` is the index of the k-space they came from.

    Raises:
        ValueError: undersampled or 2D k-space, a missing echo, or a name count mismatch.
    """
    names = [f"vol{i}" for i in range(len(kspaces))] if names is None else list(names)
    if len(names) != len(kspaces):
        raise ValueError(f"{len(names)} names given for {len(kspaces)} k-space objects")
    volumes = []
    for index, (kspace, name) in enumerate(zip(kspaces, names)):
        n_echo = kspace.data.shape[0]
        chosen = range(n_echo) if isinstance(echoes, str) and echoes == "all" else list(echoes)
        for echo in chosen:
            if not 0 <= int(echo) < n_echo:
                raise ValueError(f"{name}: echo {echo} does not exist; the k-space has {n_echo} echo(es)")
            label = name if n_echo == 1 else f"{name}_echo{int(echo)}"
            volumes.append(
                training_volume(
                    kspace, echo=int(echo), name=label, group=index, coil_map_calibration=coil_map_calibration
                )
            )
    return volumes

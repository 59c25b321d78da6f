"""What a study computes: the reconstructions read by readers, prediction sources and chunks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def reading_cases(
    cases: Sequence[Mapping] | None, methods: Sequence[str], accelerations: Sequence
) -> list[dict]:
    """The (rec, R) pairs readers rate, checked against what the workflow reconstructs.

    Args:
        cases: ``[{rec: cs, R: 4}, {rec: dl, R: 8}, ...]`` from ``studies.readers.cases``, or
            ``None`` for every method at every acceleration.
        methods: ``recon.methods``.
        accelerations: ``sampling.accelerations`` (numbers or their formatted strings).

    Returns:
        ``[{"rec", "R" (float), "label"}]`` in the given order; ``label`` is e.g. ``"DL R=8"``, as the
        packet key labels the case (upper-case method name).

    Raises:
        ValueError: a case names a method or R that the config does not reconstruct, or repeats.
    """
    rs = [float(r) for r in accelerations]
    if cases is None:
        cases = [{"rec": m, "R": r} for m in methods for r in rs]
    out, seen = [], set()
    for i, case in enumerate(cases):
        rec, R = case.get("rec"), case.get("R")
        if rec not in methods:
            raise ValueError(
                f"studies.readers.cases[{i}]: rec {rec!r} is not in recon.methods {list(methods)}; "
                "add it there or remove the case"
            )
        if R is None or float(R) not in rs:
            raise ValueError(f"studies.readers.cases[{i}]: R {R!r} is not in sampling.accelerations {rs}")
        if (rec, float(R)) in seen:
            raise ValueError(f"studies.readers.cases[{i}]: {rec} at R={R} is listed twice")
        seen.add((rec, float(R)))
        # the packet names methods in upper case (ReadingCase label "DL R=8"): labels must match
        out.append({"rec": rec, "R": float(R), "label": f"{rec.upper()} R={float(R):g}"})
    if not out:
        raise ValueError("studies.readers.cases is empty; list at least two reconstructions to compare")
    return out


def chunk_ranges(repetitions: int, chunk_size: int) -> list[tuple[int, int]]:
    """Split repetitions ``0..N-1`` into half-open ranges of at most ``chunk_size``.

    >>> chunk_ranges(1000, 300)
    [(0, 300), (300, 600), (600, 900), (900, 1000)]
    """
    if int(repetitions) < 1 or int(chunk_size) < 1:
        raise ValueError(
            f"studies.prediction: repetitions ({repetitions}) and chunk_size ({chunk_size}) must be >= 1"
        )
    n = math.ceil(repetitions / chunk_size)
    return [(i * chunk_size, min(repetitions, (i + 1) * chunk_size)) for i in range(n)]


TRUTH = "truth"
REFERENCE = "reference"


def source_id(R, rec: str) -> str:
    """File-safe name of a segmentation feature source: ``reference`` (R = 1) or e.g. ``R8_cs``."""
    return REFERENCE if float(R) == 1 else f"R{float(R):g}_{rec}"


def prediction_sources(
    *, truth: bool, recons: Sequence[Mapping] | None, segmented: Sequence[tuple]
) -> list[dict]:
    """The feature sources of the diagnosis prediction, checked against what is segmented.

    Args:
        truth: also predict from the phantom's true label maps (the upper bound).
        recons: ``studies.prediction.recons``: ``[{rec: cs, R: 8}, ...]``, or ``None`` for every
            segmented image. The fully sampled reference is always a source when any image is.
        segmented: ``(R, rec)`` of every image the workflow segments, the reference (R = 1) first;
            empty when segmentation is off.

    Returns:
        ``[{"id", "label", "kind" ('segmentation' | 'truth'), "R", "rec"}]``: the reference, the
        chosen reconstructions in the given order, then the truth (labelled as the upper bound).
        Differences are taken against the first entry.

    Raises:
        ValueError: a chosen image is not segmented (the message names the segmentation keys to
            change), an image repeats, or nothing is left to predict from.
    """
    segmented = [(float(R), str(rec)) for R, rec in segmented]
    sources = []
    if recons is None:
        chosen = segmented[1:]
    else:
        chosen = []
        for i, case in enumerate(recons):
            key = (float(case.get("R", "nan")), str(case.get("rec")))
            if key not in segmented[1:]:
                raise ValueError(
                    f"studies.prediction.recons[{i}]: {key[1]} at R={key[0]:g} is not segmented; segmented "
                    f"images are {[f'{r} R={R:g}' for R, r in segmented[1:]] or 'none'} (add it to "
                    "segmentation.recons and segmentation.accelerations, or enable segmentation)"
                )
            if key in chosen:
                raise ValueError(f"studies.prediction.recons[{i}]: {key[1]} at R={key[0]:g} is listed twice")
            chosen.append(key)
    if segmented and (recons is None or chosen):
        R, rec = segmented[0]
        sources.append(
            {"id": REFERENCE, "label": f"Reference ({rec.upper()} R={R:g})", "kind": "segmentation",
             "R": R, "rec": rec}
        )  # fmt: skip
        sources += [
            {"id": source_id(R, rec), "label": f"{rec.upper()} R={R:g}", "kind": "segmentation",
             "R": R, "rec": rec}
            for R, rec in chosen
        ]  # fmt: skip
    if truth:
        sources.append(
            {"id": TRUTH, "label": "Phantom truth (upper bound)", "kind": "truth", "R": None, "rec": None}
        )
    if not sources:
        raise ValueError(
            "studies.prediction: nothing to predict from; set truth: true or segment the T1w images "
            "(segmentation.enabled) and choose studies.prediction.recons"
        )
    return sources

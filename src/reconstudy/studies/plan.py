"""What a study computes: the reconstructions read by readers, and prediction chunks."""

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

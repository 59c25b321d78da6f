"""Seeds derived from (config seed, subject, R, ...), identical across runs and machines."""

from __future__ import annotations

import hashlib

import numpy as np


def _as_int(part) -> int:
    if isinstance(part, (int, np.integer)):
        return int(part)
    if isinstance(part, float) and part.is_integer():
        return int(part)
    # strings and non-integral numbers: a stable hash (Python's hash() is salted per process)
    return int.from_bytes(hashlib.sha256(repr(part).encode()).digest()[:4], "little")


def derive_seed(*parts) -> int:
    """A 32-bit seed from any mix of ints, floats and strings, e.g. ``(seed, "sub-01", 8)``."""
    state = np.random.SeedSequence([_as_int(p) for p in parts]).generate_state(1)
    return int(state[0])


def rng_for(*parts) -> np.random.Generator:
    """A generator seeded from ``parts`` (see :func:`derive_seed`)."""
    return np.random.default_rng(derive_seed(*parts))

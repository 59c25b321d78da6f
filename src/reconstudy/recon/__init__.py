"""Conventional reconstructions: zero-filled, CG-SENSE and compressed sensing, plane by plane.

``reconstruct(kspace, method, ...)`` is the entry point (:mod:`reconstudy.recon.api`); the
layers below it follow sigpy: operators with adjoints (:mod:`.operators`), coil handling
(:mod:`.coils`), solvers (:mod:`.zerofill`, :mod:`.sense`, :mod:`.cs`) and the plane splitting
that bounds memory (:mod:`.planes`). Deep-learning reconstructions live in :mod:`.dl`.
"""

from reconstudy.recon.api import METHODS, reconstruct

__all__ = ["METHODS", "reconstruct"]

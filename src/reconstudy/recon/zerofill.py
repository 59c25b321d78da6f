"""Zero-filled reconstruction: the adjoint of the SENSE operator.

``x = A^H y = sum_c conj(S_c) F^H y_c``: unacquired samples count as zero and coils are combined
with their sensitivities (ESPIRiT maps have ``sum_c |S_c|^2 = 1``, so this is the optimal
linear combination of fully sampled data and keeps its scale). No density compensation: the
calibration centre is fully sampled, so image intensity is preserved and only aliasing remains.
:func:`root_sum_of_squares` is the map-free alternative (magnitude only).

References:
    Roemer PB, et al. The NMR phased array. Magn Reson Med 1990;16:192-225.
"""

from __future__ import annotations

import numpy as np

from reconstudy.recon.operators import SenseOp, fft2


def zero_filled(op: SenseOp, y):
    """Sensitivity-weighted coil combination of zero-filled k-space (unshifted layout)."""
    return op.adjoint(y)


def root_sum_of_squares(y, xp=np):
    """``sqrt(sum_c |F^H y_c|^2)`` of zero-filled coil k-space ``(B, C, n1, n2)``."""
    images = fft2(y, xp, inverse=True)
    return xp.sqrt((xp.abs(images) ** 2).sum(axis=1))

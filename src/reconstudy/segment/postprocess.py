"""Topological clean-up of segmenter posteriors: one connected piece per structure.

A patch-trained network labels a few voxels far from where a structure can be (on our phantoms,
mostly specks of white matter and cortex outside the brain, and of cerebellum elsewhere).
SynthSeg removes them after prediction (Billot et al., Medical Image Analysis 2023, "post-
processing"): the head is the largest connected component of everything labelled, and every
structure is the largest connected component of the voxels it wins; posteriors of the removed
voxels are zeroed and the voxels go to the next most likely structure. This module does the
same on our label set; measured gains are in docs/segmentation.md ("Post-processing").
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.ndimage as ndi

from reconstudy.segment import labels as L

# Left as predicted: in the truth of our three anatomies extracerebral CSF is hundreds of pieces
# and the inferior lateral ventricles up to three (largest 74-84 %); every other structure's
# largest piece holds >= 98 % of it (folded training label maps, 26-connectivity).
SCATTERED = (5, 24, 44)

_CONNECTIVITY = ndi.generate_binary_structure(3, 3)  # 26-neighbours: thin structures stay whole
_MAX_PASSES = 10
LOG = logging.getLogger("reconstudy")


def _largest_component(mask: np.ndarray) -> np.ndarray:
    components, n = ndi.label(mask, structure=_CONNECTIVITY)
    if n <= 1:
        return mask
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    # Pieces tied for largest are all kept: picking the first in scan order would break the
    # segmentation's left-right mirror symmetry.
    return np.isin(components, np.flatnonzero(sizes == sizes.max()))


def _cleaned_classes() -> list[int]:
    """Class indices of the structures reduced to one piece (all but background and SCATTERED)."""
    return [c for c, label in enumerate(L.LABELS) if label != 0 and label not in SCATTERED]


def keep_largest_components(posteriors: np.ndarray) -> np.ndarray:
    """Posteriors ``(C, z, y, x)`` with every structure reduced to its largest connected piece.

    The voxels a structure loses keep their other posteriors (renormalised), so they go to the
    runner-up class; voxels outside the largest piece of the whole labelled head become
    background. Returns a new array; the input is not modified.
    """
    prob = np.array(posteriors, dtype=np.float32, copy=True)
    classes = prob.argmax(0)
    outside = ~_largest_component(classes > 0)
    prob[1:, outside] = 0.0
    prob[0, outside] = 1.0
    classes[outside] = 0
    # A voxel taken from one structure goes to its runner-up, which can leave that one in two
    # pieces: repeat until every structure is one piece (each pass zeroes posteriors; 2-3 suffice).
    candidates = _cleaned_classes()
    for n_pass in range(_MAX_PASSES + 1):
        strays = {}
        for c in candidates:
            won = classes == c
            if won.any():
                stray = won & ~_largest_component(won)
                if stray.any():
                    strays[c] = stray
        if not strays:
            break
        if n_pass == _MAX_PASSES:
            names = ", ".join(L.CSV_NAMES[int(L.LABELS[c])] for c in strays)
            LOG.warning(
                "segmentation clean-up: after %d passes %s still in more than one piece; "
                "left as they are (the network's output may not be a brain)",
                _MAX_PASSES,
                names,
            )
            break
        for c, stray in strays.items():
            prob[c][stray] = 0.0
        moved = np.logical_or.reduce(list(strays.values()))
        classes = prob.argmax(0)
        # Only a structure that gained voxels can now be in pieces (losing strays leaves the
        # largest piece whole), so the next pass checks just those.
        gained = set(np.unique(classes[moved]).tolist())
        candidates = [c for c in _cleaned_classes() if c in gained]
    total = prob.sum(0, keepdims=True)
    empty = total[0] <= 0
    prob[0][empty] = 1.0  # every posterior of the voxel was removed: background
    total[0][empty] = 1.0
    prob /= total
    return prob

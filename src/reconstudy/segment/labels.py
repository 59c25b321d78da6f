"""The SynthSeg 2.0 label set: FreeSurfer values, structure names, and label-map conversion.

SynthSeg (Billot et al., Medical Image Analysis 2023) segments 32 structures plus background;
its volumes CSV names each by a lower-case FreeSurfer structure name ('left hippocampus')
after a 'total intracranial' column, in increasing label order. The label maps we train on
carry more labels (lesions, vessels, choroid plexus, extra-cerebral tissue 502-530); SynthSeg
folds those into its set as :data:`FOLD` says (from its ``generation_labels`` /
``synthseg_segmentation_labels_2.0`` pair, shipped with the label maps).
"""

from __future__ import annotations

import numpy as np

# (FreeSurfer value, SynthSeg CSV name, FreeSurfer colour-table name), increasing value.
STRUCTURES: tuple[tuple[int, str, str], ...] = (
    (0, "background", "Unknown"),
    (2, "left cerebral white matter", "Left-Cerebral-White-Matter"),
    (3, "left cerebral cortex", "Left-Cerebral-Cortex"),
    (4, "left lateral ventricle", "Left-Lateral-Ventricle"),
    (5, "left inferior lateral ventricle", "Left-Inf-Lat-Vent"),
    (7, "left cerebellum white matter", "Left-Cerebellum-White-Matter"),
    (8, "left cerebellum cortex", "Left-Cerebellum-Cortex"),
    (10, "left thalamus", "Left-Thalamus"),
    (11, "left caudate", "Left-Caudate"),
    (12, "left putamen", "Left-Putamen"),
    (13, "left pallidum", "Left-Pallidum"),
    (14, "3rd ventricle", "3rd-Ventricle"),
    (15, "4th ventricle", "4th-Ventricle"),
    (16, "brain-stem", "Brain-Stem"),
    (17, "left hippocampus", "Left-Hippocampus"),
    (18, "left amygdala", "Left-Amygdala"),
    (24, "csf", "CSF"),
    (26, "left accumbens area", "Left-Accumbens-area"),
    (28, "left ventral DC", "Left-VentralDC"),
    (41, "right cerebral white matter", "Right-Cerebral-White-Matter"),
    (42, "right cerebral cortex", "Right-Cerebral-Cortex"),
    (43, "right lateral ventricle", "Right-Lateral-Ventricle"),
    (44, "right inferior lateral ventricle", "Right-Inf-Lat-Vent"),
    (46, "right cerebellum white matter", "Right-Cerebellum-White-Matter"),
    (47, "right cerebellum cortex", "Right-Cerebellum-Cortex"),
    (49, "right thalamus", "Right-Thalamus"),
    (50, "right caudate", "Right-Caudate"),
    (51, "right putamen", "Right-Putamen"),
    (52, "right pallidum", "Right-Pallidum"),
    (53, "right hippocampus", "Right-Hippocampus"),
    (54, "right amygdala", "Right-Amygdala"),
    (58, "right accumbens area", "Right-Accumbens-area"),
    (60, "right ventral DC", "Right-VentralDC"),
)
LABELS = np.array([s[0] for s in STRUCTURES], dtype=np.int16)
CSV_NAMES = {s[0]: s[1] for s in STRUCTURES}
FS_NAMES = {s[0]: s[2] for s in STRUCTURES}
N_CLASSES = len(STRUCTURES)

# Labels outside the segmented set -> the structure SynthSeg reports them in (others: background).
FOLD = {25: 2, 57: 41, 136: 4, 137: 4, 163: 43, 164: 43}

# The structures the acceptance criteria name (both sides where lateralised).
EVALUATED = (2, 3, 4, 10, 11, 12, 13, 17, 18, 16, 7, 8, 41, 42, 43, 49, 50, 51, 52, 53, 54, 46, 47)

# Left/right homologues, for flips and for tied intensities in the generator.
HOMOLOGUES = {
    2: 41,
    3: 42,
    4: 43,
    5: 44,
    7: 46,
    8: 47,
    10: 49,
    11: 50,
    12: 51,
    13: 52,
    17: 53,
    18: 54,
    26: 58,
    28: 60,
    25: 57,
    30: 62,
    136: 163,
    137: 164,
}


def fold_labels(labels: np.ndarray) -> np.ndarray:
    """Map any FreeSurfer label map onto the SynthSeg set (unknown labels -> 0)."""
    labels = np.asarray(labels)
    lut_size = max(int(labels.max(initial=0)), int(LABELS.max())) + 1
    lut = np.zeros(lut_size, dtype=np.int16)
    lut[LABELS] = LABELS
    for source, target in FOLD.items():
        if source < lut_size:
            lut[source] = target
    if labels.min(initial=0) < 0:
        raise ValueError("label maps must hold non-negative FreeSurfer values")
    return lut[labels.astype(np.int64)]


def to_classes(labels: np.ndarray) -> np.ndarray:
    """FreeSurfer label map -> class indices 0..N_CLASSES-1 (after :func:`fold_labels`)."""
    folded = fold_labels(labels)
    lut = np.zeros(int(LABELS.max()) + 1, dtype=np.int64)
    lut[LABELS] = np.arange(N_CLASSES)
    return lut[folded]


def to_labels(classes: np.ndarray) -> np.ndarray:
    """Class indices -> FreeSurfer values (int16)."""
    return LABELS[np.asarray(classes)]


def homologue_class_permutation() -> np.ndarray:
    """``perm[c]``: the class of the other side's homologue of class ``c`` (itself if unlateralised).

    Mirroring a posterior map left-right and indexing its class axis with ``perm`` gives the
    posteriors of the mirrored image in the original's anatomy.
    """
    index = {int(label): c for c, label in enumerate(LABELS)}
    perm = np.arange(N_CLASSES)
    for left, right in HOMOLOGUES.items():
        if left in index and right in index:
            perm[index[left]], perm[index[right]] = index[right], index[left]
    return perm

"""Dice overlap per label: 2 |A ∩ B| / (|A| + |B|).

References:
    Dice LR. Measures of the amount of ecologic association between species. Ecology 26, 1945.
"""

from __future__ import annotations

import numpy as np


def dice_per_label(prediction, reference, labels=None) -> dict[int, float]:
    """Dice of each label between two label maps of the same shape.

    Labels absent from both maps get NaN (not 1), so averages skip them rather than being
    inflated. ``labels`` defaults to every non-zero label in either map.
    """
    prediction, reference = np.asarray(prediction), np.asarray(reference)
    if prediction.shape != reference.shape:
        raise ValueError(f"label maps differ in shape: {prediction.shape} vs {reference.shape}")
    if labels is None:
        labels = sorted(set(np.unique(prediction).tolist()) | set(np.unique(reference).tolist()) - {0})
    out = {}
    for label in labels:
        a, b = prediction == label, reference == label
        total = int(a.sum()) + int(b.sum())
        out[int(label)] = float(2 * np.logical_and(a, b).sum() / total) if total else float("nan")
    return out


def mean_dice(scores: dict[int, float]) -> float:
    values = [v for v in scores.values() if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")

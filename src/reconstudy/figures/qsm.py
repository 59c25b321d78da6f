"""QSM maps with a colour bar in ppb: truth, and each method at each acceleration."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from reconstudy.figures.montage import _slice_and_crop
from reconstudy.figures.style import METHOD_LABELS, use_style


def qsm_montage(truth, maps: dict, mask, title: str, window_ppb: float = 150.0):
    """Axial χ maps (rows: reconstruction methods, columns: truth then R), grey ±window ppb.

    Args:
        truth: true χ (ppm), ``(z, y, x)``.
        maps: ``{(rec, R): χ (ppm)}`` on the same grid.
        mask: brain mask choosing the slice and the crop.
    """
    use_style()
    mask = np.asarray(mask, bool)
    z, crop = _slice_and_crop(mask)
    methods = list(dict.fromkeys(rec for rec, _ in maps))
    accelerations = sorted({R for _, R in maps})
    rows, cols = len(methods), len(accelerations) + 1
    shape = np.asarray(truth)[z][crop].shape
    figure, axes = plt.subplots(
        rows, cols, figsize=(1.8 * cols + 0.8, 1.8 * rows * shape[0] / shape[1] + 0.6), squeeze=False
    )
    image = None

    def show(ax, chi):
        nonlocal image
        image = ax.imshow(
            1000 * np.asarray(chi)[z][crop], cmap="gray", vmin=-window_ppb, vmax=window_ppb, origin="lower"
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)

    for i, rec in enumerate(methods):
        show(axes[i, 0], truth)
        axes[i, 0].set_ylabel(METHOD_LABELS.get(rec, rec))
        for j, R in enumerate(accelerations, start=1):
            if (rec, R) in maps:
                show(axes[i, j], maps[(rec, R)])
            else:
                axes[i, j].axis("off")
    axes[0, 0].set_title("truth")
    for j, R in enumerate(accelerations, start=1):
        axes[0, j].set_title("fully sampled" if R == 1 else f"R = {R:g}")
    figure.colorbar(image, ax=axes, shrink=0.8, label="χ (ppb)")
    figure.suptitle(title)
    return figure

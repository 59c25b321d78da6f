"""Picture of a (kz, ky) sampling mask, with its achieved acceleration."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from reconstudy.figures.style import save_figure, use_style


def save_mask_figure(mask, png_path, title: str = ""):
    """Save the mask as a small black/white image (ky horizontal, kz vertical)."""
    use_style()
    mask = np.asarray(mask, bool)
    figure, ax = plt.subplots(figsize=(3, 3 * mask.shape[0] / mask.shape[1]))
    ax.imshow(mask, cmap="gray", origin="lower", interpolation="nearest")
    ax.set_xlabel("ky")
    ax.set_ylabel("kz")
    ax.grid(False)
    ax.set_title(f"{title}\n{int(mask.sum())} of {mask.size} samples", fontsize=8)
    save_figure(figure, png_path)

"""Montage of one subject's reconstructions: methods x acceleration, with error maps and zooms.

Like the case figures of seed study 000 (Figures 2-6): the same slice, window and zoomed
region for every reconstruction, so differences come from the reconstruction alone.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from reconstudy.figures.style import METHOD_LABELS, use_style


def _slice_and_crop(mask):
    """Axial slice through the mask's centre of mass and the mask's in-plane bounding box."""
    z = int(round(np.argwhere(mask).mean(axis=0)[0]))
    ys, xs = np.nonzero(mask[z])
    margin = 2
    crop = (
        slice(max(ys.min() - margin, 0), ys.max() + margin + 1),
        slice(max(xs.min() - margin, 0), xs.max() + margin + 1),
    )
    return z, crop


def _zoom_box(shape, fraction=0.35):
    """A centred square covering ``fraction`` of the shorter side (deep grey matter)."""
    side = max(int(min(shape) * fraction), 4)
    y0, x0 = (shape[0] - side) // 2, (shape[1] - side) // 2
    return y0, x0, side


def _show(ax, image, vmax, box, cmap="gray", vmin=0.0):
    ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, origin="lower", interpolation="nearest")
    y0, x0, side = box
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), side, side, fill=False, ec="#ffcc00", lw=0.8))
    inset = ax.inset_axes([0.62, 0.0, 0.38, 0.38])
    inset.imshow(image[y0 : y0 + side, x0 : x0 + side], cmap=cmap, vmin=vmin, vmax=vmax, origin="lower")
    for spine in inset.spines.values():
        spine.set_edgecolor("#ffcc00")
    inset.set_xticks([])
    inset.set_yticks([])
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


GAINS = (1, 2, 3, 5, 10, 20)


def error_gain_for(errors, vmax: float, fill: float = 1.0) -> float:
    """Largest of 1, 2, 3, 5, 10, 20 that keeps the typical panel's 95th percentile of |error| x gain
    below ``fill`` x ``vmax`` (median over the panels ``errors``), so the error maps use the image
    window: the worst panels may saturate a little, the typical one does not."""
    typical = float(np.median([np.percentile(e, 95) for e in errors])) if errors else 0.0
    fitting = [g for g in GAINS if typical * g <= fill * vmax]
    return float(fitting[-1]) if fitting else 1.0


def methods_montage(
    reference, recons: dict, mask, title: str, error_gain: float | None = None, echo: int = 0
):
    """Figure with the reference, every (method, R) reconstruction, and |error| x gain maps.

    Args:
        reference: magnitude volume (z, y, x) or (echo, z, y, x).
        recons: ``{(rec, R): volume}`` of the same shape.
        mask: brain mask (z, y, x) choosing the slice, crop and window.
        error_gain: factor on the |error| maps; None picks one from the errors in the mask of the
            shown slice (:func:`error_gain_for`), written on each error row.
    """
    use_style()
    pick = (lambda v: np.asarray(v)[echo]) if np.ndim(reference) == 4 else np.asarray
    mask = np.asarray(mask, bool)
    z, crop = _slice_and_crop(mask)
    ref = pick(reference)[z][crop]
    vmax = float(np.percentile(pick(reference)[mask], 99.5))
    if error_gain is None:
        inside = mask[z][crop]
        errors = [np.abs(pick(v)[z][crop] - ref)[inside] for v in recons.values()]
        error_gain = error_gain_for(errors, vmax)
    methods = list(dict.fromkeys(rec for rec, _ in recons))
    accelerations = sorted({R for _, R in recons})
    box = _zoom_box(ref.shape)
    rows, cols = 2 * len(methods), len(accelerations) + 1
    figure, axes = plt.subplots(
        rows, cols, figsize=(1.9 * cols, 1.9 * rows * ref.shape[0] / ref.shape[1] + 0.6)
    )
    for ax in axes.flat:
        ax.axis("off")
    for i, rec in enumerate(methods):
        axes[2 * i, 0].axis("on")
        _show(axes[2 * i, 0], ref, vmax, box)
        axes[2 * i, 0].set_ylabel(METHOD_LABELS.get(rec, rec), fontsize=9)
        axes[2 * i + 1, 0].text(0.5, 0.5, f"|error| x {error_gain:g}", ha="center", va="center", fontsize=8)
        for j, R in enumerate(accelerations, start=1):
            if (rec, R) not in recons:
                continue
            image = pick(recons[(rec, R)])[z][crop]
            for k, panel in enumerate((image, np.abs(image - ref) * error_gain)):
                ax = axes[2 * i + k, j]
                ax.axis("on")
                _show(ax, panel, vmax, box, cmap="gray" if k == 0 else "inferno")
    axes[0, 0].set_title("fully sampled")
    for j, R in enumerate(accelerations, start=1):
        axes[0, j].set_title(f"R = {R:g}")
    figure.suptitle(title)
    # tight_layout ignores the suptitle: keep ~0.5 inch above the column titles for it.
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.5 / figure.get_figheight()))
    return figure

"""Figures of a segmentation study: Dice per structure per image, volume fractions by group."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from reconstudy.figures.style import use_style
from reconstudy.segment.study import STRUCTURE_GROUPS, structure_fractions

GROUP_COLOURS = {"control": "#1f77b4", "impaired": "#d62728", "ms": "#9467bd"}


def _bilateral(structure: str) -> str:
    """'left hippocampus' -> 'hippocampus' (left and right are pooled in the figure)."""
    for side in ("left ", "right "):
        if structure.startswith(side):
            return structure[len(side) :]
    return structure


def _image_order(table: pd.DataFrame) -> list[str]:
    order = table.sort_values(["R", "rec"])["image"].drop_duplicates().tolist()
    return [i for i in order if i == "reference"] + [i for i in order if i != "reference"]


def dice_figure(dice: pd.DataFrame, against: str = "truth"):
    """Bars: mean Dice (over subjects and sides) per structure, one bar per image; whiskers: sd."""
    use_style()
    table = dice[dice["against"] == against].copy()
    if table.empty:
        table = dice.copy()
        against = str(table["against"].iloc[0]) if len(table) else against
    table["structure"] = table["structure"].map(_bilateral)
    per_subject = table.groupby(["image", "R", "rec", "structure", "subject"], as_index=False)["dice"].mean()
    stats = per_subject.groupby(["image", "structure"])["dice"].agg(["mean", "std"])
    images = _image_order(per_subject)
    structures = list(dict.fromkeys(table.sort_values("label")["structure"]))
    width = 0.8 / max(len(images), 1)
    figure, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(structures) * max(1, len(images) / 3)), 3.2))
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(images), 1)))
    x = np.arange(len(structures))
    for i, image in enumerate(images):
        mean = [stats["mean"].get((image, s), np.nan) for s in structures]
        sd = [stats["std"].get((image, s), np.nan) for s in structures]
        ax.bar(
            x + (i - (len(images) - 1) / 2) * width,
            mean,
            width,
            yerr=np.nan_to_num(sd),
            label=image,
            color=colours[i],
            error_kw={"elinewidth": 0.6, "capsize": 1},
        )
    ax.set_xticks(x, structures, rotation=40, ha="right")
    ax.set_ylim(0, 1.12)  # headroom for the legend above the bars
    ax.set_ylabel(f"Dice vs {against}")
    n = per_subject["subject"].nunique()
    ax.set_title(f"Segmentation overlap per structure (mean ± sd over {n} subjects, sides pooled)")
    ax.legend(ncol=min(len(images), 6), fontsize=7, loc="upper center")
    return figure


def volumes_figure(volumes: pd.DataFrame):
    """Volume / ICV (%) per subject by group, one panel per structure, one column of points per image."""
    use_style()
    fractions = structure_fractions(volumes)
    images = ["truth"] * ("truth" in set(volumes["image"])) + [
        i for i in _image_order(volumes[volumes["image"] != "truth"])
    ]
    groups = [g for g in GROUP_COLOURS if g in set(fractions["group"])]
    figure, axes = plt.subplots(
        1, len(STRUCTURE_GROUPS), figsize=(3.0 * len(STRUCTURE_GROUPS), 3.0), squeeze=False
    )
    offsets = np.linspace(-0.2, 0.2, max(len(groups), 1)) if len(groups) > 1 else [0.0]
    for ax, structure in zip(axes[0], STRUCTURE_GROUPS):
        part = fractions[fractions["structure"] == structure]
        for offset, group in zip(offsets, groups):
            for j, image in enumerate(images):
                values = 100 * part[(part["group"] == group) & (part["image"] == image)]["fraction_icv"]
                ax.scatter(
                    np.full(len(values), j + offset),
                    values,
                    s=10,
                    color=GROUP_COLOURS[group],
                    label=group if j == 0 else None,
                )
                if len(values):
                    ax.hlines(values.mean(), j + offset - 0.08, j + offset + 0.08, color=GROUP_COLOURS[group])
        ax.set_xticks(range(len(images)), images, rotation=40, ha="right")
        ax.set_title(structure)
    axes[0, 0].set_ylabel("volume / ICV (%)")
    axes[0, 0].legend(fontsize=7)
    figure.tight_layout()
    return figure

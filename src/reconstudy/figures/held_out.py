"""DL vs CS on the subjects whose anatomy the network never saw (the held-out table as a figure)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from reconstudy.figures.style import METHOD_COLOURS, METHOD_LABELS, use_style


def held_out_figure(summary: pd.DataFrame, learned: str = "dl", baseline: str = "cs", claim_R: float = 4.0):
    """One panel per acquisition: mean SSIM vs R of both methods on the same unseen-anatomy subjects.

    A dashed line marks the baseline at ``claim_R`` (seed 000: DL at R = 8 should reach it and DL
    at R = 6 beat it); each DL point whose row carries a claim is annotated with its verdict.

    Args:
        summary: output of :func:`reconstudy.held_out.held_out_comparison`.
    """
    use_style()
    acquisitions = list(dict.fromkeys(summary["acq"])) if len(summary) else []
    figure, axes = plt.subplots(1, max(len(acquisitions), 1), figsize=(3.6 * max(len(acquisitions), 1), 2.8))
    axes = np.atleast_1d(axes)
    if not acquisitions:
        axes[0].text(0.5, 0.5, f"no {learned} rows in the metrics table", ha="center", va="center")
        axes[0].set_axis_off()
    for ax, acq in zip(axes, acquisitions):
        rows = summary[summary["acq"] == acq].sort_values("R")
        n = int(rows["n_subjects"].iloc[0])
        if n == 0:
            ax.text(0.5, 0.5, "no subject of an anatomy\nthe model never saw", ha="center", va="center")
            ax.set_title(f"{acq}: held-out anatomy (n = 0)")
            continue
        for rec in (baseline, learned):
            ax.plot(
                rows["R"],
                rows[f"ssim_{rec}"],
                marker="o",
                ms=4,
                label=METHOD_LABELS.get(rec, rec),
                color=METHOD_COLOURS.get(rec),
            )
        base = rows[f"ssim_{baseline}"][rows["R"] == claim_R]
        if len(base) and np.isfinite(base.iloc[0]):
            ax.axhline(base.iloc[0], color=METHOD_COLOURS.get(baseline), ls="--", lw=0.8)
        for _, row in rows[rows["claim"] != ""].iterrows():
            if row["claim_met"]:
                relation = "≥" if ">=" in row["claim"] else ">"
                ax.annotate(
                    f"{relation} {baseline.upper()} R={claim_R:g}? {row['claim_met']}",
                    (row["R"], row[f"ssim_{learned}"]),
                    textcoords="offset points",
                    xytext=(-20, -12),
                    fontsize=7,
                    color=METHOD_COLOURS.get(learned),
                )
        ax.set_xticks(rows["R"].to_numpy())
        ax.set_xlabel("acceleration R")
        ax.set_ylabel("SSIM (mean, same subjects)")
        ax.set_title(f"{acq}: anatomy unseen by the model (n = {n})")
        ax.legend(loc="lower left", fontsize=8)
    figure.suptitle(
        f"{METHOD_LABELS.get(learned, learned)} vs {METHOD_LABELS.get(baseline, baseline)} "
        f"on held-out anatomy (dashed: {baseline.upper()} at R = {claim_R:g}; seed-000 claims)",
        fontsize=8,
    )
    figure.tight_layout()
    return figure

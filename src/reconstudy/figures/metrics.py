"""Metric against acceleration R, one line per reconstruction method."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from reconstudy.figures.style import METHOD_COLOURS, METHOD_LABELS, use_style

METRIC_LABELS = {"ssim": "SSIM", "psnr": "PSNR (dB)", "nmse": "NMSE", "nrmse": "NRMSE"}


def metrics_vs_r(table: pd.DataFrame, metrics=("ssim", "psnr", "nmse")):
    """A grid of panels (rows: acquisitions, columns: metrics) of mean ± sd across subjects vs R."""
    use_style()
    acquisitions = list(dict.fromkeys(table["acq"]))
    figure, axes = plt.subplots(
        len(acquisitions), len(metrics), figsize=(3.0 * len(metrics), 2.4 * len(acquisitions)), squeeze=False
    )
    for row, acq in enumerate(acquisitions):
        subset = table[table["acq"] == acq]
        for col, metric in enumerate(metrics):
            ax = axes[row, col]
            for rec, group in subset.groupby("rec", sort=False):
                stats = group.groupby("R")[metric].agg(["mean", "std"]).reset_index()
                ax.errorbar(
                    stats["R"],
                    stats["mean"],
                    yerr=stats["std"],
                    marker="o",
                    ms=4,
                    capsize=2,
                    label=METHOD_LABELS.get(rec, rec),
                    color=METHOD_COLOURS.get(rec),
                )
            ax.set_xticks(sorted(subset["R"].unique()))
            ax.set_xlabel("acceleration R")
            ax.set_ylabel(METRIC_LABELS.get(metric, metric))
            if metric == "nmse":
                ax.set_yscale("log")
            ax.set_title(f"{acq}: {METRIC_LABELS.get(metric, metric)}")
    axes[0, -1].legend(loc="best", fontsize=8)
    figure.suptitle(f"Image quality vs acceleration (n = {table['subject'].nunique()} subjects, mean ± sd)")
    figure.tight_layout()
    return figure

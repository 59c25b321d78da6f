"""Study figures: metric box plots per method (seed 004 Fig. 3), prediction scores and
feature importances over repetitions (seed 004 Fig. 6). PNG + PDF in the project style."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from reconstudy.figures.metrics import METRIC_LABELS  # noqa: E402
from reconstudy.figures.style import METHOD_COLOURS, METHOD_LABELS, use_style  # noqa: E402

SCORE_LABELS = {"accuracy": "Accuracy", "balanced_accuracy": "Balanced accuracy"}


def _simulated_suffix(simulated: bool) -> str:
    return " \u2014 SIMULATED cohort" if simulated else ""


def metric_boxplots(table: pd.DataFrame, metrics=("psnr", "ssim"), *, acq=None, simulated: bool = False):
    """One panel per metric: a box per (method, R) across subjects, points overlaid.

    Args:
        table: the cohort metrics table (``subject, acq, R, rec`` and metric columns).
        metrics: metric columns to plot.
        acq: keep this acquisition (all rows if None).
    """
    if acq is not None:
        table = table[table["acq"] == acq]
    if table.empty:
        raise ValueError(f"no metric rows for acquisition {acq!r}")
    use_style()
    groups = table.sort_values(["R", "rec"]).groupby(["R", "rec"], sort=False)
    keys = list(groups.groups)
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(1.0 + 0.55 * len(keys) * len(metrics), 3.4), squeeze=False
    )
    rng = np.random.default_rng(0)  # horizontal jitter of the points only
    for ax, metric in zip(axes[0], metrics):
        data = [groups.get_group(k)[metric].to_numpy(float) for k in keys]
        box = ax.boxplot(data, widths=0.6, patch_artist=True, showfliers=False)
        for patch, (_, rec) in zip(box["boxes"], keys):
            patch.set_facecolor(METHOD_COLOURS.get(rec, "0.7"))
            patch.set_alpha(0.55)
        for i, values in enumerate(data, start=1):
            ax.plot(i + rng.uniform(-0.12, 0.12, len(values)), values, "o", ms=2.5, color="0.2", alpha=0.7)
        ax.set_xticks(
            range(1, len(keys) + 1),
            [f"{METHOD_LABELS.get(rec, rec).split(' (')[0]}\nR={R:g}" for R, rec in keys],
            fontsize=7,
        )
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        ax.set_title(METRIC_LABELS.get(metric, metric))
        if metric == "nmse":
            ax.set_yscale("log")
    n = table["subject"].nunique()
    fig.suptitle(
        f"Image metrics per reconstruction ({acq or 'all'}, n = {n} subjects){_simulated_suffix(simulated)}"
    )
    fig.tight_layout()
    return fig


def prediction_scores(runs: pd.DataFrame, *, simulated: bool = False):
    """Box plots of accuracy and balanced accuracy over repetitions, one box per feature source."""
    scores = runs[runs["metric"].isin(SCORE_LABELS)]
    if scores.empty:
        raise ValueError("no accuracy rows in the repetitions table")
    sources = list(dict.fromkeys(scores["source"])) if "source" in scores else ["features"]
    if "source" not in scores:
        scores = scores.assign(source="features")
    use_style()
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(sources), 3.4))
    width = 0.36
    colours = {"accuracy": "#4c72b0", "balanced_accuracy": "#dd8452"}
    for j, metric in enumerate(SCORE_LABELS):
        data = [
            scores[(scores["source"] == s) & (scores["metric"] == metric)]["value"].to_numpy()
            for s in sources
        ]
        positions = np.arange(len(sources)) + (j - 0.5) * width
        box = ax.boxplot(
            data,
            positions=positions,
            widths=width * 0.9,
            patch_artist=True,
            showfliers=True,
            flierprops={"markersize": 2},
        )
        for patch in box["boxes"]:
            patch.set_facecolor(colours[metric])
            patch.set_alpha(0.7)
        ax.plot([], [], "s", color=colours[metric], label=SCORE_LABELS[metric])
    n_rep = scores["repetition"].nunique()
    ax.set_xticks(np.arange(len(sources)), sources)
    ax.set_ylabel("Score")
    ax.set_ylim(0, 1.02)
    ax.axhline(0.5, color="0.5", lw=0.8, ls="--")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(
        f"Random-forest diagnosis prediction, {n_rep} CV repetitions{_simulated_suffix(simulated)}",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def feature_importances(summary: pd.DataFrame, *, top: int = 15, simulated: bool = False):
    """Mean impurity importance (bars) with its percentile interval, the ``top`` features.

    With several sources (e.g. truth labels and a reconstruction's segmentation), a second
    panel shows each source's mean importance minus that of the first (seed 004 Fig. 6C).
    """
    imp = summary[summary["metric"] == "importance"]
    if imp.empty:
        raise ValueError("no importance rows in the summary table")
    if "source" not in imp:
        imp = imp.assign(source="features")
    sources = list(dict.fromkeys(imp["source"]))
    base = imp[imp["source"] == sources[0]].sort_values("mean", ascending=False).head(top)
    use_style()
    ncols = 2 if len(sources) > 1 else 1
    fig, axes = plt.subplots(1, ncols, figsize=(4.8 * ncols, 0.8 + 0.26 * len(base)), squeeze=False)
    ax = axes[0, 0]
    y = np.arange(len(base))[::-1]
    err = np.vstack([base["mean"] - base["ci_low"], base["ci_high"] - base["mean"]]).clip(min=0)
    ax.barh(y, base["mean"], xerr=err, color="#c44e52", alpha=0.8, error_kw={"lw": 0.8, "capsize": 2})
    ax.set_yticks(y, base["feature"], fontsize=7.5)
    ax.set_xlabel("Mean decrease in impurity")
    ax.set_title(f"Top {len(base)} features ({sources[0]})")
    if ncols == 2:
        ax2 = axes[0, 1]
        ref = base.set_index("feature")["mean"]
        step = 0.8 / (len(sources) - 1)
        for k, source in enumerate(sources[1:]):
            other = imp[imp["source"] == source].set_index("feature")["mean"].reindex(ref.index)
            ax2.barh(
                y + (k - (len(sources) - 2) / 2) * step,
                (other - ref).to_numpy(),
                height=step,
                color=METHOD_COLOURS.get(source),
                label=source,
            )
        ax2.axvline(0, color="0.3", lw=0.8)
        ax2.set_yticks(y, [])
        ax2.set_xlabel(f"Importance minus {sources[0]}")
        ax2.legend(fontsize=7)
        ax2.set_title("Difference per feature")
    fig.suptitle(
        "Feature importances over repetitions (bars: mean, whiskers: 95% interval)"
        + _simulated_suffix(simulated),
        fontsize=9,
    )
    fig.tight_layout()
    return fig

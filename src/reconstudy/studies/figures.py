"""Study figures: metric box plots per method (seed 004 Fig. 3), prediction scores per feature
source and importance differences between reconstructions over repetitions (seed 004 Fig. 6).
PNG + PDF in the project style."""

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


def _source_order(frame: pd.DataFrame, order=None) -> list:
    present = list(dict.fromkeys(frame["source"]))
    order = [s for s in (order or []) if s in present]
    return order + [s for s in present if s not in order]


def prediction_scores(runs: pd.DataFrame, *, order=None, labels=None, simulated: bool = False):
    """Box plots of accuracy and balanced accuracy over repetitions, one pair per feature source.

    Args:
        runs: gathered repetitions (``metric``, ``value``, ``repetition``; ``source`` when several).
        order: sources from left to right (default: order of appearance).
        labels: source → tick label (e.g. ``{"R8_cs": "CS R=8"}``); the phantom truth's box is hatched.
    """
    scores = runs[runs["metric"].isin(SCORE_LABELS)]
    if scores.empty:
        raise ValueError("no accuracy rows in the repetitions table")
    if "source" not in scores:
        scores = scores.assign(source="features")
    sources = _source_order(scores, order)
    labels = dict(labels or {})
    use_style()
    fig, ax = plt.subplots(figsize=(1.6 + 1.35 * len(sources), 3.6))
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
        for patch, source in zip(box["boxes"], sources):
            patch.set_facecolor(colours[metric])
            patch.set_alpha(0.7)
            if source == "truth":
                patch.set_hatch("///")
        ax.plot([], [], "s", color=colours[metric], label=SCORE_LABELS[metric])
    n_rep = scores["repetition"].nunique()
    ticks = [labels.get(s, s).replace(" (", "\n(") for s in sources]
    ax.set_xticks(np.arange(len(sources)), ticks, fontsize=7.5)
    if "truth" in sources and len(sources) > 1:
        ax.axvline(sources.index("truth") - 0.5, color="0.6", lw=0.8, ls=":")
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


_R_MARKERS = ["o", "s", "D", "^", "v", "P"]


def importance_differences_plot(
    summary: pd.DataFrame,
    differences: pd.DataFrame,
    *,
    reference: str,
    order=None,
    labels=None,
    top: int = 15,
    top_differences: int = 5,
    simulated: bool = False,
):
    """Seed 004 Figure 6B/C: the reference's mean importances, and each source's difference.

    Args:
        summary: :func:`reconstudy.stats.summarise` rows with a ``source`` column (importances
            with ``mean``, ``ci_low``, ``ci_high``).
        differences: :func:`reconstudy.stats.importance_differences` rows.
        reference: the source the differences are taken against (left panel).
        order, labels: sources in the legend's order and their display names.
        top: features shown, the most important of the reference, ...
        top_differences: ... plus the features with the largest absolute mean difference of any
            source (so a structure that one reconstruction's models rely on is not left out).

    Left: mean impurity importance of the reference models (bar) and the 2.5-97.5 % range over
    repetitions. Right: per feature and source, the mean paired difference (marker; colour =
    method, shape = R, black = phantom truth) and its range over repetitions (line); a filled
    marker means the difference kept its sign in 97.5% of the repetitions (``consistent``).
    """
    imp = summary[(summary["metric"] == "importance") & (summary["source"] == reference)]
    if imp.empty:
        raise ValueError(f"no importance rows of the reference source {reference!r} in the summary")
    ranked = imp.sort_values("mean", ascending=False, kind="stable")
    shown = set(ranked["feature"].head(top))
    if len(differences) and top_differences:
        largest = differences.assign(size=differences["diff_mean"].abs()).groupby("feature")["size"].max()
        shown |= set(largest.sort_values(ascending=False, kind="stable").index[:top_differences])
    base = ranked[ranked["feature"].isin(shown)]
    labels = dict(labels or {})
    others = [s for s in _source_order(differences, order) if s != reference] if len(differences) else []
    use_style()
    fig, axes = plt.subplots(
        1, 2, figsize=(9.6, 1.0 + 0.3 * len(base)), squeeze=False, gridspec_kw={"width_ratios": [1, 1.4]}
    )
    ax = axes[0, 0]
    y = _importance_bars(ax, base)
    ax.set_title(f"B  Importance, {labels.get(reference, reference)}", fontsize=9, loc="left")
    ax2 = axes[0, 1]
    rs = sorted({float(r) for r in differences.get("R", pd.Series(dtype=float)).dropna()})
    step = 0.8 / max(len(others), 1)
    for k, source in enumerate(others):
        part = differences[differences["source"] == source].set_index("feature").reindex(base["feature"])
        offset = (k - (len(others) - 1) / 2) * step
        rec = part["rec"].dropna().iloc[0] if "rec" in part and part["rec"].notna().any() else None
        R = float(part["R"].dropna().iloc[0]) if "R" in part and part["R"].notna().any() else None
        colour = "black" if rec is None else METHOD_COLOURS.get(rec, "0.4")
        marker = "*" if R is None else _R_MARKERS[rs.index(R) % len(_R_MARKERS)]
        yy = y + offset
        ax2.hlines(yy, part["ci_low"], part["ci_high"], color=colour, lw=0.8, alpha=0.6)
        filled = part["consistent"].fillna(False).astype(bool).to_numpy()
        for mask, face in ((filled, colour), (~filled, "white")):
            ax2.plot(
                part["diff_mean"].to_numpy()[mask], yy[mask], marker, ms=4.5, mec=colour, mfc=face, ls="none"
            )
        ax2.plot([], [], marker, ms=4.5, color=colour, label=labels.get(source, source))
    ax2.axvline(0, color="0.3", lw=0.8)
    ax2.set_yticks(y, [])
    ax2.set_ylim(axes[0, 0].get_ylim())
    ax2.set_xlabel(f"Importance minus {labels.get(reference, reference)}")
    ax2.set_title("C  Difference per feature (mean, 95% range over repetitions)", fontsize=9, loc="left")
    if others:
        ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    n_rep = int(base["n_repetitions"].max()) if "n_repetitions" in base else None
    fig.suptitle(
        "Feature importances of the diagnosis prediction"
        + (f" ({n_rep} CV repetitions)" if n_rep else "")
        + _simulated_suffix(simulated),
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _importance_bars(ax, base: pd.DataFrame) -> np.ndarray:
    """Mean impurity importance per feature (top first) with its percentile interval; bar positions."""
    y = np.arange(len(base))[::-1]
    err = np.vstack([base["mean"] - base["ci_low"], base["ci_high"] - base["mean"]]).clip(min=0)
    ax.barh(y, base["mean"], xerr=err, color="#c44e52", alpha=0.8, error_kw={"lw": 0.8, "capsize": 2})
    ax.set_yticks(y, base["feature"], fontsize=7.5)
    ax.set_xlabel("Mean decrease in impurity")
    return y


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
    y = _importance_bars(ax, base)
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

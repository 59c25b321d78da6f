"""Rating distributions per method and criterion, pooled over readers (seed 000, Figure 1).

One panel per criterion; in each, one stacked bar per method label whose segments are the
proportions of scores 1–5, with the percentage printed on segments large enough to hold it and
the number of ratings above each bar. Ratings from simulated readers are titled as such.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from reconstudy.figures.style import use_style  # noqa: E402
from reconstudy.io.atomic import atomic_path  # noqa: E402
from reconstudy.readers.criteria import LIKERT_SCALE, parse_criteria  # noqa: E402

# Diverging red (1 = very poor) to blue (5 = very good); readable in greyscale and by the
# common forms of colour blindness, unlike red-green.
PALETTE = "RdBu"
MIN_LABELLED_SHARE = 0.07


def method_order(table: pd.DataFrame) -> list[str]:
    """Method labels sorted by acceleration (labels without R first), then by method name."""
    labels = table.drop_duplicates("label")[["label", "method", "R"]]
    r = pd.to_numeric(labels["R"], errors="coerce")
    keyed = labels.assign(_has_r=r.notna(), _r=r.fillna(0.0))
    return keyed.sort_values(["_has_r", "_r", "method"], kind="stable")["label"].tolist()


def is_simulated(table: pd.DataFrame) -> bool:
    return "source" in table and (table["source"].astype(str) == "simulated").any()


def rating_distribution(table: pd.DataFrame, *, order=None, criteria=None) -> pd.DataFrame:
    """Counts and proportions of each score per (criterion, method label), pooled over readers.

    Args:
        table: un-blinded ratings (``label``, ``criterion``, ``score``; ``source`` optional).
        order: method labels in display order (:func:`method_order` by default).
        criteria: criteria in display order (those present in ``table`` by default).

    Returns:
        Tidy table ``criterion, label, score, count, n, proportion`` (+ ``source``), with a
        row for every score 1–5 even when its count is zero.
    """
    for column in ("label", "criterion", "score"):
        if column not in table:
            raise ValueError(
                f"ratings table lacks {column!r}; pass the output of reconstudy.readers.ratings.unblind"
            )
    order = list(order) if order is not None else method_order(table)
    criterion_ids = (
        [c.id for c in parse_criteria(criteria)]
        if criteria is not None
        else list(dict.fromkeys(table["criterion"]))
    )
    unknown = sorted(set(table["label"]) - set(order))
    if unknown:
        raise ValueError(f"method order misses label(s) {unknown}; list every method label")
    counts = table.groupby(["criterion", "label", "score"]).size()
    index = pd.MultiIndex.from_product(
        [criterion_ids, order, list(LIKERT_SCALE)], names=["criterion", "label", "score"]
    )
    counts = counts.reindex(index, fill_value=0).rename("count").reset_index()
    counts["n"] = counts.groupby(["criterion", "label"])["count"].transform("sum")
    counts["proportion"] = np.where(counts["n"] > 0, counts["count"] / counts["n"].clip(lower=1), np.nan)
    if "source" in table:
        counts["source"] = (
            "simulated" if is_simulated(table) else ",".join(sorted(set(table["source"].astype(str))))
        )
    return counts


def plot_rating_distributions(
    table: pd.DataFrame, out_prefix, *, order=None, criteria=None, title: str | None = None
) -> list[Path]:
    """Stacked proportion bars of scores per method, one panel per criterion; PNG + PDF.

    Args:
        table: un-blinded ratings (see :func:`reconstudy.readers.ratings.unblind`).
        out_prefix: path without suffix; ``.png`` and ``.pdf`` are written atomically.
        order: method labels in display order; criteria: criteria (IDs or ``{id, label}``)
            in panel order, labels used as panel titles.
        title: figure title; "(simulated readers)" is appended when the ratings are simulated.

    Returns:
        The two written paths.
    """
    labels = {c.id: c.label for c in parse_criteria(criteria)} if criteria is not None else {}
    dist = rating_distribution(table, order=order, criteria=criteria)
    panels = list(dict.fromkeys(dist["criterion"]))
    methods = list(dict.fromkeys(dist["label"]))
    colours = sns.color_palette(PALETTE, len(LIKERT_SCALE))
    colours[len(colours) // 2] = (0.82, 0.82, 0.82)  # the neutral middle must show on white paper
    n_readers = table["reader"].nunique() if "reader" in table else None

    use_style()
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(0.9 + 0.75 * len(methods) * len(panels) + 0.4 * len(panels), 4.2),
        sharey=True,
        squeeze=False,
    )
    for ax, criterion in zip(axes[0], panels):
        part = dist[dist["criterion"] == criterion].pivot(index="label", columns="score", values="proportion")
        part = part.reindex(methods).fillna(0.0)
        bottom = np.zeros(len(methods))
        x = np.arange(len(methods))
        for s, colour in zip(LIKERT_SCALE, colours):
            share = part[s].to_numpy()
            ax.bar(
                x,
                share,
                0.72,
                bottom=bottom,
                color=colour,
                edgecolor="white",
                linewidth=0.6,
                label=f"{s} {LIKERT_SCALE[s]}",
            )
            for xi, (b, h) in enumerate(zip(bottom, share)):
                if h >= MIN_LABELLED_SHARE:
                    dark = s in (1, 5)
                    ax.text(
                        xi,
                        b + h / 2,
                        f"{100 * h:.0f}%",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if dark else "black",
                    )
            bottom += share
        n = dist[(dist["criterion"] == criterion)].groupby("label", sort=False)["n"].first().reindex(methods)
        for xi, count in enumerate(n):
            ax.text(xi, 1.01, f"n={count}", ha="center", va="bottom", fontsize=7.5, color="0.35")
        ax.set_xticks(
            x,
            methods,
            rotation=30 if max(map(len, methods)) > 7 else 0,
            ha="right" if max(map(len, methods)) > 7 else "center",
        )
        ax.set_title(labels.get(criterion, criterion.replace("_", " ").capitalize()), pad=16)
        ax.set_ylim(0, 1)
        ax.grid(False, axis="x")
        ax.set_axisbelow(True)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        sns.despine(ax=ax, left=ax is not axes[0][0])
        ax.tick_params(axis="y", left=ax is axes[0][0])
    axes[0][0].set_ylabel("Share of ratings")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles[::-1], names[::-1], title="Score", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False
    )
    pooled = (
        f"pooled over {n_readers} reader{'s' if n_readers != 1 else ''}"
        if n_readers
        else "pooled over readers"
    )
    heading = title or f"Distribution of ratings per reconstruction, {pooled}"
    if is_simulated(table):
        heading += " (SIMULATED readers)"
    fig.suptitle(heading, fontsize=11)
    fig.tight_layout()

    out_prefix = Path(out_prefix)
    # Embedding TrueType fonts in the PDF makes fontTools log every subsetting step at INFO.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    paths = []
    for suffix, metadata in ((".png", {"Software": None}), (".pdf", {"CreationDate": None, "Creator": None})):
        path = out_prefix.with_name(out_prefix.name + suffix)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=suffix[1:], dpi=200, bbox_inches="tight", metadata=metadata)
        paths.append(path)
    plt.close(fig)
    return paths

"""One figure style for the whole project, and atomic PNG + PDF saving."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from reconstudy.io.atomic import atomic_path  # noqa: E402

METHOD_LABELS = {
    "zf": "Zero-filled",
    "sense": "SENSE",
    "cs": "CS (L1-wavelet)",
    "dl": "DL (MoDL)",
    "dl_sr": "DL + 2x SR",
}
METHOD_COLOURS = {
    "zf": "#8c8c8c",
    "sense": "#1f77b4",
    "cs": "#2ca02c",
    "dl": "#d62728",
    "dl_sr": "#9467bd",
}


def use_style():
    """Readable defaults for print: sans-serif 9 pt, light grid, no top/right spines."""
    plt.rcParams.update(
        {
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.labelsize": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "legend.frameon": False,
            "figure.dpi": 100,
            "savefig.dpi": 200,
            "savefig.bbox": "tight",
            "pdf.fonttype": 42,
        }
    )


def save_figure(figure, png_path, pdf_path=None):
    """Save ``figure`` as PNG (and PDF), each atomically; closes the figure."""
    for path in [png_path, pdf_path]:
        if path is None:
            continue
        with atomic_path(Path(path)) as tmp:
            figure.savefig(tmp, format=Path(path).suffix.lstrip("."))
    plt.close(figure)

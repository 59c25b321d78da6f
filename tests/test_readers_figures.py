"""Rating-distribution figure (seed 000 Figure 1 style): proportions, files, simulated label."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from reconstudy.readers.figures import method_order, plot_rating_distributions, rating_distribution


def _table(source="simulated"):
    rows = []
    for label, method, R, scores in (
        ("DL R=12", "DL", 12, [1, 2, 2, 3]),
        ("CS R=4", "CS", 4, [4, 5, 5, 5]),
        ("DL R=6", "DL", 6, [3, 4, 4, 5]),
    ):
        for n, s in enumerate(scores):
            for criterion in ("overall_quality", "clinical_value"):
                rows.append(
                    {
                        "subject": "s",
                        "method": method,
                        "R": R,
                        "label": label,
                        "reader": f"R{n % 2}",
                        "criterion": criterion,
                        "score": s,
                        "case": f"c-{label}",
                        "source": source,
                    }
                )
    return pd.DataFrame(rows)


def test_distribution_counts_and_order():
    table = _table()
    assert method_order(table) == ["CS R=4", "DL R=6", "DL R=12"]
    dist = rating_distribution(table)
    assert len(dist) == 2 * 3 * 5
    part = dist[(dist.criterion == "overall_quality") & (dist.label == "DL R=12")].set_index("score")
    assert part["count"].tolist() == [1, 2, 1, 0, 0] and part["proportion"].sum() == pytest.approx(1.0)
    assert np.allclose(dist.groupby(["criterion", "label"])["proportion"].sum(), 1.0)
    assert (dist["source"] == "simulated").all()
    with pytest.raises(ValueError, match="misses label"):
        rating_distribution(table, order=["CS R=4"])


def test_figure_written_png_pdf_and_titled(tmp_path, monkeypatch):
    import matplotlib.figure

    titles = []
    original = matplotlib.figure.Figure.suptitle
    monkeypatch.setattr(
        matplotlib.figure.Figure,
        "suptitle",
        lambda self, t, **kw: titles.append(t) or original(self, t, **kw),
    )
    paths = plot_rating_distributions(
        _table(), tmp_path / "fig", criteria=["overall_quality", "clinical_value"]
    )
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 1000 for p in paths)
    assert paths[1].read_bytes().startswith(b"%PDF")
    assert Image.open(paths[0]).size[0] > 800
    assert "SIMULATED" in titles[-1] and "pooled over 2 readers" in titles[-1]
    plot_rating_distributions(_table(source="readers"), tmp_path / "real")
    assert "SIMULATED" not in titles[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.pdf", "fig.png", "real.pdf", "real.png"]

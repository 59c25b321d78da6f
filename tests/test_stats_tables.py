"""Tidy table writer: TSV + JSON sidecar + Markdown + LaTeX, atomically."""

import json

import numpy as np
import pandas as pd
import pytest

from reconstudy.stats import write_table
from reconstudy.stats.tables import format_value, gather_subject_tables, latex_escape, to_markdown


def example():
    return pd.DataFrame(
        {
            "criterion": ["overall_quality", "clinical_value"],
            "method": ["DL R=6", "DL R=12"],
            "mae": [4.16, np.nan],
            "p": [0.0004, 0.5],
            "reject": [True, False],
        }
    )


def test_write_table_four_files(tmp_path):
    df = example()
    paths = write_table(
        df,
        tmp_path / "stats" / "wilcoxon.tsv",
        units={"mae": "ppb"},
        methods="Wilcoxon signed-rank, exact",
        caption="Ratings vs CS R=4",
        description={"p": "two-sided p-value"},
        extra={"seed": np.int64(3)},
        simulated=True,
    )
    assert sorted(p.name for p in paths.values()) == [
        "wilcoxon.json",
        "wilcoxon.md",
        "wilcoxon.tex",
        "wilcoxon.tsv",
    ]
    back = pd.read_csv(paths["tsv"], sep="\t")
    pd.testing.assert_frame_equal(back, df)
    meta = json.loads(paths["json"].read_text())
    assert (
        meta["columns"]["mae"]["unit"] == "ppb" and meta["columns"]["p"]["description"] == "two-sided p-value"
    )
    assert meta["methods"] == ["Wilcoxon signed-rank, exact"] and meta["seed"] == 3 and meta["simulated"]
    assert meta["software"]["scipy"] and meta["n_rows"] == 2
    md = paths["md"].read_text()
    assert "| criterion | method | mae | p | reject |" in md and "(simulated data)" in md
    assert "| overall_quality | DL R=6 | 4.16 | 4.00e-04 | yes |" in md
    tex = paths["tex"].read_text()
    assert r"overall\_quality & DL R=6 & 4.16 & 4.00e-04 & yes \\" in tex
    assert tex.count(r"\toprule") == 1 and r"\end{tabular}" in tex
    assert not list(tmp_path.glob("stats/.*"))  # no temporary files left


def test_unknown_unit_column_raises_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="not in the table"):
        write_table(example(), tmp_path / "t.tsv", units={"rmse": "ppb"})
    assert not list(tmp_path.iterdir())


def test_formatting_helpers():
    assert latex_escape("a_b & 50% #1 CDR>0") == r"a\_b \& 50\% \#1 CDR\textgreater{}0"
    assert format_value(0.98765) == "0.988" and format_value(0.5) == "0.500"
    assert format_value(1234.5) == "1234" and format_value(np.nan) == ""
    assert "a \\| b" in to_markdown(pd.DataFrame({"x": ["a | b"]}))


def test_gather_subject_tables_keeps_labels_and_adds_the_sheet(tmp_path):
    import pandas as pd

    for subject, value in (("01", 0.5), ("02", 0.7)):
        pd.DataFrame({"subject": [subject], "ssim": [value]}).to_csv(
            tmp_path / f"{subject}.tsv", sep="\t", index=False
        )
    sheet = [{"subject": "01", "group": "control"}, {"subject": "02", "group": "impaired"}]
    table = gather_subject_tables([tmp_path / "01.tsv", tmp_path / "02.tsv"], sheet)
    assert list(table["subject"]) == ["01", "02"] and list(table["group"]) == ["control", "impaired"]
    assert list(table.columns) == ["subject", "group", "ssim"]
    with pytest.raises(ValueError, match="no per-subject tables"):
        gather_subject_tables([], sheet)

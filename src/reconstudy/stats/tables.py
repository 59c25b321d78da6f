"""Write a tidy result table as TSV + JSON sidecar + Markdown + LaTeX.

The TSV is the machine-readable result (one row per observation/comparison); the sidecar
names the units of each column, the methods and the software versions that produced it; the
Markdown and LaTeX renderings go into reports and manuscripts. All four are rendered in
memory first and then written through :func:`reconstudy.io.atomic.atomic_path`, so a failure
leaves none of them half-written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from reconstudy.io.atomic import atomic_path
from reconstudy.provenance import software_versions

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def format_value(value, digits: int = 3) -> str:
    """Human-readable cell: significant digits for floats, p < 0.001 style left to the caller."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        if value != 0 and (abs(value) < 10**-(digits) or abs(value) >= 10**6):
            return f"{value:.{digits - 1}e}"
        if abs(value) >= 1:
            decimals = max(digits - 1 - int(math.floor(math.log10(abs(value)))), 0)
            return f"{value:.{decimals}f}"
        return f"{value:.{digits}f}"
    return str(value)


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_markdown(df: pd.DataFrame, *, digits: int = 3, caption: str | None = None) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells are escaped)."""
    header = [str(c).replace("|", r"\|") for c in df.columns]
    lines = []
    if caption:
        lines += [f"**{caption}**", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append(
        "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(df[c]) else "---" for c in df.columns) + "|"
    )
    for row in df.itertuples(index=False):
        cells = [format_value(v, digits).replace("|", r"\|") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_latex(
    df: pd.DataFrame, *, digits: int = 3, caption: str | None = None, label: str | None = None
) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    align = "".join("r" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in df.columns)
    lines = [r"\begin{table}[ht]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines += [
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in df.columns) + r" \\",
        r"\midrule",
    ]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(latex_escape(format_value(v, digits)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _json_safe(obj):
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def gather_subject_tables(paths: Sequence, sheet: Sequence[Mapping]) -> pd.DataFrame:
    """Concatenate per-subject TSV tables and prepend the sheet's columns (e.g. group) by subject.

    Subject labels stay strings ("01" is not 1); rows of subjects missing from the sheet are kept.
    """
    if not paths:
        raise ValueError("no per-subject tables to gather")
    table = pd.concat([pd.read_csv(path, sep="\t", dtype={"subject": str}) for path in paths])
    return pd.DataFrame(list(sheet)).merge(table, on="subject", how="right")


def table_paths(path) -> dict[str, Path]:
    """The four files written for ``path`` (its suffix is replaced): tsv, json, md, tex."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower() in (".tsv", ".txt") else path
    return {ext: stem.with_name(stem.name + f".{ext}") for ext in ("tsv", "json", "md", "tex")}


def write_table(
    df: pd.DataFrame,
    path,
    *,
    units: Mapping[str, str] | None = None,
    methods: str | Sequence[str] = "",
    caption: str | None = None,
    description: Mapping[str, str] | None = None,
    extra: Mapping | None = None,
    digits: int = 3,
    simulated: bool = False,
) -> dict[str, Path]:
    """Write ``df`` as ``<stem>.tsv``, ``.json``, ``.md`` and ``.tex`` next to ``path``.

    Args:
        df: tidy table.
        path: target; ``results/stats/wilcoxon.tsv`` writes ``wilcoxon.{tsv,json,md,tex}``.
        units: column -> unit (e.g. {'mae': 'ppb'}); unknown columns raise.
        methods: free-text method description(s) for the sidecar and reports.
        caption: one-sentence caption (Markdown heading and LaTeX caption).
        description: column -> meaning.
        extra: further sidecar fields (seed, n_repetitions, ...).
        digits: significant digits in the Markdown/LaTeX renderings (the TSV keeps full precision).
        simulated: mark the results as coming from simulated data in every rendering.

    Returns:
        the written paths by extension.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"write_table needs a DataFrame, got {type(df).__name__}")
    for what, mapping in (("units", units), ("description", description)):
        unknown = sorted(set(mapping or {}) - set(map(str, df.columns)))
        if unknown:
            raise ValueError(f"{what} name columns {unknown} that are not in the table {list(df.columns)}")
    if simulated and caption:
        caption = f"{caption} (simulated data)"
    elif simulated:
        caption = "Simulated data"
    sidecar = {
        "columns": {
            str(c): {
                "unit": (units or {}).get(str(c), ""),
                "description": (description or {}).get(str(c), ""),
                "dtype": str(df[c].dtype),
            }
            for c in df.columns
        },
        "n_rows": int(len(df)),
        "methods": [methods] if isinstance(methods, str) else list(methods),
        "caption": caption or "",
        "simulated": bool(simulated),
        "software": software_versions(),
        **_json_safe(dict(extra or {})),
    }
    rendered = {
        "tsv": df.to_csv(sep="\t", index=False, lineterminator="\n"),
        "json": json.dumps(_json_safe(sidecar), indent=2, allow_nan=False, default=str) + "\n",
        "md": to_markdown(df, digits=digits, caption=caption),
        "tex": to_latex(df, digits=digits, caption=caption),
    }
    paths = table_paths(path)
    for ext, target in paths.items():
        with atomic_path(target) as tmp:
            Path(tmp).write_text(rendered[ext], encoding="utf-8")
    return paths

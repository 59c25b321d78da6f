"""BIDS-like output names: the one place that builds a path, so names stay consistent."""

from __future__ import annotations

from pathlib import Path


def bids(root, subject: str, suffix: str, *, datatype: str, ext: str = ".nii.gz", **entities) -> str:
    """``{root}/sub-{subject}/{datatype}/sub-{subject}_{key-value...}_{suffix}{ext}``.

    Entities are written in the order given; ``None`` values are left out. Values may be
    Snakemake wildcards such as ``"{R}"``.

    Example:
        >>> bids("results", "01", "T1w", datatype="anat", acq="R8", rec="cs")
        'results/sub-01/anat/sub-01_acq-R8_rec-cs_T1w.nii.gz'
    """
    parts = [f"sub-{subject}"] + [f"{key}-{value}" for key, value in entities.items() if value is not None]
    name = "_".join(parts) + f"_{suffix}{ext}"
    return str(Path(root) / f"sub-{subject}" / datatype / name)


def format_r(acceleration) -> str:
    """Acceleration as it appears in names and tables: 4 -> "4", 2.5 -> "2.5"."""
    return f"{float(acceleration):g}"

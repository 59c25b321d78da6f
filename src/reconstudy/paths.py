"""BIDS-like output names: the one place that builds a path, so names stay consistent."""

from __future__ import annotations

import re
from pathlib import Path


def bids_label(value) -> str:
    """A value as a BIDS label (letters and digits only): ``"dl_sr"`` -> ``"dlsr"``, ``"R2.5"`` -> ``"R2p5"``.

    BIDS parsers split names at ``_`` and ``-`` and take the extension from the first ``.``, so a
    method ``dl_sr`` or an acceleration 2.5 written verbatim would be misread. Snakemake wildcard
    patterns (``"R{R}"``) pass unchanged; the wildcard then matches the label form.
    """
    text = str(value)
    if "{" in text:
        return text
    label = re.sub(r"[^A-Za-z0-9]", "", text.replace(".", "p"))
    if not label:
        raise ValueError(f"{value!r} has no letters or digits: it cannot be a BIDS label")
    return label


def bids(root, subject: str, suffix: str, *, datatype: str, ext: str = ".nii.gz", **entities) -> str:
    """``{root}/sub-{subject}/{datatype}/sub-{subject}_{key-value...}_{suffix}{ext}``.

    Entities are written in the order given; ``None`` values are left out; values are written as
    BIDS labels (``bids_label``). Values may be Snakemake wildcards such as ``"{R}"``.

    Example:
        >>> bids("results", "01", "T1w", datatype="anat", acq="R8", rec="cs")
        'results/sub-01/anat/sub-01_acq-R8_rec-cs_T1w.nii.gz'
        >>> bids("results", "01", "T1w", datatype="anat", acq="R2.5", rec="dl_sr")
        'results/sub-01/anat/sub-01_acq-R2p5_rec-dlsr_T1w.nii.gz'
    """
    parts = [f"sub-{subject}"]
    parts += [f"{key}-{bids_label(value)}" for key, value in entities.items() if value is not None]
    name = "_".join(parts) + f"_{suffix}{ext}"
    return str(Path(root) / f"sub-{subject}" / datatype / name)


def format_r(acceleration) -> str:
    """Acceleration as it appears in names and tables: 4 -> "4", 2.5 -> "2.5"."""
    return f"{float(acceleration):g}"

"""Shipped, versioned assets in the repository's ``resources/`` folder."""

from __future__ import annotations

import os
from pathlib import Path

# src/reconstudy/resources.py -> repository root; RECONSTUDY_RESOURCES overrides (installed copies)
_DEFAULT = Path(__file__).resolve().parents[2] / "resources"


def resource_path(*parts: str) -> Path:
    """Path of a shipped resource, e.g. ``resource_path("anatomy", "training_seg_01.nii.gz")``."""
    root = Path(os.environ.get("RECONSTUDY_RESOURCES", _DEFAULT))
    path = root.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: shipped resource not found; run from a ReconStudy checkout or set "
            "RECONSTUDY_RESOURCES to its resources/ folder"
        )
    return path

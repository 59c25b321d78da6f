"""Per-label tissue properties (T1, T2*, PD, χ) from the shipped literature table.

``resources/tissue_properties.tsv`` lists, per label of the anatomy maps, T1 and T2* at 3 T and
7 T, proton density and susceptibility relative to water; ``tissue_properties.json`` names the
units and the full citation of each value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = [
    "label",
    "name",
    "compartment",
    "t1_3t_ms",
    "t1_7t_ms",
    "t2star_3t_ms",
    "t2star_7t_ms",
    "pd",
    "chi_ppm",
]
COMPARTMENTS = {"parenchyma", "csf", "extracerebral", "air"}
AIR_CHI_PPM = 9.4  # air relative to water (+0.36 vs -9.05 ppm SI; Schenck 1996)


def load_tissue_table(path) -> pd.DataFrame:
    """Read and check the tissue table; index is the label value."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: tissue property table not found (set phantom.tissue_table)")
    table = pd.read_csv(path, sep="\t")
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; required: {COLUMNS}")
    bad = sorted(set(table["compartment"]) - COMPARTMENTS)
    if bad:
        raise ValueError(f"{path}: column 'compartment' has {bad}; allowed: {sorted(COMPARTMENTS)}")
    if table["label"].duplicated().any():
        raise ValueError(f"{path}: duplicate labels {table['label'][table['label'].duplicated()].tolist()}")
    positive = ["t1_3t_ms", "t1_7t_ms", "t2star_3t_ms", "t2star_7t_ms"]
    if (table[positive] <= 0).any().any() or ((table["pd"] < 0) | (table["pd"] > 1)).any():
        raise ValueError(f"{path}: T1 and T2* must be > 0 and pd in [0, 1]")
    return table.set_index("label", drop=False)


@dataclass
class TissueProperties:
    """Property lookup tables indexed by label value (length max_label + 1).

    Attributes:
        t1_ms, t2star_ms, pd, chi_ppm: float arrays; entry ``l`` belongs to label ``l``.
        intracranial: bool array, True for parenchyma and CSF labels (the brain mask).
        parenchyma: bool array, True for brain tissue labels (compartment ``parenchyma``).
        known: bool array, True for labels present in the table.
    """

    t1_ms: np.ndarray
    t2star_ms: np.ndarray
    pd: np.ndarray
    chi_ppm: np.ndarray
    intracranial: np.ndarray
    parenchyma: np.ndarray
    known: np.ndarray

    def maps(self, labels: np.ndarray) -> dict[str, np.ndarray]:
        """Property maps of a label volume (float32)."""
        if labels.max(initial=0) >= self.known.size or labels.min(initial=0) < 0:
            raise ValueError(f"labels outside 0..{self.known.size - 1} are not in the tissue table")
        unknown = np.unique(labels[~self.known[labels]])
        if unknown.size:
            raise ValueError(f"labels {unknown.tolist()} are not in the tissue table; add rows for them")
        return {
            k: getattr(self, k)[labels].astype(np.float32) for k in ("t1_ms", "t2star_ms", "pd", "chi_ppm")
        }


def properties_at_field(table: pd.DataFrame, b0_tesla: float) -> pd.DataFrame:
    """T1 and T2* at ``b0_tesla``: linear in B0 for T1 and for R2* = 1/T2*, through 3 T and 7 T.

    Outside [3, 7] T the lines are extrapolated (clamped to stay positive); this follows the
    near-linear field dependence of R2* (Peters et al. 2007) and the slow, roughly linear rise
    of brain T1 over 1.5-7 T (Rooney et al. 2007).
    """
    w = (b0_tesla - 3.0) / 4.0
    out = table.copy()
    t1 = table["t1_3t_ms"] + w * (table["t1_7t_ms"] - table["t1_3t_ms"])
    out["t1_ms"] = np.maximum(t1, 0.3 * table["t1_3t_ms"])
    r2s = 1 / table["t2star_3t_ms"] + w * (1 / table["t2star_7t_ms"] - 1 / table["t2star_3t_ms"])
    out["t2star_ms"] = 1 / np.maximum(r2s, 0.3 / table["t2star_3t_ms"])
    return out


def subject_properties(table: pd.DataFrame, b0_tesla: float, jitter: dict, rng) -> TissueProperties:
    """Lookup tables for one subject: values at ``b0_tesla`` with seeded per-label jitter.

    T1, T2* and PD are scaled by ``1 + u`` and χ shifted by ``v``, with ``u`` and ``v``
    uniform within the ``jitter`` bounds (relative for t1/t2star/pd, ppm for chi_ppm). Air
    (label 0) keeps its exact values, since the air/tissue difference is a physical constant,
    and CSF keeps χ = 0 because it is the susceptibility reference.
    """
    at_field = properties_at_field(table, b0_tesla)
    labels = at_field["label"].to_numpy(int)
    n = int(labels.max()) + 1
    arrays = {}
    for key, column, bound in (
        ("t1_ms", "t1_ms", "t1"),
        ("t2star_ms", "t2star_ms", "t2star"),
        ("pd", "pd", "pd"),
    ):
        factor = 1 + rng.uniform(-jitter[bound], jitter[bound], size=labels.size)
        factor[labels == 0] = 1.0
        values = np.zeros(n)
        values[labels] = at_field[column].to_numpy(float) * factor
        arrays[key] = values
    shift = rng.uniform(-jitter["chi_ppm"], jitter["chi_ppm"], size=labels.size)
    shift[at_field["compartment"].isin(["air", "csf"]).to_numpy()] = 0.0  # CSF stays the χ reference
    chi = np.zeros(n)
    chi[labels] = at_field["chi_ppm"].to_numpy(float) + shift
    arrays["pd"] = np.clip(arrays["pd"], 0, 1)
    intracranial = np.zeros(n, bool)
    intracranial[labels] = at_field["compartment"].isin(["parenchyma", "csf"]).to_numpy()
    parenchyma = np.zeros(n, bool)
    parenchyma[labels] = (at_field["compartment"] == "parenchyma").to_numpy()
    known = np.zeros(n, bool)
    known[labels] = True
    return TissueProperties(
        chi_ppm=chi, intracranial=intracranial, parenchyma=parenchyma, known=known, **arrays
    )

"""Simulated lesion-wise QSM raters (seed 003's reading design, for the demo cohort).

Seed 003 had two raters classify every MS lesion on χ maps from two reconstructions
(paramagnetic rim lesion yes/no; QSM-hyperintense vs isointense) and score their confidence
1–5. The demo has no raters, so this model stands in. Rater ``r`` reads lesion ``l`` on the
map of method ``m`` through the lesion's *measured* contrasts on that map (core, rim and
whole-lesion χ relative to the surrounding normal-appearing white matter, from
:func:`reconstudy.segment.biomarkers.lesion_features`), so every error of the reconstruction
and of QSM reaches the ratings:

    rim'  = rim_rel  + t_r + ε₁,   core' = core_rel + ε₂,   lesion' = lesion_rel + t_r + ε₃
    PRL   = rim' > θ_rim and rim' − core' > θ_rc;   else hyper if lesion' > θ_hyper, else iso
    conf  = clip(round(1 + 4·tanh(|margin| / s) − κ·log2(e_m / min_m' e_m') + b_r + η), 1, 5)

with ``t_r ~ N(0, σ_t²)`` a rater's threshold shift, ``ε ~ N(0, σ_ε²)`` reading noise (ppm),
``margin`` the distance (ppm) of the deciding contrast from its threshold, ``b_r ~ N(0, σ_b²)``
a rater's leniency and ``η ~ N(0, σ_η²)``. When the features carry the error of each map
(``map_nrmse``, e.g. RMSE against the reference map), a map with twice the error of the
subject's best map costs κ points of confidence: noise and artefacts make every reading less
sure, even where they happen to push a contrast far from a threshold. Thresholds default to those of
:func:`reconstudy.segment.biomarkers.classify_lesions`. Every output row carries
``source = "simulated"``.

The true lesion kind of the phantom stands in for seed 003's consensus of a third rater.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LESION_STREAM = 7003
SOURCE = "simulated"
REQUIRED = ("subject", "lesion_id", "method", "rim_rel_ppm", "core_rel_ppm", "lesion_rel_ppm")


def simulate_lesion_ratings(
    features: pd.DataFrame,
    *,
    seed: int,
    n_raters: int = 2,
    rim_min_ppm: float = 0.045,
    rim_over_core_ppm: float = 0.03,
    hyper_min_ppm: float = 0.015,
    threshold_sd_ppm: float = 0.005,
    noise_sd_ppm: float = 0.008,
    confidence_scale_ppm: float = 0.03,
    leniency_sd: float = 0.3,
    confidence_noise_sd: float = 0.5,
    map_penalty: float = 1.0,
) -> pd.DataFrame:
    """Lesion-wise findings and confidence of ``n_raters`` simulated raters, seeded.

    Args:
        features: one row per (subject, lesion_id, method) with the measured contrasts
            ``rim_rel_ppm``, ``core_rel_ppm``, ``lesion_rel_ppm`` (a missing rim reads as no rim).
        seed: study seed; draws come from ``default_rng([seed, LESION_STREAM])`` in the
            sorted order of (subject, lesion_id, method), so input order does not matter.
        n_raters: raters, named ``sim-Q1``, ``sim-Q2``, ...
        rim_min_ppm, rim_over_core_ppm, hyper_min_ppm: decision thresholds θ (ppm).
        threshold_sd_ppm, noise_sd_ppm: σ_t and σ_ε (ppm).
        confidence_scale_ppm, leniency_sd, confidence_noise_sd: s, σ_b, σ_η.
        map_penalty: κ, confidence points lost per doubling of ``map_nrmse`` over the
            subject's best map (used only when ``features`` has a ``map_nrmse`` column).

    Returns:
        Tidy rows ``subject, lesion_id, method, rater, kind ('prl'|'hyper'|'iso'), prl
        ('yes'|'no'), contrast ('hyper'|'iso', the WML classification), confidence (1–5),
        source``.
    """
    missing = [c for c in REQUIRED if c not in features.columns]
    if missing:
        raise ValueError(
            f"lesion features lack column(s) {missing}; use reconstudy.segment.biomarkers.lesion_features"
        )
    if n_raters < 1:
        raise ValueError(f"n_raters must be at least 1; got {n_raters}")
    if features.duplicated(["subject", "lesion_id", "method"]).any():
        raise ValueError("lesion features list some (subject, lesion_id, method) more than once")
    work = features.astype({"subject": str, "method": str}).sort_values(["subject", "lesion_id", "method"])
    work = work.reset_index(drop=True)
    for column in ("core_rel_ppm", "lesion_rel_ppm"):
        if not np.all(np.isfinite(work[column].to_numpy(float))):
            raise ValueError(f"lesion features: {column} must be finite (a lesion without NAWM around it?)")
    n = len(work)
    rng = np.random.default_rng([int(seed), LESION_STREAM])
    shift = rng.normal(0.0, threshold_sd_ppm, n_raters)
    leniency = rng.normal(0.0, leniency_sd, n_raters)
    rim = work["rim_rel_ppm"].to_numpy(float)
    rim = np.where(np.isfinite(rim), rim, -np.inf)
    core = work["core_rel_ppm"].to_numpy(float)
    whole = work["lesion_rel_ppm"].to_numpy(float)
    penalty = np.zeros(n)
    if "map_nrmse" in work.columns:
        error = work["map_nrmse"].to_numpy(float)
        if not np.all(np.isfinite(error)) or np.any(error <= 0):
            raise ValueError("lesion features: map_nrmse must be positive and finite for every row")
        best = work.assign(_e=error).groupby("subject")["_e"].transform("min").to_numpy(float)
        penalty = map_penalty * np.log2(error / best)
    frames = []
    for r in range(n_raters):
        e = rng.normal(0.0, noise_sd_ppm, (3, n))
        rim_p, core_p, whole_p = rim - shift[r] + e[0], core + e[1], whole - shift[r] + e[2]
        prl = (rim_p > rim_min_ppm) & (rim_p - core_p > rim_over_core_ppm)
        hyper = whole_p > hyper_min_ppm
        kind = np.where(prl, "prl", np.where(hyper, "hyper", "iso"))
        margin_prl = np.minimum(rim_p - rim_min_ppm, rim_p - core_p - rim_over_core_ppm)
        margin = np.where(prl, margin_prl, np.minimum(np.abs(margin_prl), np.abs(whole_p - hyper_min_ppm)))
        margin = np.where(np.isfinite(margin), margin, 0.1)
        latent = 1 + 4 * np.tanh(np.abs(margin) / confidence_scale_ppm) - penalty + leniency[r]
        latent += rng.normal(0.0, confidence_noise_sd, n)
        frames.append(
            pd.DataFrame(
                {
                    "subject": work["subject"],
                    "lesion_id": work["lesion_id"].astype(int),
                    "method": work["method"],
                    "rater": f"sim-Q{r + 1}",
                    "kind": kind,
                    "prl": np.where(prl, "yes", "no"),
                    "contrast": np.where(hyper, "hyper", "iso"),
                    "confidence": np.clip(np.rint(latent), 1, 5).astype(int),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out["source"] = SOURCE
    return out


def consensus_from_truth(lesions: pd.DataFrame) -> pd.DataFrame:
    """The phantom's true lesion kinds as the consensus: subject, lesion_id, prl, contrast, kind.

    ``contrast`` is hyper for PRLs and hyperintense lesions (both are paramagnetic overall in
    the phantom), iso otherwise.
    """
    missing = [c for c in ("subject", "lesion_id", "kind") if c not in lesions.columns]
    if missing:
        raise ValueError(f"truth lesion table lacks column(s) {missing}")
    out = lesions[["subject", "lesion_id", "kind"]].astype({"subject": str}).copy()
    out["lesion_id"] = out["lesion_id"].astype(int)
    out["prl"] = np.where(out["kind"] == "prl", "yes", "no")
    out["contrast"] = np.where(out["kind"] == "iso", "iso", "hyper")
    return out

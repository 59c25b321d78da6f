"""Simulated readers for the demo cohort: Likert scores driven by an image-quality metric.

Real ratings need radiologists; the embedded demo needs ratings that behave like theirs, so
the statistics and figures downstream can be exercised end to end. The model is ordinal:
reader ``r`` scores case ``c`` on criterion ``k`` by rounding a latent quality

    L[r, c, k] = 1 + 4 · clip((q_c − q_lo) / (q_hi − q_lo), 0, 1) + δ_k + b_r + u_c + ε[r, c, k]
    score      = clip(round(L), 1, 5)

where ``q_c`` is the case's metric (e.g. SSIM against the fully sampled reference, higher is
better), ``(q_lo, q_hi)`` anchor the metric to "very poor" and "very good", ``δ_k`` is an
optional per-criterion offset, ``b_r ~ N(0, σ_b²)`` a reader's leniency, ``u_c ~ N(0, σ_u²)`` a
case effect all readers see (what the metric misses) and ``ε ~ N(0, σ_ε²)`` reading noise.
Rounding is a cumulative-link model with thresholds 1.5, 2.5, 3.5, 4.5 (McCullagh 1980), so
``P(score ≥ s)`` and the mean score rise monotonically with ``q_c``.

Every output carries ``source = "simulated"``; figures made from it say so in their title.

References:
    McCullagh P. Regression models for ordinal data. J R Stat Soc B. 1980;42(2):109–142.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from reconstudy.readers.criteria import parse_criteria

SIMULATION_STREAM = 7002
SOURCE = "simulated"


def simulate_ratings(
    quality,
    *,
    seed: int,
    criteria=None,
    n_readers: int = 3,
    anchors: tuple[float, float] | None = None,
    reader_bias_sd: float = 0.4,
    case_sd: float = 0.3,
    noise_sd: float = 0.5,
    criterion_offsets: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Simulated Likert ratings of every case by ``n_readers`` readers, seeded.

    Args:
        quality: case ID → metric (a mapping or Series); higher must mean better (pass
            ``-NRMSE`` for an error metric).
        seed: study seed; readers, case effects and noise come from
            ``default_rng([seed, SIMULATION_STREAM])``.
        criteria: criteria to rate (seed 000's three by default).
        n_readers: number of readers, named ``sim-R1``, ``sim-R2``, ...
        anchors: metric values read as 1 and 5; the lowest and highest ``quality`` by default.
        reader_bias_sd, case_sd, noise_sd: σ_b, σ_u, σ_ε of the model (Likert units).
        criterion_offsets: δ_k per criterion ID (0 for those not named).

    Returns:
        Tidy ratings ``reader, case, criterion, score, source`` with ``source == "simulated"``.
    """
    quality = pd.Series(quality, dtype=float)
    if quality.empty or not np.all(np.isfinite(quality.to_numpy())):
        raise ValueError(
            "simulated readers need a finite quality value for every case; got "
            f"{quality[~np.isfinite(quality)].index.tolist() or 'no cases'}"
        )
    if n_readers < 1:
        raise ValueError(f"n_readers must be at least 1; got {n_readers}")
    if min(reader_bias_sd, case_sd, noise_sd) < 0:
        raise ValueError("standard deviations of the reader model must be >= 0")
    criteria = parse_criteria(criteria)
    offsets = dict(criterion_offsets or {})
    unknown = sorted(set(offsets) - {c.id for c in criteria})
    if unknown:
        raise ValueError(
            f"criterion_offsets name unknown criteria {unknown}; known: {[c.id for c in criteria]}"
        )
    q_lo, q_hi = anchors if anchors is not None else (quality.min(), quality.max())
    span = q_hi - q_lo
    normalised = np.clip((quality.to_numpy() - q_lo) / span, 0, 1) if span > 0 else np.full(len(quality), 0.5)

    rng = np.random.default_rng([int(seed), SIMULATION_STREAM])
    reader_bias = rng.normal(0.0, reader_bias_sd, n_readers)
    case_effect = rng.normal(0.0, case_sd, len(quality))
    delta = np.array([offsets.get(c.id, 0.0) for c in criteria])
    latent = (
        1.0
        + 4.0 * normalised[None, :, None]
        + delta[None, None, :]
        + reader_bias[:, None, None]
        + case_effect[None, :, None]
        + rng.normal(0.0, noise_sd, (n_readers, len(quality), len(criteria)))
    )
    scores = np.clip(np.rint(latent), 1, 5).astype(int)
    readers = [f"sim-R{r + 1}" for r in range(n_readers)]
    index = pd.MultiIndex.from_product(
        [readers, quality.index.astype(str), [c.id for c in criteria]], names=["reader", "case", "criterion"]
    )
    table = pd.DataFrame({"score": scores.ravel()}, index=index).reset_index()
    table["source"] = SOURCE
    return table


def quality_by_case(key: pd.DataFrame, metrics: pd.DataFrame, metric: str) -> pd.Series:
    """Look up each key case's ``metric`` in a metrics table, by subject, method and R.

    ``metrics`` is either wide (a column named ``metric``) or tidy (``metric`` and ``value``
    columns); the method column may be called ``method`` or ``rec``. Every key case must
    have exactly one value.
    """
    metrics = metrics.rename(columns={"rec": "method"}).copy()
    if {"metric", "value"} <= set(metrics.columns):
        metrics = metrics[metrics["metric"] == metric].rename(columns={"value": metric})
    missing = [c for c in ("subject", "method", "R", metric) if c not in metrics.columns]
    if missing:
        raise ValueError(
            f"metrics table lacks column(s) {missing}; need subject, method (or rec), R and {metric!r}"
        )
    on = ["subject", "method", "R"]
    left = key[["case", *on]].astype({"subject": str, "method": str, "R": float})
    right = metrics[[*on, metric]].astype({"subject": str, "method": str, "R": float})
    if right.duplicated(on).any():
        raise ValueError(
            f"metrics table has several {metric!r} values for some (subject, method, R); keep one each"
        )
    joined = left.merge(right, on=on, how="left")
    absent = joined[joined[metric].isna()]
    if len(absent):
        rows = absent[on].to_dict("records")[:10]
        raise ValueError(
            f"no {metric!r} for {len(absent)} packet case(s), e.g. {rows}; compute the metrics first"
        )
    return pd.Series(joined[metric].to_numpy(float), index=joined["case"].to_numpy(), name=metric)

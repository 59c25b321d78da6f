"""Multiple-comparison adjustment of p-values (Benjamini–Hochberg, Bonferroni, Holm)."""

from __future__ import annotations

import numpy as np

from reconstudy.stats._validate import as_finite_vector

METHODS = ("fdr_bh", "bonferroni", "holm")


def adjust_pvalues(p, method: str = "fdr_bh") -> np.ndarray:
    """Adjusted p-values for a family of ``m`` tests.

    - ``fdr_bh`` (Benjamini & Hochberg 1995): with p sorted ascending, ``p_(i) * m / i``,
      made monotone from the largest p downwards; controls the false discovery rate under
      independence or positive dependence.
    - ``bonferroni``: ``min(1, m p)``; controls the family-wise error rate.
    - ``holm`` (Holm 1979): ``(m - i + 1) p_(i)`` made monotone upwards; uniformly more
      powerful than Bonferroni with the same guarantee.

    Args:
        p: p-values in [0, 1].
        method: one of 'fdr_bh', 'bonferroni', 'holm'.

    Returns:
        adjusted p-values in the input order, clipped to 1.

    References:
        Benjamini Y, Hochberg Y. Controlling the false discovery rate. JRSS B 1995;57:289-300.
        Holm S. A simple sequentially rejective multiple test procedure. Scand J Stat 1979;6:65-70.
    """
    p = as_finite_vector(p, "p-values")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    m = p.size
    if method == "bonferroni":
        return np.minimum(1.0, p * m)
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    i = np.arange(1, m + 1)
    if method == "fdr_bh":
        adj = np.minimum.accumulate((ranked * m / i)[::-1])[::-1]
    elif method == "holm":
        adj = np.maximum.accumulate(ranked * (m - i + 1))
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    out = np.empty(m)
    out[order] = np.minimum(1.0, adj)
    return out

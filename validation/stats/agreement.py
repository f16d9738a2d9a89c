"""Agreement between two raters: Cohen's kappa (unweighted and weighted) with its large-sample interval.

Uses in medval: agreement of two annotators on the reference standard, of the
model's decision with a reader's, or of a locked model with its retrained
successor (positive/negative percent agreement lives with the proportions).

References
----------
.. [1] Cohen J. A coefficient of agreement for nominal scales. Educ Psychol
   Meas 1960;20(1):37-46. doi:10.1177/001316446002000104
.. [2] Cohen J. Weighted kappa: nominal scale agreement with provision for
   scaled disagreement or partial credit. Psychol Bull 1968;70(4):213-220.
   doi:10.1037/h0026256
.. [3] Fleiss JL, Cohen J, Everitt BS. Large sample standard errors of kappa
   and weighted kappa. Psychol Bull 1969;72(5):323-327. doi:10.1037/h0028106
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import special, stats

from validation.stats._validate import check_choice, check_confidence_level, check_counts

__all__ = ["KappaResult", "cohen_kappa", "cohen_kappa_table"]

KappaWeights = Literal["linear", "quadratic"]


@dataclass(frozen=True, slots=True)
class KappaResult:
    """Cohen's kappa with its standard errors and interval.

    Attributes
    ----------
    estimate, lower, upper : float
        Kappa and its Wald interval ``kappa +/- z se`` (not truncated; kappa
        lies in [-1, 1] but the large-sample interval may not).
    se : float
        Large-sample SE (Fleiss, Cohen & Everitt 1969), used for the interval.
    se_null : float
        SE under H0: kappa = 0, used for ``z`` and ``p_value``.
    z, p_value : float
        Two-sided test of H0: kappa = 0.
    observed_agreement, expected_agreement : float
        (Weighted) observed and chance agreement.
    confidence_level : float
    method : str
    weights : str
        ``'none'``, ``'linear'`` or ``'quadratic'``.
    n : int
    categories : tuple
    """

    estimate: float
    lower: float
    upper: float
    se: float
    se_null: float
    z: float
    p_value: float
    observed_agreement: float
    expected_agreement: float
    confidence_level: float
    method: str
    weights: str
    n: int
    categories: tuple = field(default=())

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__slots__}
        d["categories"] = [c if isinstance(c, (int, float, str)) else str(c) for c in self.categories]
        return d


def cohen_kappa_table(
    table: Any,
    *,
    weights: KappaWeights | None = None,
    confidence_level: float = 0.95,
    categories: Sequence[Any] | None = None,
) -> KappaResult:
    """Cohen's kappa from a k x k contingency table (rows rater A, columns rater B).

    Parameters
    ----------
    table : array_like of int, shape (k, k)
        Counts; the categories are ordered the same way on both axes.
    weights : {None, 'linear', 'quadratic'}
        None: unweighted kappa [1]_. ``'linear'`` / ``'quadratic'``: weighted
        kappa [2]_ with disagreement weights ``|i-j|/(k-1)`` or
        ``((i-j)/(k-1))^2`` (agreement weights ``1 -`` those), for ordered
        categories.
    confidence_level : float
    categories : sequence, optional
        Names of the k categories (recorded only).

    Returns
    -------
    KappaResult

    Notes
    -----
    With agreement weights ``w_ij``, cell proportions ``p_ij`` and margins
    ``p_i.``, ``p_.j``: ``p_o = sum w_ij p_ij``, ``p_e = sum w_ij p_i. p_.j``,
    ``kappa = (p_o - p_e)/(1 - p_e)``. The large-sample variance [3]_ is
    ``[sum p_ij (w_ij - (wbar_i. + wbar_.j)(1 - kappa))^2 - (kappa - p_e(1 - kappa))^2] / (n (1 - p_e)^2)``
    with ``wbar_i. = sum_j p_.j w_ij`` and ``wbar_.j = sum_i p_i. w_ij``;
    the null variance replaces ``p_ij`` by ``p_i. p_.j`` and kappa by 0.
    These equal statsmodels ``cohens_kappa(table, wt=...)``'s ``var_kappa``
    and ``var_kappa0``. When chance agreement is 1 (both raters used a single
    category), kappa is undefined and NaN.

    Raises
    ------
    ValueError
        A non-square table, negative or fractional counts, or an empty table.

    References
    ----------
    .. [1] Cohen J. Educ Psychol Meas 1960;20(1):37-46. doi:10.1177/001316446002000104
    .. [2] Cohen J. Psychol Bull 1968;70(4):213-220. doi:10.1037/h0026256
    .. [3] Fleiss JL, Cohen J, Everitt BS. Psychol Bull 1969;72(5):323-327. doi:10.1037/h0028106

    Examples
    --------
    >>> r = cohen_kappa_table([[20, 5], [10, 15]])   # p_o = .7, p_e = .5*.6 + .5*.4 = .5
    >>> round(r.estimate, 4)
    0.4
    """
    check_choice("none" if weights is None else weights, "weights", ("none", "linear", "quadratic"))
    cl = check_confidence_level(confidence_level)
    t = check_counts(table, "table").astype(float)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] < 2:
        raise ValueError(f"'table' must be a square k x k table with k >= 2; got shape {t.shape}")
    n = t.sum()
    if n == 0:
        raise ValueError("'table' must contain at least one rated case; got all zeros")
    k = t.shape[0]
    if categories is not None and len(categories) != k:
        raise ValueError(f"'categories' must name the {k} categories; got {len(categories)}")
    i, j = np.indices((k, k))
    if weights is None:
        w = (i == j).astype(float)
    elif weights == "linear":
        w = 1 - np.abs(i - j) / (k - 1)
    else:
        w = 1 - ((i - j) / (k - 1)) ** 2
    p = t / n
    pr, pc = p.sum(1), p.sum(0)
    pe_cells = np.outer(pr, pc)
    po = float((w * p).sum())
    pe = float((w * pe_cells).sum())
    method = "cohen" if weights is None else f"cohen-weighted-{weights}"
    wname = "none" if weights is None else weights
    cats = tuple(categories) if categories is not None else tuple(range(k))
    if pe >= 1.0:
        nan = math.nan
        return KappaResult(nan, nan, nan, nan, nan, nan, nan, po, pe, cl, method, wname, int(n), cats)
    kappa = (po - pe) / (1 - pe)
    wr = w @ pc  # wbar_i.
    wc = pr @ w  # wbar_.j
    mix = wr[:, None] + wc[None, :]
    var = ((p * (w - mix * (1 - kappa)) ** 2).sum() - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2)
    var0 = ((pe_cells * (w - mix) ** 2).sum() - pe**2) / (n * (1 - pe) ** 2)
    se = math.sqrt(max(var, 0.0))
    se0 = math.sqrt(max(var0, 0.0))
    z_crit = float(special.ndtri(0.5 + cl / 2))
    z = kappa / se0 if se0 > 0 else math.nan
    pval = float(2 * stats.norm.sf(abs(z))) if not math.isnan(z) else math.nan
    return KappaResult(float(kappa), float(kappa - z_crit * se), float(kappa + z_crit * se), se, se0,
                       float(z), pval, po, pe, cl, method, wname, int(n), cats)


def cohen_kappa(
    rater_a: Any,
    rater_b: Any,
    *,
    weights: KappaWeights | None = None,
    categories: Sequence[Any] | None = None,
    confidence_level: float = 0.95,
) -> KappaResult:
    """Cohen's kappa from two raters' labels for the same cases.

    Parameters
    ----------
    rater_a, rater_b : array_like
        One label per case (numbers or strings); missing labels (None/NaN)
        are refused: decide how to count them before calling.
    weights : {None, 'linear', 'quadratic'}
        See :func:`cohen_kappa_table`; weighted kappa needs ordered categories.
    categories : sequence, optional
        All categories in order (needed for weighting when a category is
        unused, and fixes the order). Default: the sorted union of observed labels.
    confidence_level : float

    Returns
    -------
    KappaResult
        ``estimate`` equals scikit-learn ``cohen_kappa_score(a, b, weights=...)``.

    Examples
    --------
    >>> r = cohen_kappa([1, 1, 0, 0, 1], [1, 0, 0, 0, 1])
    >>> round(r.estimate, 4)   # p_o = .8, p_e = .6*.4 + .4*.6 = .48 -> .32/.52
    0.6154
    """
    a = np.asarray(rater_a, dtype=object).reshape(-1) if np.ndim(rater_a) == 1 else None
    b = np.asarray(rater_b, dtype=object).reshape(-1) if np.ndim(rater_b) == 1 else None
    if a is None or b is None:
        raise ValueError(f"'rater_a' and 'rater_b' must be 1-D; got shapes {np.shape(rater_a)} and {np.shape(rater_b)}")
    if a.size != b.size:
        raise ValueError(f"'rater_a' and 'rater_b' must have the same length; got {a.size} and {b.size}")
    if a.size == 0:
        raise ValueError("'rater_a' must not be empty; got an empty array")
    for name, arr in (("rater_a", a), ("rater_b", b)):
        for idx, v in enumerate(arr):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                raise ValueError(f"{name!r} has a missing label at index {idx}; got {v!r}")
    if categories is None:
        try:
            cats = sorted(set(a.tolist()) | set(b.tolist()))
        except TypeError:
            raise TypeError("labels of mixed types cannot be ordered; pass 'categories'") from None
    else:
        cats = list(categories)
        if len(set(cats)) != len(cats):
            raise ValueError(f"'categories' must be unique; got {cats!r}")
        for name, arr in (("rater_a", a), ("rater_b", b)):
            unknown = [v for v in dict.fromkeys(arr.tolist()) if v not in cats]
            if unknown:
                raise ValueError(f"{name!r} contains label {unknown[0]!r}, which is not in 'categories' {cats!r}")
    if len(cats) < 2:
        cats = cats + [f"(unused {len(cats)})"]
    pos = {c: i for i, c in enumerate(cats)}
    k = len(cats)
    table = np.zeros((k, k), dtype=np.int64)
    np.add.at(table, ([pos[v] for v in a], [pos[v] for v in b]), 1)
    return cohen_kappa_table(table, weights=weights, confidence_level=confidence_level, categories=cats)

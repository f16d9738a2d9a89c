"""Subgroup analysis of a proportion, heterogeneity across strata, and multiplicity control.

``subgroup_analysis(outcomes, groups, ...)`` is the array-level entry (one 0/1
outcome per case, e.g. "detected" per positive case for sensitivity, with the
case's subgroup level); it is a thin wrapper over
``subgroup_analysis_counts(successes, totals, levels=...)``, which a published
table can be checked against directly.

For every stratum: n, the estimate with its interval (Wilson by default,
Brown, Cai & DasGupta 2001; the FDA's 2007 guidance uses score intervals),
a flag when n is below the pre-specified minimum, a p-value and the p-value
adjusted for multiplicity over the strata that were tested. Across strata: a
test of heterogeneity with I², and the largest gap between two strata with a
Newcombe hybrid-score interval for the difference. A pre-specified level with
no cases is reported with n = 0 and NaN estimate; it is never dropped.

References
----------
.. [1] Brown LD, Cai TT, DasGupta A. Interval estimation for a binomial
   proportion. Stat Sci 2001;16(2):101-133. doi:10.1214/ss/1009213286
.. [2] Cochran WG. The combination of estimates from different experiments.
   Biometrics 1954;10(1):101-129. doi:10.2307/3001666
.. [3] Higgins JPT, Thompson SG. Quantifying heterogeneity in a
   meta-analysis. Stat Med 2002;21(11):1539-1558. doi:10.1002/sim.1186
.. [4] Holm S. A simple sequentially rejective multiple test procedure.
   Scand J Stat 1979;6(2):65-70.
.. [5] Benjamini Y, Hochberg Y. Controlling the false discovery rate: a
   practical and powerful approach to multiple testing. J R Stat Soc B
   1995;57(1):289-300. doi:10.1111/j.2517-6161.1995.tb02031.x
.. [6] Newcombe RG. Interval estimation for the difference between
   independent proportions: comparison of eleven methods. Stat Med
   1998;17(8):873-890.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from validation.stats._validate import (
    check_binary_labels,
    check_choice,
    check_confidence_level,
    check_count_not_above,
    check_counts,
    check_probability,
)
from validation.stats.differences import ProportionDifference, diff_ci_independent
from validation.stats.proportions import PROPORTION_METHODS, proportion_ci

__all__ = [
    "StratumResult",
    "HeterogeneityTest",
    "LargestGap",
    "SubgroupAnalysis",
    "subgroup_analysis",
    "subgroup_analysis_counts",
    "heterogeneity_test",
    "adjust_pvalues",
]

PAdjustMethod = Literal["holm", "bh", "bonferroni"]
HeterogeneityMethod = Literal["chi-square", "cochran-q"]
MISSING_LEVEL = "(missing)"


# --------------------------------------------------------------------------- multiplicity
def adjust_pvalues(p: Any, *, method: PAdjustMethod = "holm") -> np.ndarray:
    """Adjust p-values for multiple comparisons.

    Parameters
    ----------
    p : array_like of float, 1-D
        Unadjusted p-values in [0, 1]; NaN is refused (test only what has a
        p-value, and report the rest separately).
    method : {'holm', 'bh', 'bonferroni'}
        ``'holm'`` (default): Holm's step-down procedure [4]_, controls the
        family-wise error rate under any dependence and is uniformly more
        powerful than Bonferroni, hence the default for pre-specified subgroup
        claims. ``'bh'``: Benjamini-Hochberg step-up [5]_, controls the false
        discovery rate (exploratory analyses). ``'bonferroni'``: ``min(1, m p)``.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the input order; equal to statsmodels
        ``multipletests(p, method='holm' | 'fdr_bh' | 'bonferroni')[1]``.

    Raises
    ------
    ValueError
        NaN or values outside [0, 1], or a bad ``method``.

    References
    ----------
    .. [4] Holm S. Scand J Stat 1979;6(2):65-70.
    .. [5] Benjamini Y, Hochberg Y. J R Stat Soc B 1995;57(1):289-300.
       doi:10.1111/j.2517-6161.1995.tb02031.x

    Examples
    --------
    >>> adjust_pvalues([0.01, 0.04, 0.03], method="holm").tolist()
    [0.03, 0.06, 0.06]
    >>> adjust_pvalues([0.01, 0.04, 0.03], method="bh").tolist()
    [0.03, 0.04, 0.04]
    """
    check_choice(method, "method", ("holm", "bh", "bonferroni"))
    if isinstance(p, (str, bytes)) or p is None:
        raise TypeError(f"'p' must be a 1-D array of p-values; got {p!r}")
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"'p' must be 1-D; got an array of shape {arr.shape}")
    if np.isnan(arr).any():
        raise ValueError(f"'p' contains {int(np.isnan(arr).sum())} NaN value(s) (first at index "
                         f"{int(np.flatnonzero(np.isnan(arr))[0])}); adjust only the tests that were made")
    if ((arr < 0) | (arr > 1)).any():
        bad = int(np.flatnonzero((arr < 0) | (arr > 1))[0])
        raise ValueError(f"'p' must lie in [0, 1]; got {arr[bad]} at index {bad}")
    m = arr.size
    if m == 0:
        return arr.copy()
    if method == "bonferroni":
        return np.minimum(1.0, arr * m)
    order = np.argsort(arr, kind="stable")
    ps = arr[order]
    if method == "holm":
        adj = np.maximum.accumulate(ps * (m - np.arange(m)))
    else:
        adj = np.minimum.accumulate((ps * m / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(1.0, adj)
    return out


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class StratumResult:
    """One subgroup level.

    Attributes
    ----------
    level : str
    n, successes : int
    estimate, lower, upper : float
        NaN when ``n == 0``.
    small : bool
        ``n < min_n`` (including empty strata).
    p_value, p_adjusted : float
        NaN when the stratum was not tested (empty, or no other stratum to compare).
    """

    level: str
    n: int
    successes: int
    estimate: float
    lower: float
    upper: float
    small: bool
    p_value: float
    p_adjusted: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class HeterogeneityTest:
    """A test that the proportion is the same in every (non-empty) stratum.

    Attributes
    ----------
    method : str
    statistic : float
        Pearson X² or Cochran's Q.
    df : int
        Non-empty strata minus one.
    p_value : float
    i_squared : float
        ``max(0, (statistic - df) / statistic)`` (Higgins & Thompson 2002); 0 when statistic is 0.
    k : int
        Strata that entered the test.
    """

    method: str
    statistic: float
    df: int
    p_value: float
    i_squared: float
    k: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LargestGap:
    """The highest minus the lowest stratum estimate, with a Newcombe interval.

    Attributes
    ----------
    high_level, low_level : str
    difference : ProportionDifference
        ``p_high - p_low`` (hybrid score interval, Newcombe's method 10).
    basis : str
        Which strata were compared: ``'n >= min_n'`` or, when fewer than two
        strata reach ``min_n``, ``'all non-empty'``.
    """

    high_level: str
    low_level: str
    difference: ProportionDifference
    basis: str

    def to_dict(self) -> dict:
        return {"high_level": self.high_level, "low_level": self.low_level,
                "difference": self.difference.to_dict(), "basis": self.basis}


@dataclass(frozen=True, slots=True)
class SubgroupAnalysis:
    """Per-stratum estimates, heterogeneity, the largest gap, and multiplicity.

    Attributes
    ----------
    strata : tuple of StratumResult
        In ``levels`` order (sorted by name when levels were not given).
    heterogeneity : HeterogeneityTest or None
        None when fewer than two strata are non-empty.
    largest_gap : LargestGap or None
    method : str
        Interval method per stratum.
    confidence_level : float
    min_n : int
    multiplicity : str
        p-value adjustment applied across the tested strata.
    p_value_test : str
        ``'vs-rest chi-square'`` (stratum vs all other cases, Pearson 2x2,
        two-sided) or ``'exact binomial vs goal'`` (one-sided, H0: p <= goal).
    performance_goal : float or None
    n_total, n_empty_strata : int
    """

    strata: tuple
    heterogeneity: HeterogeneityTest | None
    largest_gap: LargestGap | None
    method: str
    confidence_level: float
    min_n: int
    multiplicity: str
    p_value_test: str
    performance_goal: float | None
    n_total: int
    n_empty_strata: int

    def to_dict(self) -> dict:
        return {
            "strata": [s.to_dict() for s in self.strata],
            "heterogeneity": None if self.heterogeneity is None else self.heterogeneity.to_dict(),
            "largest_gap": None if self.largest_gap is None else self.largest_gap.to_dict(),
            "method": self.method,
            "confidence_level": self.confidence_level,
            "min_n": self.min_n,
            "multiplicity": self.multiplicity,
            "p_value_test": self.p_value_test,
            "performance_goal": self.performance_goal,
            "n_total": self.n_total,
            "n_empty_strata": self.n_empty_strata,
        }


# --------------------------------------------------------------------------- heterogeneity
def heterogeneity_test(successes: Any, totals: Any, *, method: HeterogeneityMethod = "chi-square") -> HeterogeneityTest:
    """Test that k binomial proportions are equal; strata with n = 0 are left out (and counted in ``k``'s absence).

    Parameters
    ----------
    successes, totals : array_like of int
    method : {'chi-square', 'cochran-q'}
        ``'chi-square'`` (default): Pearson's X² test of homogeneity of the
        k x 2 table, ``X² = sum n_i (p_i - p)² / (p (1 - p))`` with the pooled
        p, df = k - 1 (scipy ``chi2_contingency(table, correction=False)``;
        R ``prop.test(x, n, correct = FALSE)``). X² = 0 when p is 0 or 1.
        ``'cochran-q'``: Cochran's Q [2]_ on the logit scale with the
        Haldane-Anscombe correction (0.5 added to every cell, so that strata
        at 0 % or 100 % have a finite variance): ``y_i = log((x_i+.5)/(n_i-x_i+.5))``,
        ``v_i = 1/(x_i+.5) + 1/(n_i-x_i+.5)``, ``Q = sum (y_i - y_w)² / v_i``.
        Either way I² = max(0, (stat - df)/stat) [3]_.

    Returns
    -------
    HeterogeneityTest
        NaN statistic and p-value when fewer than two strata are non-empty.

    References
    ----------
    .. [2] Cochran WG. Biometrics 1954;10(1):101-129. doi:10.2307/3001666
    .. [3] Higgins JPT, Thompson SG. Stat Med 2002;21(11):1539-1558. doi:10.1002/sim.1186

    Examples
    --------
    >>> h = heterogeneity_test([45, 40, 20], [50, 50, 30])
    >>> round(h.statistic, 4), h.df
    (6.6032, 2)
    """
    check_choice(method, "method", ("chi-square", "cochran-q"))
    x = check_counts(successes, "successes").reshape(-1)
    n = check_counts(totals, "totals").reshape(-1)
    if x.shape != n.shape:
        raise ValueError(f"'successes' and 'totals' must have the same length; got {x.size} and {n.size}")
    check_count_not_above(x, "successes", n, "totals")
    keep = n > 0
    x, n = x[keep].astype(float), n[keep].astype(float)
    k = int(x.size)
    if k < 2:
        return HeterogeneityTest(method, math.nan, max(k - 1, 0), math.nan, math.nan, k)
    df = k - 1
    if method == "chi-square":
        pbar = x.sum() / n.sum()
        if pbar in (0.0, 1.0):
            stat = 0.0
        else:
            stat = float(np.sum(n * (x / n - pbar) ** 2) / (pbar * (1 - pbar)))
    else:
        y = np.log((x + 0.5) / (n - x + 0.5))
        v = 1 / (x + 0.5) + 1 / (n - x + 0.5)
        w = 1 / v
        yw = np.sum(w * y) / np.sum(w)
        stat = float(np.sum(w * (y - yw) ** 2))
    p = float(stats.chi2.sf(stat, df))
    i2 = max(0.0, (stat - df) / stat) if stat > 0 else 0.0
    return HeterogeneityTest(method, stat, df, p, i2, k)


# --------------------------------------------------------------------------- analysis
def _vs_rest_p(x: int, n: int, X: int, N: int) -> float:
    """Two-sided Pearson chi-square (no continuity correction) of a stratum vs the other cases."""
    x2, n2 = X - x, N - n
    if n == 0 or n2 == 0:
        return math.nan
    pbar = X / N
    if pbar in (0.0, 1.0):
        return 1.0
    stat = (x / n - x2 / n2) ** 2 / (pbar * (1 - pbar) * (1 / n + 1 / n2))
    return float(stats.chi2.sf(stat, 1))


def subgroup_analysis_counts(
    successes: Any,
    totals: Any,
    *,
    levels: Sequence[Any],
    method: str = "wilson",
    confidence_level: float = 0.95,
    min_n: int = 30,
    heterogeneity: HeterogeneityMethod = "chi-square",
    multiplicity: PAdjustMethod = "holm",
    performance_goal: float | None = None,
) -> SubgroupAnalysis:
    """Subgroup analysis from per-stratum counts.

    Parameters
    ----------
    successes, totals : array_like of int
        Per stratum, in the order of ``levels``; a total of 0 is an empty stratum.
    levels : sequence
        Stratum names (converted to str), unique.
    method : str
        Interval method of :func:`validation.stats.proportion_ci` (default
        ``'wilson'`` [1]_).
    confidence_level : float
    min_n : int
        Strata with fewer cases are flagged ``small`` (still reported).
    heterogeneity : {'chi-square', 'cochran-q'}
        See :func:`heterogeneity_test`.
    multiplicity : {'holm', 'bh', 'bonferroni', 'none'}
        See :func:`adjust_pvalues`; applied over the strata that have a p-value.
        ``'none'`` (exploratory, descriptive analyses) reports the raw p-values
        as ``p_adjusted``, so the table always says what was done.
    performance_goal : float, optional
        If given, each stratum's p-value is the one-sided exact binomial test
        of H0: p <= goal (scipy ``binomtest(x, n, goal, alternative='greater')``),
        the test behind "the lower bound clears the goal in every subgroup".
        Otherwise each stratum is compared with all other cases (two-sided
        Pearson chi-square, 2 x 2, no continuity correction).

    Returns
    -------
    SubgroupAnalysis

    Examples
    --------
    >>> r = subgroup_analysis_counts([45, 40, 0], [50, 50, 0], levels=["A", "B", "C"], min_n=20)
    >>> [(s.level, s.n, round(s.estimate, 2), s.small) for s in r.strata]
    [('A', 50, 0.9, False), ('B', 50, 0.8, False), ('C', 0, nan, True)]
    >>> round(r.largest_gap.difference.estimate, 2), r.n_empty_strata
    (0.1, 1)
    """
    if method not in PROPORTION_METHODS:
        check_choice(method, "method", PROPORTION_METHODS)
    cl = check_confidence_level(confidence_level)
    check_choice(heterogeneity, "heterogeneity", ("chi-square", "cochran-q"))
    check_choice(multiplicity, "multiplicity", ("holm", "bh", "bonferroni", "none"))
    if isinstance(min_n, bool) or not isinstance(min_n, numbers.Integral) or min_n < 0:
        raise ValueError(f"'min_n' must be an integer >= 0; got {min_n!r}")
    goal = None if performance_goal is None else check_probability(performance_goal, "performance_goal")
    x = check_counts(successes, "successes").reshape(-1)
    n = check_counts(totals, "totals").reshape(-1)
    if isinstance(levels, (str, bytes)):
        raise TypeError(f"'levels' must be a sequence of level names; got {levels!r}")
    names = [str(v) for v in levels]
    if not (len(names) == x.size == n.size):
        raise ValueError(f"'successes', 'totals' and 'levels' must have the same length; "
                         f"got {x.size}, {n.size} and {len(names)}")
    if len(set(names)) != len(names):
        dup = next(v for v in names if names.count(v) > 1)
        raise ValueError(f"'levels' must be unique; got {dup!r} more than once")
    check_count_not_above(x, "successes", n, "totals")
    X, N = int(x.sum()), int(n.sum())

    if goal is None:
        pvals = np.array([_vs_rest_p(int(a), int(b), X, N) for a, b in zip(x, n)])
        p_test = "vs-rest chi-square"
    else:
        pvals = np.array([float(stats.binom.sf(a - 1, b, goal)) if b > 0 else math.nan for a, b in zip(x, n)])
        p_test = "exact binomial vs goal"
    tested = ~np.isnan(pvals)
    padj = np.full(pvals.shape, math.nan)
    if tested.any():
        padj[tested] = pvals[tested] if multiplicity == "none" else adjust_pvalues(pvals[tested], method=multiplicity)

    strata = []
    for i, name in enumerate(names):
        iv = proportion_ci(int(x[i]), int(n[i]), method=method, confidence_level=cl)
        strata.append(StratumResult(name, int(n[i]), int(x[i]), float(iv.estimate), float(iv.lower),
                                    float(iv.upper), bool(n[i] < min_n), float(pvals[i]), float(padj[i])))

    big = [i for i in range(len(names)) if n[i] >= max(min_n, 1)]
    nonempty = [i for i in range(len(names)) if n[i] > 0]
    gap = None
    if len(big) >= 2 or len(nonempty) >= 2:
        basis = "n >= min_n" if len(big) >= 2 else "all non-empty"
        pool = big if len(big) >= 2 else nonempty
        est = [x[i] / n[i] for i in pool]
        hi, lo = pool[int(np.argmax(est))], pool[int(np.argmin(est))]
        if hi == lo:  # all equal: compare the first two
            hi, lo = pool[0], pool[1]
        d = diff_ci_independent(int(x[hi]), int(n[hi]), int(x[lo]), int(n[lo]), method="newcombe",
                                confidence_level=cl)
        gap = LargestGap(names[hi], names[lo], d, basis)
    het = heterogeneity_test(x, n, method=heterogeneity) if len(nonempty) >= 2 else None
    return SubgroupAnalysis(
        strata=tuple(strata), heterogeneity=het, largest_gap=gap, method=method, confidence_level=cl,
        min_n=int(min_n), multiplicity=multiplicity, p_value_test=p_test, performance_goal=goal,
        n_total=N, n_empty_strata=int((n == 0).sum()),
    )


def subgroup_analysis(
    outcomes: Any,
    groups: Any,
    *,
    levels: Sequence[Any] | None = None,
    method: str = "wilson",
    confidence_level: float = 0.95,
    min_n: int = 30,
    heterogeneity: HeterogeneityMethod = "chi-square",
    multiplicity: PAdjustMethod = "holm",
    performance_goal: float | None = None,
) -> SubgroupAnalysis:
    """Subgroup analysis of a proportion from case-level outcomes.

    Parameters
    ----------
    outcomes : array_like of {0, 1}
        One per case (e.g. 1 = detected, for sensitivity among positives).
    groups : array_like
        The case's level of the subgroup variable (str/int). Missing values
        (None, NaN) form their own level ``'(missing)'``: reported, never dropped.
    levels : sequence, optional
        The pre-specified levels, in report order. Levels without cases are
        reported with n = 0; a case whose level is not listed is an error.
        Default: the observed levels sorted by name.
    method, confidence_level, min_n, heterogeneity, multiplicity, performance_goal
        See :func:`subgroup_analysis_counts`.

    Returns
    -------
    SubgroupAnalysis
        Invariant to the order of the cases.

    Raises
    ------
    ValueError
        Outcomes not 0/1, lengths differ, or a case in an unlisted level.

    Examples
    --------
    >>> r = subgroup_analysis([1, 1, 0, 1, 0, 0], ["F", "F", "F", "M", "M", "M"], levels=["F", "M", "X"], min_n=2)
    >>> [(s.level, s.n, s.successes) for s in r.strata]
    [('F', 3, 2), ('M', 3, 1), ('X', 0, 0)]
    """
    y = check_binary_labels(outcomes, "outcomes", require_both=False)
    if isinstance(groups, (str, bytes)) or groups is None:
        raise TypeError(f"'groups' must be a 1-D array of subgroup levels; got {groups!r}")
    g_raw = np.asarray(groups, dtype=object).reshape(-1) if np.ndim(groups) else None
    if g_raw is None or np.ndim(groups) != 1:
        raise ValueError(f"'groups' must be 1-D; got shape {np.shape(groups)}")
    if g_raw.size != y.size:
        raise ValueError(f"'outcomes' and 'groups' must have the same length; got {y.size} and {g_raw.size}")

    def name(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return MISSING_LEVEL
        return str(v)

    g = np.array([name(v) for v in g_raw], dtype=object)
    observed = sorted(set(g.tolist()))
    if levels is None:
        lv = observed
    else:
        if isinstance(levels, (str, bytes)):
            raise TypeError(f"'levels' must be a sequence of level names; got {levels!r}")
        lv = [str(v) for v in levels]
        extra = [v for v in observed if v not in lv]
        if extra:
            raise ValueError(f"'groups' contains level {extra[0]!r}, which is not in 'levels' {lv!r}")
    x = [int(y[g == v].sum()) for v in lv]
    n = [int((g == v).sum()) for v in lv]
    return subgroup_analysis_counts(
        x, n, levels=lv, method=method, confidence_level=confidence_level, min_n=min_n,
        heterogeneity=heterogeneity, multiplicity=multiplicity, performance_goal=performance_goal,
    )

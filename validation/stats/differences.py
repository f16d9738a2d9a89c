"""Differences between two binomial proportions, independent and paired, and McNemar's test.

The typical uses in medval: the sensitivity of a new model version minus the
locked one on the same cases (paired), or sensitivity at site A minus site B
(independent). Counts are named, never an ambiguous matrix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy import optimize, special, stats

from validation.stats._validate import (
    check_choice,
    check_confidence_level,
    check_count,
    check_count_not_above,
)
from validation.stats.proportions import _bounds

__all__ = [
    "ProportionDifference",
    "McNemarResult",
    "diff_ci_independent",
    "diff_ci_paired",
    "mcnemar",
]

IndependentMethod = Literal["newcombe", "newcombe-cc", "wald"]
PairedMethod = Literal["newcombe", "tango", "wald"]


@dataclass(frozen=True, slots=True)
class ProportionDifference:
    """A difference of two proportions ``p1 - p2`` with its confidence interval.

    Attributes
    ----------
    estimate, lower, upper : float
        ``p1 - p2`` and its bounds (within [-1, 1]).
    confidence_level : float
    method : str
    p1, p2 : float
        The two proportions.
    n1, n2 : int
        Denominators (for paired data both are the number of pairs).
    paired : bool
    """

    estimate: float
    lower: float
    upper: float
    confidence_level: float
    method: str
    p1: float
    p2: float
    n1: int
    n2: int
    paired: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _z(cl: float) -> float:
    return float(special.ndtri(0.5 + cl / 2.0))


def diff_ci_independent(
    x1,
    n1,
    x2,
    n2,
    *,
    method: IndependentMethod = "newcombe",
    confidence_level: float = 0.95,
) -> ProportionDifference:
    """Confidence interval for ``x1/n1 - x2/n2`` from two independent samples.

    Parameters
    ----------
    x1, n1 : int
        Successes and trials in sample 1.
    x2, n2 : int
        Successes and trials in sample 2.
    method : {'newcombe', 'newcombe-cc', 'wald'}
        - ``'newcombe'`` : hybrid score interval, Newcombe's method 10 [1]_
          (default; recommended by Fagerland, Lydersen & Laake [2]_): with
          Wilson limits ``(l_i, u_i)`` for each proportion,
          ``L = D - sqrt((p1 - l1)^2 + (u2 - p2)^2)``,
          ``U = D + sqrt((u1 - p1)^2 + (p2 - l2)^2)``.
        - ``'newcombe-cc'`` : the same from continuity-corrected Wilson limits
          (Newcombe's method 11).
        - ``'wald'`` : ``D +/- z sqrt(p1 q1/n1 + p2 q2/n2)`` truncated to
          [-1, 1] (R ``prop.test(..., correct = FALSE)``); for comparison only.
    confidence_level : float

    Returns
    -------
    ProportionDifference

    Raises
    ------
    ValueError
        If ``n1`` or ``n2`` is 0, a count is negative, or ``x > n``.

    References
    ----------
    .. [1] Newcombe RG. Interval estimation for the difference between
       independent proportions: comparison of eleven methods. Stat Med
       1998;17:873-890. doi:10.1002/(SICI)1097-0258(19980430)17:8<873::AID-SIM779>3.0.CO;2-I
    .. [2] Fagerland MW, Lydersen S, Laake P. Recommended confidence intervals
       for two independent binomial proportions. Stat Methods Med Res
       2015;24:224-254. doi:10.1177/0962280211415469

    Examples
    --------
    Newcombe (1998) Table II, example (a):

    >>> d = diff_ci_independent(56, 70, 48, 80)
    >>> round(d.lower, 4), round(d.upper, 4)
    (0.0524, 0.3339)
    """
    method = check_choice(method, "method", ("newcombe", "newcombe-cc", "wald"))
    cl = check_confidence_level(confidence_level)
    a = check_count(x1, "x1")
    m = check_count(n1, "n1")
    b = check_count(x2, "x2")
    k = check_count(n2, "n2")
    check_count_not_above(a, "x1", m, "n1")
    check_count_not_above(b, "x2", k, "n2")
    if m == 0:
        raise ValueError("'n1' must be positive; got 0")
    if k == 0:
        raise ValueError("'n2' must be positive; got 0")
    p1, p2 = a / m, b / k
    d = p1 - p2
    if method == "wald":
        half = _z(cl) * np.sqrt(p1 * (1 - p1) / m + p2 * (1 - p2) / k)
        lo, hi = d - half, d + half
    else:
        single = "wilson" if method == "newcombe" else "wilson-cc"
        _, l1, u1 = _bounds(np.asarray(a), np.asarray(m), single, cl)
        _, l2, u2 = _bounds(np.asarray(b), np.asarray(k), single, cl)
        lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
        hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return ProportionDifference(
        float(d), float(max(-1.0, lo)), float(min(1.0, hi)), cl, method, float(p1), float(p2), m, k, False
    )


def _tango_limits(n12: int, n21: int, n: int, z: float) -> tuple[float, float]:
    """Tango's (1998) score interval for the paired difference (n12 - n21)/n."""

    def score(delta: float) -> float:
        # Restricted MLE of the (A-, B+) cell probability under Delta = delta (Tango 1998, eq. 4).
        A = 2.0 * n
        B = -n12 - n21 + (2.0 * n - n12 + n21) * delta
        C = -n21 * delta * (1.0 - delta)
        q21 = (np.sqrt(max(B * B - 4.0 * A * C, 0.0)) - B) / (2.0 * A)
        var = n * (2.0 * q21 + delta * (1.0 - delta))
        if var <= 0:
            return np.sign(n12 - n21 - n * delta) * np.inf if (n12 - n21 - n * delta) != 0 else 0.0
        return (n12 - n21 - n * delta) / np.sqrt(var)

    est = (n12 - n21) / n
    eps = 1e-12
    if est <= -1.0 + eps:
        lower = -1.0
    else:
        lower = optimize.brentq(lambda d: score(d) - z, -1.0 + eps, est, xtol=1e-12)
    if est >= 1.0 - eps:
        upper = 1.0
    else:
        upper = optimize.brentq(lambda d: score(d) + z, est, 1.0 - eps, xtol=1e-12)
    return float(lower), float(upper)


def diff_ci_paired(
    a_only,
    b_only,
    both,
    neither,
    *,
    method: PairedMethod = "newcombe",
    confidence_level: float = 0.95,
) -> ProportionDifference:
    """Confidence interval for ``p_A - p_B`` from paired binary outcomes.

    Each of ``n = a_only + b_only + both + neither`` subjects has two binary
    outcomes (e.g. lesion detected by model A, by model B). ``p_A = (both +
    a_only)/n``, ``p_B = (both + b_only)/n``, difference ``(a_only - b_only)/n``.

    Parameters
    ----------
    a_only : int
        Pairs positive on A only (discordant).
    b_only : int
        Pairs positive on B only (discordant).
    both, neither : int
        Concordant pairs.
    method : {'newcombe', 'tango', 'wald'}
        - ``'newcombe'`` : Newcombe's method 10 [1]_ (default), square-and-add
          of the two Wilson intervals with the correlation estimate
          ``phi`` of the 2x2 table; as in Newcombe's paper ``phi``'s numerator
          ``both*neither - a_only*b_only`` is reduced by ``n/2`` when positive
          (and set to 0 if that makes it negative), and ``phi = 0`` when any
          margin is 0.
        - ``'tango'`` : Tango's asymptotic score interval [2]_, inverting the
          score test with the restricted MLE of the discordant cell
          probabilities; recommended by Fagerland, Lydersen & Laake [3]_.
        - ``'wald'`` : ``D +/- z sqrt(a_only + b_only - (a_only - b_only)^2/n)/n``.
    confidence_level : float

    Returns
    -------
    ProportionDifference
        ``paired=True``; ``n1 = n2 = n``.

    Raises
    ------
    ValueError
        If there are no pairs, or a count is negative / not an integer.

    References
    ----------
    .. [1] Newcombe RG. Improved confidence intervals for the difference
       between binomial proportions based on paired data. Stat Med
       1998;17:2635-2650. doi:10.1002/(SICI)1097-0258(19981130)17:22<2635::AID-SIM954>3.0.CO;2-C
    .. [2] Tango T. Equivalence test and confidence interval for the difference
       in proportions for the paired-sample design. Stat Med 1998;17:891-908.
       doi:10.1002/(SICI)1097-0258(19980430)17:8<891::AID-SIM780>3.0.CO;2-B
    .. [3] Fagerland MW, Lydersen S, Laake P. Recommended tests and confidence
       intervals for paired binomial proportions. Stat Med 2014;33:2850-2875.
       doi:10.1002/sim.6148

    Examples
    --------
    Complete response before/after consolidation therapy (Cavo et al. 2012, as
    analysed by Fagerland et al.): both 59, before only 6, after only 16,
    neither 80.

    >>> d = diff_ci_paired(6, 16, 59, 80)
    >>> round(d.estimate, 4), round(d.lower, 4), round(d.upper, 4)
    (-0.0621, -0.1186, -0.0046)
    """
    method = check_choice(method, "method", ("newcombe", "tango", "wald"))
    cl = check_confidence_level(confidence_level)
    b = check_count(a_only, "a_only")
    c = check_count(b_only, "b_only")
    a = check_count(both, "both")
    d = check_count(neither, "neither")
    n = a + b + c + d
    if n == 0:
        raise ValueError("paired table must contain at least one pair; got a_only=b_only=both=neither=0")
    z = _z(cl)
    p1, p2 = (a + b) / n, (a + c) / n
    est = (b - c) / n
    if method == "wald":
        half = z * np.sqrt(max(b + c - (b - c) ** 2 / n, 0.0)) / n
        lo, hi = max(-1.0, est - half), min(1.0, est + half)
    elif method == "tango":
        lo, hi = _tango_limits(b, c, n, z)
    else:
        _, l1, u1 = _bounds(np.asarray(a + b), np.asarray(n), "wilson", cl)
        _, l2, u2 = _bounds(np.asarray(a + c), np.asarray(n), "wilson", cl)
        margins = ((a + b), (c + d), (a + c), (b + d))
        if min(margins) == 0:
            phi = 0.0
        else:
            num = a * d - b * c
            if num > n / 2:
                num = num - n / 2
            elif num >= 0:
                num = 0.0
            phi = num / np.sqrt(float(np.prod([float(x) for x in margins])))
        dl1, du2 = p1 - float(l1), float(u2) - p2
        du1, dl2 = float(u1) - p1, p2 - float(l2)
        lo = est - np.sqrt(max(dl1**2 - 2 * phi * dl1 * du2 + du2**2, 0.0))
        hi = est + np.sqrt(max(dl2**2 - 2 * phi * dl2 * du1 + du1**2, 0.0))
        lo, hi = max(-1.0, lo), min(1.0, hi)
    return ProportionDifference(float(est), float(lo), float(hi), cl, method, float(p1), float(p2), n, n, True)


@dataclass(frozen=True, slots=True)
class McNemarResult:
    """McNemar's test of marginal homogeneity for a paired 2x2 table.

    Attributes
    ----------
    statistic : float
        Chi-square statistic (asymptotic) or ``min(b, c)`` (exact).
    p_value : float
        Two-sided p-value; 1.0 when there are no discordant pairs.
    method : str
        ``'exact'`` or ``'asymptotic'``.
    correction : bool
        Whether Edwards' continuity correction was applied (asymptotic only).
    b, c : int
        The discordant counts.
    """

    statistic: float
    p_value: float
    method: str
    correction: bool
    b: int
    c: int

    def to_dict(self) -> dict:
        return asdict(self)


def mcnemar(b, c, *, method: Literal["exact", "asymptotic"] = "exact", correction: bool = True) -> McNemarResult:
    """McNemar's test from the two discordant counts.

    Parameters
    ----------
    b, c : int
        Discordant pairs (A positive / B negative, and the reverse).
    method : {'exact', 'asymptotic'}
        - ``'exact'`` : conditional binomial test of ``b ~ Bin(b + c, 1/2)``,
          ``p = min(1, 2 P(X <= min(b, c)))`` (default; Fagerland et al. 2013
          recommend the mid-p or asymptotic test for larger samples, and the
          exact test is the conservative choice for a regulatory analysis).
        - ``'asymptotic'`` : ``chi2 = (|b - c| - k)^2 / (b + c)`` on 1 df [1]_,
          with ``k = 1`` if ``correction`` else 0.
    correction : bool
        Edwards' continuity correction for the asymptotic test; ignored (and
        recorded as False) for the exact test.

    Returns
    -------
    McNemarResult
        With no discordant pairs (``b = c = 0``) there is no evidence of a
        difference: ``statistic = 0`` and ``p_value = 1``.

    References
    ----------
    .. [1] McNemar Q. Note on the sampling error of the difference between
       correlated proportions or percentages. Psychometrika 1947;12:153-157.
       doi:10.1007/BF02295996
    .. [2] Fagerland MW, Lydersen S, Laake P. The McNemar test for binary
       matched-pairs data: mid-p and asymptotic are better than exact
       conditional. BMC Med Res Methodol 2013;13:91. doi:10.1186/1471-2288-13-91

    Examples
    --------
    >>> round(mcnemar(10, 5).p_value, 4)
    0.3018
    >>> mcnemar(0, 0).p_value
    1.0
    """
    method = check_choice(method, "method", ("exact", "asymptotic"))
    if not isinstance(correction, (bool, np.bool_)):
        raise TypeError(f"'correction' must be a bool; got {correction!r}")
    b = check_count(b, "b")
    c = check_count(c, "c")
    m = b + c
    if method == "exact":
        if m == 0:
            return McNemarResult(0.0, 1.0, method, False, b, c)
        k = min(b, c)
        p = min(1.0, 2.0 * float(stats.binom.cdf(k, m, 0.5)))
        return McNemarResult(float(k), p, method, False, b, c)
    if m == 0:
        return McNemarResult(0.0, 1.0, method, bool(correction), b, c)
    k = 1.0 if correction else 0.0
    stat = max(abs(b - c) - k, 0.0) ** 2 / m
    p = float(stats.chi2.sf(stat, 1))
    return McNemarResult(float(stat), p, method, bool(correction), b, c)


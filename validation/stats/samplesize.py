"""Sample size for diagnostic accuracy: Buderer's precision formula and an exact-binomial power search.

References
----------
.. [1] Buderer NMF. Statistical methodology: I. Incorporating the prevalence
   of disease into the sample size calculation for sensitivity and
   specificity. Acad Emerg Med 1996;3(9):895-900.
   doi:10.1111/j.1553-2712.1996.tb03538.x
.. [2] Flahault A, Cadilhac M, Thomas G. Sample size calculation should be
   performed for design accuracy in diagnostic test studies. J Clin Epidemiol
   2005;58(8):859-862. doi:10.1016/j.jclinepi.2004.12.009
.. [3] Clopper CJ, Pearson ES. The use of confidence or fiducial limits
   illustrated in the case of the binomial. Biometrika 1934;26(4):404-413.
   doi:10.1093/biomet/26.4.404
.. [4] Chu H, Cole SR. Sample size calculation using exact methods in
   diagnostic test studies. J Clin Epidemiol 2007;60(11):1201-1202.
   doi:10.1016/j.jclinepi.2006.09.015
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy import special, stats

from validation.stats._validate import check_choice, check_confidence_level, check_positive_int, check_probability

__all__ = ["BudererSampleSize", "ExactSampleSize", "buderer_sample_size", "exact_sample_size", "exact_power"]


@dataclass(frozen=True, slots=True)
class BudererSampleSize:
    """Cases needed to estimate sensitivity or specificity to a given precision.

    Attributes
    ----------
    n_total : int
        Subjects to enrol, ``ceil(n_exact / prevalence)`` (sensitivity) or
        ``ceil(n_exact / (1 - prevalence))`` (specificity).
    n_condition : int
        Diseased (sensitivity) or non-diseased (specificity) subjects needed, ``ceil(n_exact)``.
    n_exact : float
        ``z^2 p (1 - p) / d^2`` before rounding.
    target, expected, half_width, prevalence, confidence_level, method
    """

    n_total: int
    n_condition: int
    n_exact: float
    target: str
    expected: float
    half_width: float
    prevalence: float
    confidence_level: float
    method: str

    def to_dict(self) -> dict:
        return asdict(self)


def buderer_sample_size(
    expected: float,
    *,
    half_width: float,
    prevalence: float,
    target: Literal["sensitivity", "specificity"] = "sensitivity",
    confidence_level: float = 0.95,
) -> BudererSampleSize:
    """Buderer (1996) sample size for a sensitivity or specificity of given precision [1]_.

    Parameters
    ----------
    expected : float in (0, 1)
        Anticipated sensitivity (or specificity).
    half_width : float in (0, 1)
        Desired half-width d of the two-sided Wald interval.
    prevalence : float in (0, 1)
        Prevalence of the condition in the population enrolled.
    target : {'sensitivity', 'specificity'}
    confidence_level : float

    Returns
    -------
    BudererSampleSize

    Notes
    -----
    ``n_condition = z^2 p (1-p) / d^2`` with ``z = Phi^{-1}(1/2 + level/2)``;
    the total divides by the prevalence (sensitivity) or by 1 - prevalence
    (specificity). The formula rests on the Wald interval, which undercovers
    near 0 or 1; :func:`exact_sample_size` is the exact alternative.

    References
    ----------
    .. [1] Buderer NMF. Acad Emerg Med 1996;3(9):895-900. doi:10.1111/j.1553-2712.1996.tb03538.x

    Examples
    --------
    Sensitivity 0.90 to within +/- 0.05 at 95 % with prevalence 0.10:
    1.959964^2 x 0.9 x 0.1 / 0.05^2 = 138.29 diseased, / 0.10 -> 1383 subjects.

    >>> r = buderer_sample_size(0.90, half_width=0.05, prevalence=0.10)
    >>> r.n_condition, r.n_total
    (139, 1383)
    """
    check_choice(target, "target", ("sensitivity", "specificity"))
    p = check_probability(expected, "expected", open_interval=True)
    d = check_probability(half_width, "half_width", open_interval=True)
    prev = check_probability(prevalence, "prevalence", open_interval=True)
    cl = check_confidence_level(confidence_level)
    z = float(special.ndtri(0.5 + cl / 2))
    n_exact = z * z * p * (1 - p) / (d * d)
    share = prev if target == "sensitivity" else 1 - prev
    return BudererSampleSize(
        n_total=int(math.ceil(n_exact / share - 1e-9)),
        n_condition=int(math.ceil(n_exact - 1e-9)),
        n_exact=n_exact,
        target=target,
        expected=p,
        half_width=d,
        prevalence=prev,
        confidence_level=cl,
        method="buderer-1996",
    )


def _min_successes(n: np.ndarray, goal: float, alpha_half: float) -> np.ndarray:
    """Smallest x with lower two-sided Clopper-Pearson bound >= goal, for each n (n+1 if none).

    Duality of the Clopper-Pearson interval: L(x) >= goal  <=>  P(X >= x | n, goal) <= alpha/2.
    """
    x = stats.binom.isf(alpha_half, n, goal).astype(np.int64) + 1  # first candidate: sf(x-1) <= alpha/2
    # guard the discrete boundary in both directions
    for _ in range(3):
        too_low = stats.binom.sf(x - 1, n, goal) > alpha_half
        x = np.where(too_low, x + 1, x)
        lower_ok = (x > 0) & (stats.binom.sf(x - 2, n, goal) <= alpha_half)
        x = np.where(lower_ok, x - 1, x)
    return np.minimum(x, n + 1)


def exact_power(n: int, expected: float, goal: float, *, confidence_level: float = 0.95) -> float:
    """Probability that the lower Clopper-Pearson bound clears ``goal`` with n cases.

    ``P(X >= x_min(n))`` for ``X ~ Bin(n, expected)``, where ``x_min(n)`` is the
    smallest count whose two-sided ``confidence_level`` Clopper-Pearson lower
    bound [3]_ is >= ``goal``.

    Examples
    --------
    >>> round(exact_power(100, 0.95, 0.85), 4)
    0.872
    """
    n = check_positive_int(n, "n")
    p = check_probability(expected, "expected", open_interval=True)
    g = check_probability(goal, "goal", open_interval=True)
    cl = check_confidence_level(confidence_level)
    x = _min_successes(np.array([n]), g, (1 - cl) / 2)[0]
    return float(stats.binom.sf(x - 1, n, p)) if x <= n else 0.0


@dataclass(frozen=True, slots=True)
class ExactSampleSize:
    """Cases needed so that the lower exact bound clears a performance goal with the stated power.

    Attributes
    ----------
    n : int
        Smallest n whose power is >= the target (``rule='first'``), or the
        smallest n from which every larger n up to ``max_n`` keeps that power
        (``rule='stable'``; exact power saw-tooths in n).
    min_successes : int
        Successes needed at that n for the lower bound to clear the goal.
    power : float
        Achieved power at n.
    expected, goal, target_power, confidence_level : float
    rule, method : str
    """

    n: int
    min_successes: int
    power: float
    expected: float
    goal: float
    target_power: float
    confidence_level: float
    rule: str
    method: str

    def to_dict(self) -> dict:
        return asdict(self)


def exact_sample_size(
    expected: float,
    goal: float,
    *,
    power: float = 0.8,
    confidence_level: float = 0.95,
    rule: Literal["first", "stable"] = "first",
    max_n: int = 20000,
) -> ExactSampleSize:
    """Exact-binomial search for the cases needed to show performance above a goal [2]_ [4]_.

    Parameters
    ----------
    expected : float in (0, 1)
        Anticipated sensitivity (or specificity).
    goal : float in (0, 1)
        Performance goal the lower bound must reach (``goal < expected``).
    power : float in (0, 1)
        Required probability that the study succeeds if ``expected`` is true.
    confidence_level : float
        Level of the two-sided Clopper-Pearson interval whose lower bound is
        compared with the goal (0.95 -> a one-sided 0.975 bound).
    rule : {'first', 'stable'}
        ``'first'``: the smallest n with enough power (Flahault et al. 2005).
        ``'stable'``: the smallest n beyond which power never drops below the
        target again (up to ``max_n``), which protects against the saw-tooth
        of exact power when a few cases are lost (Chu & Cole 2007).
    max_n : int
        Search limit.

    Returns
    -------
    ExactSampleSize
        For the number of *diseased* cases (sensitivity) or non-diseased
        (specificity); divide by the prevalence for the total.

    Raises
    ------
    ValueError
        ``goal >= expected``, values out of range, or no n up to ``max_n``.

    Examples
    --------
    >>> r = exact_sample_size(0.90, 0.80, power=0.8)
    >>> r.n, r.min_successes, r.power >= 0.8
    (107, 94, True)
    """
    p = check_probability(expected, "expected", open_interval=True)
    g = check_probability(goal, "goal", open_interval=True)
    target = check_probability(power, "power", open_interval=True)
    cl = check_confidence_level(confidence_level)
    check_choice(rule, "rule", ("first", "stable"))
    max_n = check_positive_int(max_n, "max_n")
    if g >= p:
        raise ValueError(f"'goal' must be below 'expected'; got goal={g} >= expected={p}")
    ns = np.arange(1, max_n + 1)
    xs = _min_successes(ns, g, (1 - cl) / 2)
    pw = np.where(xs <= ns, stats.binom.sf(xs - 1, ns, p), 0.0)
    ok = pw >= target
    if not ok.any():
        raise ValueError(f"no n <= max_n={max_n} reaches power {target}; increase 'max_n'")
    if rule == "first":
        i = int(np.argmax(ok))
    else:
        bad = np.flatnonzero(~ok)
        i = int(bad[-1] + 1) if bad.size else 0
        if i >= ns.size:
            raise ValueError(f"power is not stable above {target} below max_n={max_n}; increase 'max_n'")
    return ExactSampleSize(int(ns[i]), int(xs[i]), float(pw[i]), p, g, target, cl, rule,
                           "exact-binomial clopper-pearson")

"""Single binomial proportions and the diagnostic-accuracy measures built on them.

Count-level functions (``proportion_ci``, ``sensitivity``, ``specificity``,
``ppv``, ``npv``, ``accuracy``, ``likelihood_ratios``) take counts so that a
published table can be checked against them directly; ``diagnostic_table``
turns label/decision arrays into those counts.

Design of the vectorised path
-----------------------------
``proportion_ci`` takes scalar counts and returns one :class:`Interval`.
``proportion_ci_array`` takes arrays of counts (any broadcastable shapes) and
returns one :class:`IntervalArray` whose ``estimate``/``lower``/``upper``/``n``
are numpy arrays. Both call the same vectorised kernel, so they agree to the
last bit; the return type never depends on the input type.

Convention for ``n = 0``: the proportion is undefined, so estimate, lower and
upper are all NaN (and ``n`` is recorded as 0). This is not an error because an
empty subgroup is a legitimate outcome that must be reported, not dropped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy import special

from validation.stats._validate import (
    check_binary_labels,
    check_choice,
    check_confidence_level,
    check_count,
    check_count_not_above,
    check_counts,
    check_probability,
    check_same_length,
)
from validation.stats.results import Interval

__all__ = [
    "ProportionMethod",
    "PROPORTION_METHODS",
    "IntervalArray",
    "DiagnosticTable",
    "LikelihoodRatios",
    "proportion_ci",
    "proportion_ci_array",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "accuracy",
    "predictive_values_at_prevalence",
    "PredictiveValues",
    "likelihood_ratios",
    "diagnostic_table",
]

ProportionMethod = Literal["wilson", "wilson-cc", "clopper-pearson", "agresti-coull", "jeffreys", "wald"]
PROPORTION_METHODS: tuple[str, ...] = (
    "wilson",
    "wilson-cc",
    "clopper-pearson",
    "agresti-coull",
    "jeffreys",
    "wald",
)


@dataclass(frozen=True, slots=True)
class IntervalArray:
    """Vectorised counterpart of :class:`Interval`: one interval per element.

    Attributes
    ----------
    estimate, lower, upper : numpy.ndarray
        Point estimates and bounds (NaN where ``n == 0``).
    confidence_level : float
    method : str
    n : numpy.ndarray
        Denominators (int64).
    """

    estimate: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    confidence_level: float
    method: str
    n: np.ndarray

    def to_dict(self) -> dict:
        return {
            "estimate": self.estimate.tolist(),
            "lower": self.lower.tolist(),
            "upper": self.upper.tolist(),
            "confidence_level": self.confidence_level,
            "method": self.method,
            "n": self.n.tolist(),
        }

    def __len__(self) -> int:
        return int(self.estimate.size)

    def item(self, index: int | tuple) -> Interval:
        """The interval at ``index`` as a scalar :class:`Interval`."""
        return Interval(
            float(self.estimate[index]),
            float(self.lower[index]),
            float(self.upper[index]),
            self.confidence_level,
            self.method,
            int(self.n[index]),
        )


def _z(confidence_level: float) -> float:
    return float(special.ndtri(0.5 + confidence_level / 2.0))


def _bounds(x: np.ndarray, n: np.ndarray, method: str, confidence_level: float):
    """Vectorised kernel: (estimate, lower, upper) as float arrays; NaN where n == 0."""
    x = x.astype(float)
    n = n.astype(float)
    alpha = 1.0 - confidence_level
    z = _z(confidence_level)
    empty = n == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(empty, np.nan, x / np.where(empty, 1.0, n))
        q = 1.0 - p
        if method == "wilson":
            denom = n + z * z
            centre = (x + z * z / 2.0) / denom
            half = z * np.sqrt(n) / denom * np.sqrt(p * q + z * z / (4.0 * n))
            lo, hi = centre - half, centre + half
        elif method == "wilson-cc":
            # Newcombe (1998a) method 4, eqs. for L and U with continuity correction.
            denom = 2.0 * (n + z * z)
            lo = (2 * n * p + z * z - 1 - z * np.sqrt(np.maximum(z * z - 2 - 1 / n + 4 * p * (n * q + 1), 0.0))) / denom
            hi = (2 * n * p + z * z + 1 + z * np.sqrt(np.maximum(z * z + 2 - 1 / n + 4 * p * (n * q - 1), 0.0))) / denom
        elif method == "clopper-pearson":
            lo = np.where(x > 0, special.betaincinv(x, n - x + 1, alpha / 2.0), 0.0)
            hi = np.where(x < n, special.betaincinv(x + 1, n - x, 1.0 - alpha / 2.0), 1.0)
        elif method == "jeffreys":
            lo = special.betaincinv(x + 0.5, n - x + 0.5, alpha / 2.0)
            hi = special.betaincinv(x + 0.5, n - x + 0.5, 1.0 - alpha / 2.0)
        elif method == "agresti-coull":
            nt = n + z * z
            pt = (x + z * z / 2.0) / nt
            half = z * np.sqrt(pt * (1 - pt) / nt)
            lo, hi = pt - half, pt + half
        elif method == "wald":
            half = z * np.sqrt(p * q / n)
            lo, hi = p - half, p + half
        else:  # pragma: no cover - guarded by check_choice
            raise ValueError(method)
    # Boundary conventions (Brown, Cai & DasGupta 2001, sec. 4.1.1 for Jeffreys;
    # exact for Wilson/Clopper-Pearson): 0/n has lower bound 0, n/n upper bound 1.
    lo = np.where(x == 0, 0.0, lo)
    hi = np.where(x == n, 1.0, hi)
    lo = np.clip(lo, 0.0, 1.0)
    hi = np.clip(hi, 0.0, 1.0)
    lo = np.where(empty, np.nan, lo)
    hi = np.where(empty, np.nan, hi)
    return p, lo, hi


def proportion_ci(
    successes,
    n,
    *,
    method: ProportionMethod = "wilson",
    confidence_level: float = 0.95,
) -> Interval:
    """Confidence interval for one binomial proportion ``successes / n``.

    Parameters
    ----------
    successes : int
        Number of successes, ``0 <= successes <= n``.
    n : int
        Number of trials. ``n = 0`` gives an all-NaN interval (see Notes).
    method : {'wilson', 'wilson-cc', 'clopper-pearson', 'agresti-coull', 'jeffreys', 'wald'}
        - ``'wilson'`` : Wilson score interval [1]_ (default: recommended by
          Brown, Cai & DasGupta [3]_ and the score intervals named in FDA's
          2007 diagnostic-test guidance).
        - ``'wilson-cc'`` : Wilson score interval with continuity correction,
          Newcombe's method 4 [2]_ (equals R ``prop.test(x, n, correct=TRUE)``).
        - ``'clopper-pearson'`` : the "exact" interval from beta quantiles [4]_,
          guaranteed coverage >= nominal (equals R ``binom.test``).
        - ``'agresti-coull'`` : add z^2/2 successes and failures, then Wald [5]_.
        - ``'jeffreys'`` : equal-tailed Beta(x+1/2, n-x+1/2) posterior interval [3]_.
        - ``'wald'`` : p +/- z sqrt(p(1-p)/n); poor coverage, provided for comparison.
    confidence_level : float
        Two-sided level in (0, 1), default 0.95.

    Returns
    -------
    Interval
        ``estimate = successes / n``, bounds, ``confidence_level``, ``method``, ``n``.

    Raises
    ------
    TypeError
        If a count is not an integer (``3.0`` is accepted) or a level is not a number.
    ValueError
        For negative counts, ``successes > n``, an unknown method or a level
        outside (0, 1).

    Notes
    -----
    Boundary conventions: at ``successes = 0`` the lower bound is exactly 0 and
    at ``successes = n`` the upper bound is exactly 1 for every method. For
    Clopper-Pearson the other bound keeps alpha/2 (so 0/n has upper bound
    ``1 - (alpha/2)**(1/n)``, as R's ``binom.test``); for Jeffreys this is the
    modification of Brown, Cai & DasGupta [3]_ (sec. 4.1.1). Agresti-Coull and
    Wald bounds are truncated to [0, 1].

    ``n = 0``: the proportion is undefined; estimate, lower and upper are NaN.

    References
    ----------
    .. [1] Wilson EB. Probable inference, the law of succession, and statistical
       inference. J Am Stat Assoc 1927;22:209-212. doi:10.1080/01621459.1927.10502953
    .. [2] Newcombe RG. Two-sided confidence intervals for the single
       proportion: comparison of seven methods. Stat Med 1998;17:857-872.
       doi:10.1002/(SICI)1097-0258(19980430)17:8<857::AID-SIM777>3.0.CO;2-E
    .. [3] Brown LD, Cai TT, DasGupta A. Interval estimation for a binomial
       proportion. Stat Sci 2001;16:101-133. doi:10.1214/ss/1009213286
    .. [4] Clopper CJ, Pearson ES. The use of confidence or fiducial limits
       illustrated in the case of the binomial. Biometrika 1934;26:404-413.
       doi:10.1093/biomet/26.4.404
    .. [5] Agresti A, Coull BA. Approximate is better than "exact" for interval
       estimation of binomial proportions. Am Stat 1998;52:119-126.
       doi:10.1080/00031305.1998.10480550

    Examples
    --------
    >>> ci = proportion_ci(81, 263)
    >>> round(ci.lower, 4), round(ci.upper, 4)
    (0.2553, 0.3662)
    >>> proportion_ci(0, 20, method="clopper-pearson").upper.__round__(4)
    0.1684
    """
    method = check_choice(method, "method", PROPORTION_METHODS)
    confidence_level = check_confidence_level(confidence_level)
    x = check_count(successes, "successes")
    m = check_count(n, "n")
    check_count_not_above(x, "successes", m, "n")
    p, lo, hi = _bounds(np.asarray(x), np.asarray(m), method, confidence_level)
    return Interval(float(p), float(lo), float(hi), confidence_level, method, m)


def proportion_ci_array(
    successes,
    n,
    *,
    method: ProportionMethod = "wilson",
    confidence_level: float = 0.95,
) -> IntervalArray:
    """Vectorised :func:`proportion_ci` over arrays of counts.

    Parameters
    ----------
    successes, n : array_like of int
        Broadcastable arrays of counts.
    method, confidence_level
        As :func:`proportion_ci`.

    Returns
    -------
    IntervalArray
        Arrays of the broadcast shape; NaN where ``n == 0``.

    Examples
    --------
    >>> r = proportion_ci_array([0, 5, 10], [10, 10, 10])
    >>> r.lower.round(4).tolist()
    [0.0, 0.2366, 0.7225]
    """
    method = check_choice(method, "method", PROPORTION_METHODS)
    confidence_level = check_confidence_level(confidence_level)
    x = check_counts(successes, "successes")
    m = check_counts(n, "n")
    try:
        x, m = np.broadcast_arrays(x, m)
    except ValueError:
        raise ValueError(
            f"'successes' and 'n' must have broadcastable shapes; got {np.shape(x)} and {np.shape(m)}"
        ) from None
    check_count_not_above(x, "successes", m, "n")
    p, lo, hi = _bounds(x, m, method, confidence_level)
    return IntervalArray(
        np.asarray(p, float), np.asarray(lo, float), np.asarray(hi, float), confidence_level, method,
        np.array(m, dtype=np.int64),
    )


# --------------------------------------------------------------------------------------
# Diagnostic accuracy from a 2x2 table (named counts, never an ambiguous matrix)
# --------------------------------------------------------------------------------------


def _named_proportion(num, num_name, other, other_name, method, confidence_level) -> Interval:
    a = check_count(num, num_name)
    b = check_count(other, other_name)
    method = check_choice(method, "method", PROPORTION_METHODS)
    confidence_level = check_confidence_level(confidence_level)
    p, lo, hi = _bounds(np.asarray(a), np.asarray(a + b), method, confidence_level)
    return Interval(float(p), float(lo), float(hi), confidence_level, method, a + b)


def sensitivity(tp, fn, *, method: ProportionMethod = "wilson", confidence_level: float = 0.95) -> Interval:
    """Sensitivity ``tp / (tp + fn)`` with a confidence interval.

    Parameters
    ----------
    tp, fn : int
        True positives and false negatives.
    method, confidence_level
        As :func:`proportion_ci` (default Wilson score, FDA 2007 guidance).

    Returns
    -------
    Interval
        ``n`` is the number of reference-standard positives ``tp + fn``.

    Examples
    --------
    >>> s = sensitivity(90, 10)
    >>> s.estimate, round(s.lower, 4), round(s.upper, 4)
    (0.9, 0.8256, 0.9448)
    """
    return _named_proportion(tp, "tp", fn, "fn", method, confidence_level)


def specificity(tn, fp, *, method: ProportionMethod = "wilson", confidence_level: float = 0.95) -> Interval:
    """Specificity ``tn / (tn + fp)``; see :func:`sensitivity`.

    Examples
    --------
    >>> specificity(180, 20).estimate
    0.9
    """
    return _named_proportion(tn, "tn", fp, "fp", method, confidence_level)


def ppv(tp, fp, *, method: ProportionMethod = "wilson", confidence_level: float = 0.95) -> Interval:
    """Positive predictive value ``tp / (tp + fp)`` at the study's own prevalence.

    In an enriched (case-control) cohort this is biased for the intended-use
    population; use :func:`predictive_values_at_prevalence` there.

    Examples
    --------
    >>> ppv(90, 20).n
    110
    """
    return _named_proportion(tp, "tp", fp, "fp", method, confidence_level)


def npv(tn, fn, *, method: ProportionMethod = "wilson", confidence_level: float = 0.95) -> Interval:
    """Negative predictive value ``tn / (tn + fn)`` at the study's own prevalence.

    Examples
    --------
    >>> round(npv(180, 10).estimate, 4)
    0.9474
    """
    return _named_proportion(tn, "tn", fn, "fn", method, confidence_level)


def accuracy(tp, fp, fn, tn, *, method: ProportionMethod = "wilson", confidence_level: float = 0.95) -> Interval:
    """Overall accuracy ``(tp + tn) / (tp + fp + fn + tn)``.

    Examples
    --------
    >>> accuracy(90, 20, 10, 180).estimate
    0.9
    """
    a = check_count(tp, "tp")
    b = check_count(fp, "fp")
    c = check_count(fn, "fn")
    d = check_count(tn, "tn")
    return _named_proportion(a + d, "tp + tn", b + c, "fp + fn", method, confidence_level)


@dataclass(frozen=True, slots=True)
class PredictiveValues:
    """PPV and NPV re-weighted to a stated prevalence.

    Attributes
    ----------
    ppv, npv : Interval
        ``n`` of each is the total number of subjects the sensitivity and
        specificity were estimated from.
    prevalence : float
        The prevalence the values refer to (stated, not estimated).
    sensitivity, specificity : float
        The point estimates used.
    """

    ppv: Interval
    npv: Interval
    prevalence: float
    sensitivity: float
    specificity: float

    def to_dict(self) -> dict:
        return {
            "ppv": self.ppv.to_dict(),
            "npv": self.npv.to_dict(),
            "prevalence": self.prevalence,
            "sensitivity": self.sensitivity,
            "specificity": self.specificity,
        }


def _logistic(v):
    return special.expit(v)


def predictive_values_at_prevalence(
    tp, fp, fn, tn, *, prevalence: float, confidence_level: float = 0.95
) -> PredictiveValues:
    """PPV and NPV at an intended-use prevalence, for enriched or case-control cohorts.

    Bayes' theorem gives
    ``PPV = Se*pi / (Se*pi + (1-Sp)(1-pi))`` and
    ``NPV = Sp(1-pi) / (Sp(1-pi) + (1-Se)pi)``. The interval is Mercaldo, Lau
    & Zhou's *standard logit* interval [1]_, the delta method on the logit scale
    with Se and Sp from independent binomial samples of ``n1 = tp + fn``
    diseased and ``n0 = fp + tn`` non-diseased subjects:

    ``Var(logit PPV) = (1 - Se)/(n1 Se) + Sp/(n0 (1 - Sp))``,
    ``Var(logit NPV) = Se/(n1 (1 - Se)) + (1 - Sp)/(n0 Sp)``.

    Where Se or Sp is 0 or 1 the logit variance is infinite; following
    Mercaldo et al.'s *adjusted logit* interval, Se and Sp are then replaced by
    ``(x + z^2/2) / (m + z^2)`` (the Agresti-Coull adjustment) for the interval
    only; the point estimate stays the plug-in value. The method string records
    which version was used: ``'logit'`` or ``'adjusted-logit'``.

    Parameters
    ----------
    tp, fp, fn, tn : int
        Counts of the study 2x2 table.
    prevalence : float
        Prevalence of the intended-use population, in (0, 1).
    confidence_level : float

    Returns
    -------
    PredictiveValues

    References
    ----------
    .. [1] Mercaldo ND, Lau KF, Zhou XH. Confidence intervals for predictive
       values with an emphasis to case-control studies. Stat Med
       2007;26:2170-2183. doi:10.1002/sim.2677

    Examples
    --------
    >>> pv = predictive_values_at_prevalence(90, 20, 10, 180, prevalence=0.05)
    >>> round(pv.ppv.estimate, 4), round(pv.npv.estimate, 4)
    (0.3214, 0.9942)
    """
    a = check_count(tp, "tp")
    b = check_count(fp, "fp")
    c = check_count(fn, "fn")
    d = check_count(tn, "tn")
    pi = check_probability(prevalence, "prevalence", open_interval=True)
    cl = check_confidence_level(confidence_level)
    n1, n0 = a + c, b + d
    if n1 == 0:
        raise ValueError("'tp' + 'fn' must be positive to estimate sensitivity; got 0 diseased subjects")
    if n0 == 0:
        raise ValueError("'fp' + 'tn' must be positive to estimate specificity; got 0 non-diseased subjects")
    z = _z(cl)
    se, sp = a / n1, d / n0
    ppv_hat = se * pi / (se * pi + (1 - sp) * (1 - pi))
    npv_hat = sp * (1 - pi) / (sp * (1 - pi) + (1 - se) * pi)
    adjusted = se in (0.0, 1.0) or sp in (0.0, 1.0)
    if adjusted:
        se_v = (a + z * z / 2) / (n1 + z * z)
        sp_v = (d + z * z / 2) / (n0 + z * z)
    else:
        se_v, sp_v = se, sp
    logit_ppv = np.log(se_v * pi / ((1 - sp_v) * (1 - pi)))
    logit_npv = np.log(sp_v * (1 - pi) / ((1 - se_v) * pi))
    var_ppv = (1 - se_v) / (n1 * se_v) + sp_v / (n0 * (1 - sp_v))
    var_npv = se_v / (n1 * (1 - se_v)) + (1 - sp_v) / (n0 * sp_v)
    method = "adjusted-logit" if adjusted else "logit"
    half_p, half_n = z * np.sqrt(var_ppv), z * np.sqrt(var_npv)
    ppv_ci = Interval(
        float(ppv_hat), float(_logistic(logit_ppv - half_p)), float(_logistic(logit_ppv + half_p)), cl, method,
        n1 + n0,
    )
    npv_ci = Interval(
        float(npv_hat), float(_logistic(logit_npv - half_n)), float(_logistic(logit_npv + half_n)), cl, method,
        n1 + n0,
    )
    return PredictiveValues(ppv_ci, npv_ci, pi, float(se), float(sp))


@dataclass(frozen=True, slots=True)
class LikelihoodRatios:
    """Positive and negative likelihood ratios with confidence intervals.

    Attributes
    ----------
    positive : Interval
        ``LR+ = Se / (1 - Sp)``.
    negative : Interval
        ``LR- = (1 - Se) / Sp``.
    correction : float
        Amount added to every cell before computing (0.0 unless a zero cell
        made a ratio or its variance undefined; see :func:`likelihood_ratios`).
    """

    positive: Interval
    negative: Interval
    correction: float

    def to_dict(self) -> dict:
        return {"positive": self.positive.to_dict(), "negative": self.negative.to_dict(), "correction": self.correction}


def likelihood_ratios(tp, fp, fn, tn, *, confidence_level: float = 0.95, zero_correction: float = 0.5) -> LikelihoodRatios:
    """Diagnostic likelihood ratios with Simel, Samsa & Matchar's log-method intervals.

    ``ln LR+`` has standard error
    ``sqrt(1/tp - 1/(tp+fn) + 1/fp - 1/(fp+tn))`` and
    ``ln LR-`` has ``sqrt(1/fn - 1/(tp+fn) + 1/tn - 1/(fp+tn))`` [1]_; the
    interval is ``exp(ln LR +/- z SE)``.

    Parameters
    ----------
    tp, fp, fn, tn : int
    confidence_level : float
    zero_correction : float
        If any of the four cells is zero (so a ratio or its log-variance is
        undefined), this amount is added to *every* cell (Haldane's correction)
        and recorded in the result's ``correction``. Pass 0 to refuse instead.

    Returns
    -------
    LikelihoodRatios

    Raises
    ------
    ValueError
        If there are no diseased or no non-diseased subjects, or a cell is
        zero while ``zero_correction`` is 0.

    References
    ----------
    .. [1] Simel DL, Samsa GP, Matchar DB. Likelihood ratios with confidence:
       sample size estimation for diagnostic test studies. J Clin Epidemiol
       1991;44:763-770. doi:10.1016/0895-4356(91)90128-V

    Examples
    --------
    >>> lr = likelihood_ratios(90, 20, 10, 180)
    >>> round(lr.positive.estimate, 2), round(lr.negative.estimate, 4)
    (9.0, 0.1111)
    """
    a = check_count(tp, "tp")
    b = check_count(fp, "fp")
    c = check_count(fn, "fn")
    d = check_count(tn, "tn")
    cl = check_confidence_level(confidence_level)
    corr = float(zero_correction)
    if not (corr >= 0):
        raise ValueError(f"'zero_correction' must be >= 0; got {zero_correction!r}")
    if a + c == 0:
        raise ValueError("'tp' + 'fn' must be positive; got 0 diseased subjects")
    if b + d == 0:
        raise ValueError("'fp' + 'tn' must be positive; got 0 non-diseased subjects")
    used = 0.0
    if min(a, b, c, d) == 0:
        if corr == 0:
            cells = {"tp": a, "fp": b, "fn": c, "tn": d}
            zero = [k for k, v in cells.items() if v == 0]
            raise ValueError(
                f"likelihood ratios need all cells > 0 when 'zero_correction' is 0; got zero in {', '.join(zero)}"
            )
        used = corr
    A, B, C, D = a + used, b + used, c + used, d + used
    se = A / (A + C)
    sp = D / (B + D)
    lr_pos = se / (1 - sp)
    lr_neg = (1 - se) / sp
    z = _z(cl)
    se_pos = np.sqrt(1 / A - 1 / (A + C) + 1 / B - 1 / (B + D))
    se_neg = np.sqrt(1 / C - 1 / (A + C) + 1 / D - 1 / (B + D))
    n = a + b + c + d
    pos = Interval(float(lr_pos), float(lr_pos * np.exp(-z * se_pos)), float(lr_pos * np.exp(z * se_pos)), cl, "log", n)
    neg = Interval(float(lr_neg), float(lr_neg * np.exp(-z * se_neg)), float(lr_neg * np.exp(z * se_neg)), cl, "log", n)
    return LikelihoodRatios(pos, neg, used)


@dataclass(frozen=True, slots=True)
class DiagnosticTable:
    """The 2x2 table of a binary test against the reference standard.

    Attributes
    ----------
    tp, fp, fn, tn : int
    """

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def n_positive(self) -> int:
        """Reference-standard positives (``tp + fn``)."""
        return self.tp + self.fn

    @property
    def n_negative(self) -> int:
        """Reference-standard negatives (``fp + tn``)."""
        return self.fp + self.tn

    def to_dict(self) -> dict:
        return asdict(self)


def diagnostic_table(y_true, y_pred) -> DiagnosticTable:
    """Count the 2x2 table of binary decisions against binary labels.

    Parameters
    ----------
    y_true : array_like of {0, 1}
        Reference standard (1 = condition present).
    y_pred : array_like of {0, 1}
        Test decision (1 = positive).

    Returns
    -------
    DiagnosticTable

    Raises
    ------
    ValueError
        Lengths differ, NaN, values other than 0/1, or empty input.

    Examples
    --------
    >>> diagnostic_table([1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
    DiagnosticTable(tp=2, fp=1, fn=1, tn=1)
    """
    t = check_binary_labels(y_true, "y_true", require_both=False)
    p = check_binary_labels(y_pred, "y_pred", require_both=False)
    check_same_length(y_true=t, y_pred=p)
    tp = int(np.count_nonzero(t & p))
    fp = int(np.count_nonzero(~t & p))
    fn = int(np.count_nonzero(t & ~p))
    tn = int(t.size - tp - fp - fn)
    return DiagnosticTable(tp, fp, fn, tn)


"""Calibration of predicted probabilities: ECE, Brier score, logistic recalibration, reliability curve.

Binning (recorded in every result)
----------------------------------
Bins are right-closed, ``(e_{b-1}, e_b]`` with the first bin also holding
``e_0`` — the convention of Guo et al. 2017 and of scikit-learn's
``calibration_curve`` (``np.searchsorted(edges[1:-1], prob)``).

``'equal-width'``
    ``n_bins`` bins of width ``1/n_bins`` on [0, 1].
``'equal-mass'``
    Edges at the ``k/n_bins`` quantiles of the predictions (linear
    interpolation, ``numpy.percentile``'s default; scikit-learn's
    ``strategy='quantile'``), so bins hold about equally many cases; ties at
    an edge fall in the same bin, so masses can differ slightly.

References
----------
.. [1] Naeini MP, Cooper GF, Hauskrecht M. Obtaining well calibrated
   probabilities using Bayesian binning. AAAI 2015:2901-2907.
.. [2] Guo C, Pleiss G, Sun Y, Weinberger KQ. On calibration of modern neural
   networks. ICML 2017, PMLR 70:1321-1330.
.. [3] Brier GW. Verification of forecasts expressed in terms of probability.
   Mon Weather Rev 1950;78(1):1-3. doi:10.1175/1520-0493(1950)078<0001:VOFEIT>2.0.CO;2
.. [4] Cox DR. Two further applications of a model for binary regression.
   Biometrika 1958;45(3-4):562-565. doi:10.1093/biomet/45.3-4.562
.. [5] Van Calster B, Nieboer D, Vergouwe Y, De Cock B, Pencina MJ,
   Steyerberg EW. A calibration hierarchy for risk models was defined: from
   utopia to empirical data. J Clin Epidemiol 2016;74:167-176.
   doi:10.1016/j.jclinepi.2015.12.005
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import special

from validation.stats._validate import (
    check_binary_labels,
    check_choice,
    check_confidence_level,
    check_positive_int,
)
from validation.stats.proportions import proportion_ci
from validation.stats.results import Interval

__all__ = [
    "Binning",
    "ReliabilityCurve",
    "RecalibrationFit",
    "CalibrationResult",
    "brier_score",
    "expected_calibration_error",
    "reliability_curve",
    "calibration_intercept_slope",
    "calibration",
]

Binning = Literal["equal-width", "equal-mass"]
_BINNINGS = ("equal-width", "equal-mass")
LOGIT_EPS = 1e-12


def _check_inputs(y_true: Any, prob: Any) -> tuple[np.ndarray, np.ndarray]:
    y = check_binary_labels(y_true, "y_true", require_both=False).astype(float)
    if isinstance(prob, (str, bytes)) or prob is None:
        raise TypeError(f"'prob' must be a 1-D array of probabilities; got {prob!r}")
    p = np.asarray(prob)
    if p.dtype.kind not in "biuf":
        raise TypeError(f"'prob' must be a 1-D array of probabilities; got dtype {p.dtype}")
    p = p.astype(float)
    if p.ndim != 1:
        raise ValueError(f"'prob' must be 1-D; got an array of shape {p.shape}")
    if p.size != y.size:
        raise ValueError(f"'y_true' and 'prob' must have the same length; got {y.size} and {p.size}")
    if np.isnan(p).any():
        first = int(np.flatnonzero(np.isnan(p))[0])
        raise ValueError(f"'prob' contains {int(np.isnan(p).sum())} NaN value(s) (first at index {first})")
    bad = (p < 0) | (p > 1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"'prob' must lie in [0, 1]; got {float(p[first])!r} at index {first}")
    return y, p


def _edges(p: np.ndarray, n_bins: int, binning: str) -> np.ndarray:
    if binning == "equal-width":
        return np.linspace(0.0, 1.0, n_bins + 1)
    return np.percentile(p, np.linspace(0, 1, n_bins + 1) * 100)


def brier_score(y_true: Any, prob: Any) -> float:
    """Brier score, the mean squared difference between probability and outcome [3]_.

    Parameters
    ----------
    y_true : array_like of {0, 1}
    prob : array_like of float in [0, 1]
        Predicted probability of class 1.

    Returns
    -------
    float
        ``mean((prob - y)^2)``; scikit-learn ``brier_score_loss(y_true, prob)``.

    References
    ----------
    .. [3] Brier GW. Mon Weather Rev 1950;78(1):1-3.

    Examples
    --------
    >>> round(brier_score([0, 1, 1], [0.1, 0.9, 0.6]), 10)   # (0.01 + 0.01 + 0.16) / 3
    0.06
    """
    y, p = _check_inputs(y_true, prob)
    return float(np.mean((p - y) ** 2))


@dataclass(frozen=True, slots=True)
class ReliabilityCurve:
    """Observed event rate against mean predicted probability, per bin.

    Attributes
    ----------
    edges : numpy.ndarray, shape (n_bins + 1,)
    n : numpy.ndarray of int
        Cases per bin (0 for an empty bin; its other values are NaN).
    mean_predicted, observed, lower, upper : numpy.ndarray
        Mean probability, observed fraction of events and its interval per bin.
    binning, method : str
    confidence_level : float
    """

    edges: np.ndarray
    n: np.ndarray
    mean_predicted: np.ndarray
    observed: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    binning: str
    method: str
    confidence_level: float

    def to_dict(self) -> dict:
        nan_to_none = lambda a: [None if math.isnan(v) else float(v) for v in a]  # noqa: E731
        return {
            "edges": self.edges.tolist(),
            "n": self.n.tolist(),
            "mean_predicted": nan_to_none(self.mean_predicted),
            "observed": nan_to_none(self.observed),
            "lower": nan_to_none(self.lower),
            "upper": nan_to_none(self.upper),
            "binning": self.binning,
            "method": self.method,
            "confidence_level": self.confidence_level,
        }


def reliability_curve(
    y_true: Any,
    prob: Any,
    *,
    n_bins: int = 10,
    binning: Binning = "equal-width",
    method: str = "wilson",
    confidence_level: float = 0.95,
) -> ReliabilityCurve:
    """Reliability diagram data with an interval for each bin's event rate.

    Parameters
    ----------
    y_true, prob
        As in :func:`brier_score`.
    n_bins : int
    binning : {'equal-width', 'equal-mass'}
        See the module docstring.
    method : str
        Interval for the observed fraction (:func:`validation.stats.proportion_ci`;
        default Wilson, Brown, Cai & DasGupta 2001).
    confidence_level : float

    Returns
    -------
    ReliabilityCurve
        Non-empty bins agree with scikit-learn ``calibration_curve(y, prob,
        n_bins=n_bins, strategy='uniform' | 'quantile')``.

    Examples
    --------
    >>> c = reliability_curve([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2)
    >>> c.n.tolist(), c.observed.tolist()
    ([2, 2], [0.0, 1.0])
    """
    check_choice(binning, "binning", _BINNINGS)
    n_bins = check_positive_int(n_bins, "n_bins")
    cl = check_confidence_level(confidence_level)
    y, p = _check_inputs(y_true, prob)
    edges = _edges(p, n_bins, binning)
    ids = np.searchsorted(edges[1:-1], p)
    n = np.bincount(ids, minlength=n_bins)
    events = np.bincount(ids, weights=y, minlength=n_bins)
    sums = np.bincount(ids, weights=p, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.where(n > 0, sums / n, np.nan)
    obs, lo, hi = (np.full(n_bins, np.nan) for _ in range(3))
    for b in range(n_bins):
        if n[b]:
            iv = proportion_ci(int(round(events[b])), int(n[b]), method=method, confidence_level=cl)
            obs[b], lo[b], hi[b] = iv.estimate, iv.lower, iv.upper
    return ReliabilityCurve(edges, n.astype(np.int64), mean_pred, obs, lo, hi, binning, method, cl)


def expected_calibration_error(
    y_true: Any, prob: Any, *, n_bins: int = 10, binning: Binning = "equal-width"
) -> float:
    """Expected calibration error, ``sum_b (n_b / N) |observed_b - mean_predicted_b|`` [1]_ [2]_.

    Parameters
    ----------
    y_true, prob
        As in :func:`brier_score`.
    n_bins : int
        Default 10 (Guo et al. 2017 use 15; state the choice in the protocol).
    binning : {'equal-width', 'equal-mass'}
        See the module docstring.

    Returns
    -------
    float in [0, 1]

    Notes
    -----
    ECE depends on the binning and is biased upwards in small samples; report
    it with the reliability curve and the intercept/slope, not alone.

    References
    ----------
    .. [1] Naeini MP, Cooper GF, Hauskrecht M. AAAI 2015:2901-2907.
    .. [2] Guo C, et al. ICML 2017, PMLR 70:1321-1330.

    Examples
    --------
    >>> # bin (0, .5]: probs .1, .2 (mean .15), events 0/2 -> |0 - .15|;
    >>> # bin (.5, 1]: probs .7, .9 (mean .8), events 1/2 -> |.5 - .8|;  ECE = (2*.15 + 2*.3)/4
    >>> round(expected_calibration_error([0, 0, 0, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2), 10)
    0.225
    """
    c = reliability_curve(y_true, prob, n_bins=n_bins, binning=binning)
    ok = c.n > 0
    return float(np.sum(c.n[ok] * np.abs(c.observed[ok] - c.mean_predicted[ok])) / c.n.sum())


@dataclass(frozen=True, slots=True)
class RecalibrationFit:
    """Calibration intercept and slope from logistic recalibration.

    Attributes
    ----------
    intercept : Interval
        Calibration-in-the-large: ``a`` in ``logit P(y=1) = a + logit(p)``
        (slope fixed at 1; ideal 0). Wald interval.
    slope : Interval
        ``b`` in ``logit P(y=1) = a' + b logit(p)`` (ideal 1). Wald interval.
    n : int
    n_clipped : int
        Probabilities of exactly 0 or 1 clipped to ``[eps, 1 - eps]`` before the logit.
    eps : float
    converged : bool
        False when the fit did not converge (e.g. the outcomes are perfectly
        separated by ``prob``: no maximum-likelihood estimate exists); the
        affected estimates and bounds are then NaN.
    """

    intercept: Interval
    slope: Interval
    n: int
    n_clipped: int
    eps: float
    converged: bool

    def to_dict(self) -> dict:
        return {"intercept": self.intercept.to_dict(), "slope": self.slope.to_dict(), "n": self.n,
                "n_clipped": self.n_clipped, "eps": self.eps, "converged": self.converged}


def _logistic_fit(X: np.ndarray, y: np.ndarray, offset: np.ndarray, max_iter: int = 100):
    """Newton-Raphson (IRLS) for a logistic GLM with offset; returns beta, covariance, converged.

    Under (quasi-)complete separation the MLE does not exist: the information
    matrix becomes singular or the steps never shrink; then beta and the
    covariance are NaN and ``converged`` is False.
    """
    k = X.shape[1]
    failed = (np.full(k, np.nan), np.full((k, k), np.nan), False)
    beta = np.zeros(k)
    for _ in range(max_iter):
        mu = special.expit(X @ beta + offset)
        info = X.T @ (X * (mu * (1 - mu))[:, None])
        try:
            step = np.linalg.solve(info, X.T @ (y - mu))
        except np.linalg.LinAlgError:
            return failed
        beta = beta + step
        if not np.all(np.isfinite(beta)) or np.max(np.abs(beta)) > 1e3:
            return failed
        if np.max(np.abs(step)) < 1e-10:
            mu = special.expit(X @ beta + offset)
            info = X.T @ (X * (mu * (1 - mu))[:, None])
            try:
                return beta, np.linalg.inv(info), True
            except np.linalg.LinAlgError:
                return failed
    return failed


def calibration_intercept_slope(y_true: Any, prob: Any, *, confidence_level: float = 0.95) -> RecalibrationFit:
    """Calibration intercept and slope by logistic recalibration (Cox 1958 [4]_, Van Calster 2016 [5]_).

    Parameters
    ----------
    y_true : array_like of {0, 1}
        Must contain both classes.
    prob : array_like of float in [0, 1]
    confidence_level : float

    Returns
    -------
    RecalibrationFit
        Maximum-likelihood estimates with Wald intervals from the observed
        information; equal to statsmodels ``GLM(y, ones, family=Binomial(),
        offset=logit(p))`` (intercept) and ``GLM(y, [1, logit(p)], Binomial())``
        (slope), and R ``glm(y ~ 1 + offset(lp), binomial)`` / ``glm(y ~ lp, binomial)``.

    Notes
    -----
    A slope below 1 means predictions are too extreme (overfitting); above 1,
    too modest. The intercept is estimated with the slope fixed at 1, as Van
    Calster et al. recommend for calibration-in-the-large.

    References
    ----------
    .. [4] Cox DR. Biometrika 1958;45(3-4):562-565. doi:10.1093/biomet/45.3-4.562
    .. [5] Van Calster B, et al. J Clin Epidemiol 2016;74:167-176. doi:10.1016/j.jclinepi.2015.12.005
    """
    cl = check_confidence_level(confidence_level)
    y, p = _check_inputs(y_true, prob)
    check_binary_labels(y, "y_true", require_both=True)
    n_clipped = int(np.sum((p < LOGIT_EPS) | (p > 1 - LOGIT_EPS)))
    lp = special.logit(np.clip(p, LOGIT_EPS, 1 - LOGIT_EPS))
    z = float(special.ndtri(0.5 + cl / 2))
    ones = np.ones((y.size, 1))
    a, cov_a, ok_a = _logistic_fit(ones, y, lp)
    b, cov_b, ok_b = _logistic_fit(np.column_stack([np.ones(y.size), lp]), y, np.zeros(y.size))
    se_a, se_b = float(np.sqrt(cov_a[0, 0])), float(np.sqrt(cov_b[1, 1]))
    n = int(y.size)
    return RecalibrationFit(
        intercept=Interval(float(a[0]), float(a[0] - z * se_a), float(a[0] + z * se_a), cl, "logistic-offset-wald", n),
        slope=Interval(float(b[1]), float(b[1] - z * se_b), float(b[1] + z * se_b), cl, "logistic-wald", n),
        n=n, n_clipped=n_clipped, eps=LOGIT_EPS, converged=bool(ok_a and ok_b),
    )


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    """Everything calibration in one result: ECE, Brier, intercept/slope, reliability curve.

    Attributes
    ----------
    ece : float
    brier : float
    recalibration : RecalibrationFit or None
        None when ``y_true`` holds only one class (the fit is undefined).
    curve : ReliabilityCurve
    n_bins : int
    binning : str
    n : int
    """

    ece: float
    brier: float
    recalibration: RecalibrationFit | None
    curve: ReliabilityCurve
    n_bins: int
    binning: str
    n: int

    def to_dict(self) -> dict:
        return {"ece": self.ece, "brier": self.brier,
                "recalibration": None if self.recalibration is None else self.recalibration.to_dict(),
                "curve": self.curve.to_dict(), "n_bins": self.n_bins, "binning": self.binning, "n": self.n}


def calibration(
    y_true: Any,
    prob: Any,
    *,
    n_bins: int = 10,
    binning: Binning = "equal-width",
    confidence_level: float = 0.95,
) -> CalibrationResult:
    """ECE, Brier score, calibration intercept and slope, and the reliability curve.

    Parameters are those of :func:`reliability_curve`.

    Examples
    --------
    >>> r = calibration([0, 1, 0, 1, 1], [0.1, 0.2, 0.7, 0.9, 0.6], n_bins=2)
    >>> round(r.ece, 4), round(r.brier, 4), r.binning
    (0.18, 0.262, 'equal-width')
    """
    curve = reliability_curve(y_true, prob, n_bins=n_bins, binning=binning, confidence_level=confidence_level)
    y, _ = _check_inputs(y_true, prob)
    both = 0 < y.sum() < y.size
    return CalibrationResult(
        ece=expected_calibration_error(y_true, prob, n_bins=n_bins, binning=binning),
        brier=brier_score(y_true, prob),
        recalibration=calibration_intercept_slope(y_true, prob, confidence_level=confidence_level) if both else None,
        curve=curve,
        n_bins=int(n_bins),
        binning=binning,
        n=int(y.size),
    )

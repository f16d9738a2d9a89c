"""Performance of a deployed model: estimated without labels (CBPE), and realised with labels.

Labels (biopsy, follow-up) arrive weeks after an image is read. Until they do,
confidence-based performance estimation (CBPE, NannyML's method) estimates the
confusion matrix from the model's own calibrated probabilities: a case with
calibrated probability p of being positive contributes p to the expected true
positives (if called positive) or to the expected false negatives (if called
negative), and 1 - p to the expected false positives / true negatives. The
estimate is only as good as the calibration, which is fitted on the labelled
validation cohort and assumed to hold in production (no concept shift): CBPE
follows covariate shift, not a change in P(label | image).

Every estimate is labelled as such and comes with a *sampling band*: the range
the realised metric would fall in with the stated probability if the
calibrated probabilities were true. ``band="bootstrap"`` draws the labels only
(parametric bootstrap given the window's scores: "these very cases");
``band="case_bootstrap"`` also resamples the window's cases (nonparametric
bootstrap of the case mix, then labels ~ Bernoulli(p)): "another window from the
same population", the band to compare with a population-level limit, since by
the law of total variance it carries the binomial variance of the realised
metric, as the Wilson interval of realised performance does. Clustering
(several images per patient) can be allowed for by ``design_effect``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy import optimize, special
from scipy.stats import rankdata

from validation.errors import InputError
from validation.stats import Interval
from validation.stats import sensitivity as _sensitivity
from validation.stats import specificity as _specificity

CalibrationMethod = Literal["isotonic", "platt"]
BandMethod = Literal["bootstrap", "case_bootstrap", "normal"]

__all__ = ["CBPE", "EstimatedMetric", "PerformanceEstimate", "RealisedPerformance", "realised_performance"]


@dataclass(frozen=True, slots=True)
class EstimatedMetric:
    """A label-free estimate with its sampling band.

    Attributes
    ----------
    estimate : float
        Ratio of expected counts, e.g. E[TP] / (E[TP] + E[FN]).
    lower, upper : float
        Sampling band of the *realised* metric under the calibrated
        probabilities (``confidence_level`` coverage); NaN where undefined.
    confidence_level : float
    method : str
        ``"cbpe"`` plus the band method.
    kind : str
        Always ``"estimate"`` (never to be confused with a measured value).
    """

    estimate: float
    lower: float
    upper: float
    confidence_level: float
    method: str
    kind: str = "estimate"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PerformanceEstimate:
    """CBPE estimate for one production window.

    Attributes
    ----------
    sensitivity, specificity, auc : EstimatedMetric
    expected_tp, expected_fp, expected_fn, expected_tn : float
        Expected confusion-matrix counts from the calibrated probabilities.
    expected_prevalence : float
        Mean calibrated probability.
    positive_rate : float
        Share of cases at or above the threshold.
    threshold : float
    n, n_excluded : int
        Cases used; cases excluded because the score was NaN.
    calibration : str
        ``"isotonic"`` or ``"platt"``.
    band : str
        ``"bootstrap"`` (parametric, labels ~ Bernoulli(p)), ``"case_bootstrap"``
        (cases resampled with replacement, then labels ~ Bernoulli(p)) or
        ``"normal"`` (delta method with Poisson-binomial variances).
    design_effect : float
        Variance inflation applied to the band (1.0 = none).
    n_resamples : int
        Bootstrap draws (0 for the normal band); ``n_undefined_resamples`` counts
        draws where a metric was undefined (no positives or no negatives).
    seed : int
    """

    sensitivity: EstimatedMetric
    specificity: EstimatedMetric
    auc: EstimatedMetric
    expected_tp: float
    expected_fp: float
    expected_fn: float
    expected_tn: float
    expected_prevalence: float
    positive_rate: float
    threshold: float
    n: int
    n_excluded: int
    calibration: str
    band: str
    n_resamples: int
    n_undefined_resamples: int
    seed: int
    design_effect: float = 1.0
    kind: str = "estimate"

    def to_dict(self) -> dict:
        d = asdict(self)
        return d


@dataclass(frozen=True, slots=True)
class RealisedPerformance:
    """Measured performance on a labelled window.

    Attributes
    ----------
    sensitivity, specificity : Interval
        Wilson score intervals (``validation.stats.proportions``).
    tp, fp, fn, tn : int
    n, n_pos, n_neg, n_excluded : int
        ``n_excluded`` counts cases with a missing label or score.
    threshold : float
    validated_lower : dict
        The validated lower bounds compared with, by metric (None if not given).
    below_validated : bool
        True when, for any metric with a validated lower bound, the upper
        confidence bound of the realised metric is below it: the window gives
        evidence at the stated confidence that performance is below what was
        validated.
    comparison : dict
        Per metric: validated_lower, estimate, upper, ``estimate_below`` (point
        estimate below the bound: a softer warning) and ``upper_below``.
    kind : str
        Always ``"realised"``.
    """

    sensitivity: Interval
    specificity: Interval
    tp: int
    fp: int
    fn: int
    tn: int
    n: int
    n_pos: int
    n_neg: int
    n_excluded: int
    threshold: float
    validated_lower: dict
    below_validated: bool
    comparison: dict
    kind: str = "realised"

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- helpers
def _scores(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).ravel()
    if np.isinf(arr).any():
        i = int(np.flatnonzero(np.isinf(arr))[0])
        raise InputError(f"'{name}'[{i}] is infinite ({arr[i]}); scores must be finite (NaN for missing)")
    return arr


def _check_cl(confidence_level: float) -> None:
    if not (isinstance(confidence_level, (int, float)) and 0 < confidence_level < 1):
        raise ValueError(f"'confidence_level' must be in (0, 1); got {confidence_level!r}")


def _check_threshold(threshold) -> None:
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold)):
        raise ValueError(f"'threshold' must be a finite number; got {threshold!r}")


def _labels(y, name: str) -> np.ndarray:
    """Labels as float with NaN for missing; anything other than 0/1/NaN is an error."""
    arr = np.asarray(y, dtype=np.float64).ravel()
    ok = np.isnan(arr) | (arr == 0) | (arr == 1)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise InputError(f"'{name}'[{i}] = {float(arr[i])!r}: labels must be 0, 1 (or NaN for missing)")
    return arr


def _expected_auc(p: np.ndarray, s: np.ndarray) -> float:
    """Ratio-of-expectations AUC: sum_{i != j} p_i (1 - p_j) H(s_i - s_j) / sum_{i != j} p_i (1 - p_j),
    H = 1 for >, 1/2 for ties. O(n log n) by sorting on the score."""
    order = np.argsort(s, kind="mergesort")
    ss, pp = s[order], p[order]
    q = 1.0 - pp
    # Groups of tied scores.
    starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
    q_group = np.add.reduceat(q, starts)
    q_below_group = np.cumsum(q_group) - q_group  # (1 - p) mass strictly below each group
    gid = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, ss.size]))
    # Pairs (i, j) with s_j < s_i count 1, ties (j != i) count 1/2.
    num = np.sum(pp * (q_below_group[gid] + 0.5 * (q_group[gid] - q)))
    den = pp.sum() * q.sum() - np.sum(pp * q)
    return float(num / den) if den > 0 else float("nan")


# --------------------------------------------------------------------------- CBPE
class CBPE:
    """Confidence-based performance estimation (CBPE) for a binary classifier.

    Use :meth:`fit` on the labelled validation cohort, then :meth:`estimate` on
    each unlabelled production window.

    Attributes
    ----------
    method : {"isotonic", "platt"}
    n_fit, n_excluded_fit : int
        Cases used to fit the calibration, and cases excluded (missing score or label).
    fit_prevalence : float
    score_range : tuple of float
        Range of the fitted scores; production scores outside it are mapped to
        the calibrated probability at the nearest end (isotonic) or extrapolated
        by the logistic curve (Platt).

    Notes
    -----
    CBPE [1]_ needs calibrated probabilities. ``"isotonic"`` fits a
    non-decreasing step function by pool-adjacent-violators [2]_ and
    interpolates linearly between the fitted points (as scikit-learn's
    ``IsotonicRegression``); ``"platt"`` fits P(y=1 | s) = 1 / (1 + exp(-(a + b
    t))) by maximum likelihood [3]_, with t = logit(s) when all scores lie in
    [0, 1] (sigmoid outputs) and t = s otherwise.

    References
    ----------
    .. [1] NannyML (2022). Confidence-based performance estimation (CBPE).
       https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html
    .. [2] Barlow, R. E., Bartholomew, D. J., Bremner, J. M. & Brunk, H. D.
       (1972). Statistical Inference under Order Restrictions. Wiley.
    .. [3] Platt, J. (1999). Probabilistic outputs for support vector machines
       and comparisons to regularized likelihood methods. In Advances in Large
       Margin Classifiers, MIT Press, 61–74.
    """

    def __init__(self, method: str, *, iso_x=None, iso_y=None, platt=None, platt_logit=False,
                 n_fit: int = 0, n_excluded_fit: int = 0, fit_prevalence: float = float("nan"),
                 score_range: tuple[float, float] = (float("nan"), float("nan"))):
        self.method = method
        self._iso_x, self._iso_y = iso_x, iso_y
        self._platt, self._platt_logit = platt, platt_logit
        self.n_fit, self.n_excluded_fit = n_fit, n_excluded_fit
        self.fit_prevalence, self.score_range = fit_prevalence, score_range

    def __repr__(self) -> str:
        return f"CBPE(method={self.method!r}, n_fit={self.n_fit}, fit_prevalence={self.fit_prevalence:.4f})"

    @classmethod
    def fit(cls, scores, labels, *, method: CalibrationMethod = "isotonic") -> "CBPE":
        """Fit the calibration on a labelled validation cohort.

        Parameters
        ----------
        scores : array-like of float
            Model scores of the validation cohort (NaN = missing, excluded and counted).
        labels : array-like of {0, 1}
            Reference-standard labels (NaN = missing, excluded and counted).
        method : {"isotonic", "platt"}, default "isotonic"

        Returns
        -------
        CBPE

        Raises
        ------
        InputError
            If lengths differ, labels are not 0/1, or one class is absent.
        """
        if method not in ("isotonic", "platt"):
            raise ValueError(f"'method' must be 'isotonic' or 'platt'; got {method!r}")
        s = _scores(scores, "scores")
        y = _labels(labels, "labels")
        if s.size != y.size:
            raise InputError(f"'scores' has {s.size} values but 'labels' has {y.size}")
        keep = ~(np.isnan(s) | np.isnan(y))
        s, y = s[keep], y[keep]
        n_pos = int(y.sum())
        if n_pos == 0 or n_pos == y.size:
            raise InputError(f"calibration needs both classes; got {n_pos} positives among {y.size} labelled cases")
        common = dict(n_fit=int(s.size), n_excluded_fit=int((~keep).sum()), fit_prevalence=n_pos / s.size,
                      score_range=(float(s.min()), float(s.max())))
        if method == "isotonic":
            order = np.argsort(s, kind="mergesort")
            ss, yy = s[order], y[order]
            ux, start = np.unique(ss, return_index=True)
            counts = np.diff(np.r_[start, ss.size])
            means = np.add.reduceat(yy, start) / counts
            fitted = optimize.isotonic_regression(means, weights=counts.astype(float), increasing=True).x
            return cls("isotonic", iso_x=ux, iso_y=np.clip(fitted, 0.0, 1.0), **common)
        logit = bool(s.min() >= 0.0 and s.max() <= 1.0)
        t = special.logit(np.clip(s, 1e-12, 1 - 1e-12)) if logit else s
        mu, sd = t.mean(), t.std() or 1.0
        z = (t - mu) / sd

        def nll(w):
            eta = w[0] + w[1] * z
            return np.sum(np.logaddexp(0.0, eta) - y * eta)

        def grad(w):
            r = special.expit(w[0] + w[1] * z) - y
            return np.array([r.sum(), (r * z).sum()])

        res = optimize.minimize(nll, np.zeros(2), jac=grad, method="BFGS", options={"gtol": 1e-10})
        a, b = res.x[0] - res.x[1] * mu / sd, res.x[1] / sd
        return cls("platt", platt=(float(a), float(b)), platt_logit=logit, **common)

    def calibrated(self, scores) -> np.ndarray:
        """Calibrated probabilities P(label = 1 | score) for the given scores (NaN stays NaN)."""
        s = _scores(scores, "scores")
        if self.method == "isotonic":
            out = np.interp(s, self._iso_x, self._iso_y)
        else:
            t = special.logit(np.clip(s, 1e-12, 1 - 1e-12)) if self._platt_logit else s
            out = special.expit(self._platt[0] + self._platt[1] * t)
        out[np.isnan(s)] = np.nan
        return out

    def estimate(self, scores, *, threshold: float, confidence_level: float = 0.95,
                 band: BandMethod = "bootstrap", n_resamples: int = 1000, seed: int = 0,
                 design_effect: float = 1.0) -> PerformanceEstimate:
        """Estimate sensitivity, specificity and AUC of an unlabelled window.

        Parameters
        ----------
        scores : array-like of float
            Scores of the window; NaN are excluded and counted.
        threshold : float
            Operating threshold (positive when score >= threshold).
        confidence_level : float, default 0.95
            Coverage of the sampling band.
        band : {"bootstrap", "case_bootstrap", "normal"}, default "bootstrap"
            ``"bootstrap"``: draw labels y_i ~ Bernoulli(p_i) ``n_resamples``
            times, compute the realised metrics each time, take the central
            percentiles (cost O(n x n_resamples)); describes the window's own
            cases only. ``"case_bootstrap"``: each draw first resamples the n
            cases with replacement (the window's case mix is a sample too),
            then draws their labels; the band of the realised metric of a
            window of n cases from the same population. ``"normal"``: delta
            method on E[TP] / (E[TP] + E[FN]) with Poisson-binomial variances
            sum p(1 - p); sensitivity and specificity only (AUC band NaN).
        n_resamples : int, default 1000
        seed : int, default 0
        design_effect : float, default 1.0
            Variance inflation for clustered cases (several images per patient,
            which a window of logs cannot resample as clusters): every
            bootstrap draw's deviation from the estimate is scaled by
            sqrt(design_effect) before the percentiles are taken (the normal
            band's standard error likewise).

        Returns
        -------
        PerformanceEstimate

        Notes
        -----
        With calibrated probabilities :math:`p_i` and decisions
        :math:`d_i = 1[s_i \\ge t]`: :math:`E[TP] = \\sum d_i p_i`,
        :math:`E[FN] = \\sum (1-d_i) p_i`, :math:`E[FP] = \\sum d_i (1-p_i)`,
        :math:`E[TN] = \\sum (1-d_i)(1-p_i)`; sensitivity is estimated by
        E[TP] / (E[TP] + E[FN]) and specificity by E[TN] / (E[TN] + E[FP]) (NannyML's
        CBPE). The AUC estimate is the same ratio of expectations over pairs.
        The band describes sampling of labels only; it does not include the
        uncertainty of the calibration itself, and it is void under concept shift.
        """
        _check_threshold(threshold)
        _check_cl(confidence_level)
        if band not in ("bootstrap", "case_bootstrap", "normal"):
            raise ValueError(f"'band' must be 'bootstrap', 'case_bootstrap' or 'normal'; got {band!r}")
        if not (isinstance(design_effect, (int, float)) and math.isfinite(design_effect) and design_effect >= 1.0):
            raise ValueError(f"'design_effect' must be a finite number >= 1; got {design_effect!r}")
        infl = math.sqrt(float(design_effect))
        if not isinstance(n_resamples, int) or n_resamples < 1:
            raise ValueError(f"'n_resamples' must be a positive integer; got {n_resamples!r}")
        s_all = _scores(scores, "scores")
        keep = ~np.isnan(s_all)
        s = s_all[keep]
        if s.size == 0:
            raise InputError(f"'scores' window has no scores to estimate from (n={s_all.size}, "
                             f"{int((~keep).sum())} NaN excluded)")
        p = self.calibrated(s)
        d = s >= threshold
        etp, efn = float(p[d].sum()), float(p[~d].sum())
        efp, etn = float((1 - p[d]).sum()), float((1 - p[~d]).sum())
        sens = etp / (etp + efn) if etp + efn > 0 else float("nan")
        spec = etn / (etn + efp) if etn + efp > 0 else float("nan")
        auc = _expected_auc(p, s)
        lo_q, hi_q = (1 - confidence_level) / 2, (1 + confidence_level) / 2
        n_undef = 0
        if band == "normal":
            var_a, var_b = float((p[d] * (1 - p[d])).sum()), float((p[~d] * (1 - p[~d])).sum())
            z = float(special.ndtri(hi_q))

            def _band(a, b, va, vb, est):
                if a + b <= 0:
                    return float("nan"), float("nan")
                se = infl * math.sqrt((b * b * va + a * a * vb)) / (a + b) ** 2
                return float(max(0.0, est - z * se)), float(min(1.0, est + z * se))

            s_lo, s_hi = _band(etp, efn, var_a, var_b, sens)
            # specificity = TN / (TN + FP); TN counts from ~d, FP from d (variances swap)
            c_lo, c_hi = _band(etn, efp, var_b, var_a, spec)
            a_lo = a_hi = float("nan")
            used = 0
            method = "cbpe; band: delta method, Poisson-binomial variance"
        else:
            rng = np.random.default_rng(seed)
            ranks = rankdata(s)  # average ranks for ties
            dd = d.astype(np.float64)
            n_d = dd.sum()
            chunk = max(1, min(n_resamples, int(4_000_000 // max(s.size, 1))))
            sens_b, spec_b, auc_b = [], [], []
            done = 0
            while done < n_resamples:
                m = min(chunk, n_resamples - done)
                if band == "case_bootstrap":
                    idx = rng.integers(0, s.size, size=(m, s.size))
                    yb = (rng.random((m, s.size)) < p[idx]).astype(np.float64)
                    tp = np.sum(yb * dd[idx], axis=1)
                    fp = dd[idx].sum(axis=1) - tp
                    rsum = np.sum(yb * rankdata(s[idx], axis=1), axis=1)
                else:
                    yb = (rng.random((m, s.size)) < p[None, :]).astype(np.float64)
                    tp = yb @ dd
                    fp = n_d - tp
                    rsum = yb @ ranks
                n1 = yb.sum(axis=1)
                n0 = s.size - n1
                with np.errstate(invalid="ignore", divide="ignore"):
                    sens_b.append(tp / n1)
                    spec_b.append((n0 - fp) / n0)
                    auc_b.append((rsum - n1 * (n1 + 1) / 2) / (n1 * n0))
                done += m
            sens_b, spec_b, auc_b = (np.concatenate(v) for v in (sens_b, spec_b, auc_b))
            n_undef = int(np.count_nonzero(~np.isfinite(auc_b)))

            def _pct(v, est):
                v = v[np.isfinite(v)]
                if v.size == 0:
                    return float("nan"), float("nan")
                if infl != 1.0 and math.isfinite(est):
                    v = np.clip(est + infl * (v - est), 0.0, 1.0)
                return float(np.quantile(v, lo_q)), float(np.quantile(v, hi_q))

            (s_lo, s_hi), (c_lo, c_hi), (a_lo, a_hi) = _pct(sens_b, sens), _pct(spec_b, spec), _pct(auc_b, auc)
            used = n_resamples
            what = ("nonparametric bootstrap of cases, then labels" if band == "case_bootstrap"
                    else "parametric bootstrap of labels")
            method = f"cbpe; band: {what} (n_resamples={n_resamples})"
        if infl != 1.0:
            method += f"; design effect {float(design_effect):.3g}"
        cl = float(confidence_level)
        return PerformanceEstimate(
            sensitivity=EstimatedMetric(sens, s_lo, s_hi, cl, method),
            specificity=EstimatedMetric(spec, c_lo, c_hi, cl, method),
            auc=EstimatedMetric(auc, a_lo, a_hi, cl, method),
            expected_tp=etp, expected_fp=efp, expected_fn=efn, expected_tn=etn,
            expected_prevalence=float(p.mean()), positive_rate=float(d.mean()), threshold=float(threshold),
            n=int(s.size), n_excluded=int((~keep).sum()), calibration=self.method, band=band,
            n_resamples=used, n_undefined_resamples=n_undef, seed=int(seed), design_effect=float(design_effect),
        )


# --------------------------------------------------------------------------- realised
def realised_performance(y_true, scores, *, threshold: float, confidence_level: float = 0.95,
                         validated_sensitivity_lower: float | None = None,
                         validated_specificity_lower: float | None = None) -> RealisedPerformance:
    """Sensitivity and specificity of a labelled window, compared with validated lower bounds.

    Parameters
    ----------
    y_true : array-like of {0, 1}
        Reference-standard labels (NaN = not yet known: excluded and counted).
    scores : array-like of float
        Model scores (NaN = missing: excluded and counted).
    threshold : float
        Operating threshold (positive when score >= threshold).
    confidence_level : float, default 0.95
    validated_sensitivity_lower, validated_specificity_lower : float, optional
        Lower confidence bounds established at validation (e.g. the protocol's
        acceptance criterion bound).

    Returns
    -------
    RealisedPerformance
        Wilson score intervals [1]_ (the score interval the FDA 2007 guidance
        uses for diagnostic accuracy). A metric with no cases (e.g. no positives
        in the window) has NaN estimate and bounds and is not compared.

    References
    ----------
    .. [1] Wilson, E. B. (1927). Probable inference, the law of succession,
       and statistical inference. JASA 22(158), 209–212.
       doi:10.1080/01621459.1927.10502953
    """
    _check_threshold(threshold)
    _check_cl(confidence_level)
    y = _labels(y_true, "y_true")
    s = _scores(scores, "scores")
    if y.size != s.size:
        raise InputError(f"'y_true' has {y.size} values but 'scores' has {s.size}")
    keep = ~(np.isnan(y) | np.isnan(s))
    if not keep.any():
        raise InputError(f"window has no case with both a label and a score (n={y.size})")
    y, s = y[keep].astype(bool), s[keep]
    d = s >= threshold
    tp, fn = int(np.sum(d & y)), int(np.sum(~d & y))
    fp, tn = int(np.sum(d & ~y)), int(np.sum(~d & ~y))
    sens = _sensitivity(tp, fn, confidence_level=confidence_level)
    spec = _specificity(tn, fp, confidence_level=confidence_level)
    bounds = {"sensitivity": validated_sensitivity_lower, "specificity": validated_specificity_lower}
    comparison = {}
    for name, iv in (("sensitivity", sens), ("specificity", spec)):
        b = bounds[name]
        if b is None:
            continue
        if not (isinstance(b, (int, float)) and 0 <= b <= 1):
            raise ValueError(f"'validated_{name}_lower' must be in [0, 1]; got {b!r}")
        defined = not math.isnan(iv.estimate)
        comparison[name] = {"validated_lower": float(b), "estimate": iv.estimate, "upper": iv.upper,
                            "estimate_below": bool(defined and iv.estimate < b),
                            "upper_below": bool(defined and iv.upper < b), "defined": defined}
    below = any(c["upper_below"] for c in comparison.values())
    return RealisedPerformance(
        sensitivity=sens, specificity=spec, tp=tp, fp=fp, fn=fn, tn=tn, n=int(y.size), n_pos=tp + fn,
        n_neg=fp + tn, n_excluded=int((~keep).sum()), threshold=float(threshold), validated_lower=bounds,
        below_validated=bool(below), comparison=comparison,
    )

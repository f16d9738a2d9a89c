"""ROC analysis: AUC with DeLong intervals, DeLong's paired test, the empirical ROC
curve with a bootstrap band, and sensitivity/specificity at a fixed operating point.

All functions take ``y_true`` (0/1; 1 = condition present) and ``scores`` (higher
= more likely positive). Ties count one half, as in the Mann-Whitney statistic.

Implementation: one ``argsort`` of the scores, then every quantity is a sum over
groups of tied scores (O(n log n) overall). This is the midrank formulation of
Sun & Xu (2014): for a positive case the DeLong placement value
``V10 = (#negatives below + 1/2 #negatives tied) / n_neg`` equals
``(combined midrank - midrank among positives) / n_neg``, and symmetrically for
negatives; we compute it directly from per-group counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

from validation.stats._validate import (
    check_binary_labels,
    check_choice,
    check_confidence_level,
    check_positive_int,
    check_probability,
    check_scores,
)

__all__ = [
    "AUCResult",
    "PairedAUCResult",
    "ROCCurve",
    "OperatingPointResult",
    "roc_auc",
    "roc_auc_paired",
    "roc_curve_band",
    "sensitivity_at_specificity",
    "specificity_at_sensitivity",
]


def _z(cl: float) -> float:
    return float(special.ndtri(0.5 + cl / 2.0))


def _arr(a) -> list:
    return np.asarray(a).tolist()


# --------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AUCResult:
    """Area under the ROC curve with its confidence interval.

    Attributes
    ----------
    estimate : float
        Empirical (Mann-Whitney) AUC, ties counted 1/2.
    lower, upper : float
        Confidence bounds, ``estimate +/- z * standard_error`` clipped to [0, 1].
    variance, standard_error : float
        DeLong variance of the estimate and its square root.
    n_pos, n_neg : int
        Numbers of positive and negative cases (or units, for clustered data).
    confidence_level : float
    method : str
        ``'delong'`` or ``'obuchowski'`` (clustered).
    n_clusters : int or None
        Number of clusters for clustered data, else None.
    """

    estimate: float
    lower: float
    upper: float
    variance: float
    standard_error: float
    n_pos: int
    n_neg: int
    confidence_level: float
    method: str
    n_clusters: int | None = None

    @property
    def n(self) -> int:
        return self.n_pos + self.n_neg

    def to_dict(self) -> dict:
        return {
            "estimate": self.estimate,
            "lower": self.lower,
            "upper": self.upper,
            "variance": self.variance,
            "standard_error": self.standard_error,
            "n_pos": self.n_pos,
            "n_neg": self.n_neg,
            "n": self.n,
            "confidence_level": self.confidence_level,
            "method": self.method,
            "n_clusters": self.n_clusters,
        }


@dataclass(frozen=True, slots=True)
class PairedAUCResult:
    """DeLong's test comparing two correlated AUCs on the same cases.

    Attributes
    ----------
    auc_a, auc_b : float
    difference : float
        ``auc_a - auc_b``.
    lower, upper : float
        Wald confidence interval of the difference, ``difference +/- z SE``,
        clipped to [-1, 1] (the range of a difference of two AUCs).
    standard_error : float
        ``sqrt(var_a + var_b - 2 cov_ab)``.
    z, p_value : float
        Two-sided test of equal AUCs. With ``standard_error == 0`` and no
        difference, ``z = 0`` and ``p = 1``.
    correlation : float
        DeLong correlation between the two AUC estimates (NaN if a variance is 0).
    n_pos, n_neg : int
    confidence_level : float
    method : str
    """

    auc_a: float
    auc_b: float
    difference: float
    lower: float
    upper: float
    standard_error: float
    z: float
    p_value: float
    correlation: float
    n_pos: int
    n_neg: int
    confidence_level: float
    method: str

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class ROCCurve:
    """Empirical ROC curve with a pointwise confidence band.

    Attributes
    ----------
    fpr, tpr, thresholds : numpy.ndarray
        Every empirical operating point, from ``(0, 0)`` at threshold ``+inf``
        to ``(1, 1)``; a case is called positive when ``score >= threshold``.
    fpr_grid : numpy.ndarray
        Fixed false-positive-rate grid on which the band is given.
    tpr_grid : numpy.ndarray
        Empirical TPR at each grid FPR: the highest sensitivity whose FPR does
        not exceed the grid value (i.e. specificity >= 1 - grid value).
    lower, upper : numpy.ndarray
        Pointwise bootstrap percentile band for ``tpr_grid``.
    auc : float
    confidence_level : float
    method : str
        ``'stratified-bootstrap-percentile'``.
    n_resamples : int
    seed : int
    n_pos, n_neg : int
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    fpr_grid: np.ndarray
    tpr_grid: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    auc: float
    confidence_level: float
    method: str
    n_resamples: int
    seed: int
    n_pos: int
    n_neg: int

    def to_dict(self) -> dict:
        thr = np.asarray(self.thresholds, float)
        return {
            "fpr": _arr(self.fpr),
            "tpr": _arr(self.tpr),
            "thresholds": [None if not np.isfinite(t) else float(t) for t in thr],
            "fpr_grid": _arr(self.fpr_grid),
            "tpr_grid": _arr(self.tpr_grid),
            "lower": _arr(self.lower),
            "upper": _arr(self.upper),
            "auc": self.auc,
            "confidence_level": self.confidence_level,
            "method": self.method,
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "n_pos": self.n_pos,
            "n_neg": self.n_neg,
        }


@dataclass(frozen=True, slots=True)
class OperatingPointResult:
    """Sensitivity at a target specificity (or the reverse) with a bootstrap CI.

    Attributes
    ----------
    estimate, lower, upper : float
    target : float
        The fixed specificity (or sensitivity).
    achieved : float
        The specificity (or sensitivity) actually reached at ``threshold``
        (>= target).
    threshold : float
        Score threshold (positive when ``score >= threshold``); ``inf`` when no
        case can be called positive.
    metric : str
        ``'sensitivity_at_specificity'`` or ``'specificity_at_sensitivity'``.
    confidence_level : float
    method : str
    n_resamples, seed, n_pos, n_neg : int
    """

    estimate: float
    lower: float
    upper: float
    target: float
    achieved: float
    threshold: float
    metric: str
    confidence_level: float
    method: str
    n_resamples: int
    seed: int
    n_pos: int
    n_neg: int

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        if not np.isfinite(d["threshold"]):
            d["threshold"] = None
        return d


# --------------------------------------------------------------------------------------
# Core: placement values from tied-score groups
# --------------------------------------------------------------------------------------


def _groups(scores: np.ndarray):
    """Sort once; return (order, group_id per sorted position, n_groups, group start)."""
    order = np.argsort(scores)
    ss = scores[order]
    flag = np.empty(ss.size, dtype=bool)
    flag[0] = True
    np.not_equal(ss[1:], ss[:-1], out=flag[1:])
    gid = np.cumsum(flag) - 1
    return order, ss, gid, int(gid[-1]) + 1


def _placements(y: np.ndarray, scores: np.ndarray):
    """DeLong placement values in the original case order.

    Returns
    -------
    v10 : ndarray (n_pos,)  for positives in their original order
    v01 : ndarray (n_neg,)  for negatives in their original order
    """
    order, _, gid, g = _groups(scores)
    ys = y[order]
    pos_g = np.bincount(gid, weights=ys, minlength=g)
    neg_g = np.bincount(gid, minlength=g) - pos_g
    m = pos_g.sum()
    n = neg_g.sum()
    neg_below = np.cumsum(neg_g) - neg_g
    pos_above = m - np.cumsum(pos_g)
    v10_g = (neg_below + 0.5 * neg_g) / n
    v01_g = (pos_above + 0.5 * pos_g) / m
    case_gid = np.empty_like(gid)
    case_gid[order] = gid
    return v10_g[case_gid[y]], v01_g[case_gid[~y]]


def _auc_and_var_fast(y: np.ndarray, scores: np.ndarray):
    """AUC and DeLong variance without materialising per-case arrays."""
    order, _, gid, g = _groups(scores)
    ys = y[order]
    pos_g = np.bincount(gid, weights=ys, minlength=g)
    tot_g = np.bincount(gid, minlength=g)
    neg_g = tot_g - pos_g
    m = float(pos_g.sum())
    n = float(neg_g.sum())
    neg_below = np.cumsum(neg_g) - neg_g
    pos_above = m - np.cumsum(pos_g)
    v10_g = (neg_below + 0.5 * neg_g) / n
    v01_g = (pos_above + 0.5 * pos_g) / m
    auc = float(np.dot(pos_g, v10_g) / m)
    s10 = float(np.dot(pos_g, (v10_g - auc) ** 2) / (m - 1)) if m > 1 else 0.0
    s01 = float(np.dot(neg_g, (v01_g - auc) ** 2) / (n - 1)) if n > 1 else 0.0
    return auc, s10 / m + s01 / n, int(m), int(n)


def _check_inputs(y_true, scores, *names):
    y = check_binary_labels(y_true, "y_true")
    out = [check_scores(s, nm, n=y.size) for s, nm in zip(scores, names)]
    return y, out


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def roc_auc(y_true, scores, *, method: Literal["delong"] = "delong", confidence_level: float = 0.95) -> AUCResult:
    """Area under the ROC curve with DeLong's confidence interval.

    Parameters
    ----------
    y_true : array_like of {0, 1}
        Reference standard; both classes must be present.
    scores : array_like of float
        Model scores, higher = more likely positive; finite, same length.
    method : {'delong'}
        ``'delong'`` : the nonparametric variance of DeLong, DeLong &
        Clarke-Pearson [1]_, ``Var = S10/m + S01/n`` from the placement
        values, computed with the O(n log n) midrank algorithm of Sun & Xu [2]_.
    confidence_level : float

    Returns
    -------
    AUCResult

    Raises
    ------
    ValueError
        A single class, NaN/inf scores, length mismatch, empty input.

    Notes
    -----
    The interval is Wald on the AUC scale, ``AUC +/- z SE``, clipped to
    [0, 1]; this is what pROC's ``ci.auc(method = "delong")`` reports, and it
    is reproduced to machine precision in the tests. Under perfect separation
    the DeLong variance is 0 and the interval degenerates to ``[1, 1]``; use
    :func:`validation.stats.bootstrap.bootstrap` or a larger cohort if that
    matters for an acceptance criterion.

    References
    ----------
    .. [1] DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under
       two or more correlated receiver operating characteristic curves: a
       nonparametric approach. Biometrics 1988;44:837-845. doi:10.2307/2531595
    .. [2] Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing
       the areas under correlated receiver operating characteristic curves.
       IEEE Signal Process Lett 2014;21:1389-1393. doi:10.1109/LSP.2014.2337313
    .. [3] Robin X, et al. pROC: an open-source package for R and S+ to
       analyze and compare ROC curves. BMC Bioinformatics 2011;12:77.
       doi:10.1186/1471-2105-12-77

    Examples
    --------
    >>> r = roc_auc([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    >>> round(r.estimate, 4), r.n_pos, r.n_neg
    (0.8889, 3, 3)
    """
    check_choice(method, "method", ("delong",))
    cl = check_confidence_level(confidence_level)
    y, (s,) = _check_inputs(y_true, (scores,), "scores")
    auc, var, m, n = _auc_and_var_fast(y, s)
    se = float(np.sqrt(max(var, 0.0)))
    z = _z(cl)
    return AUCResult(auc, max(0.0, auc - z * se), min(1.0, auc + z * se), var, se, m, n, cl, "delong")


def roc_auc_paired(
    y_true, scores_a, scores_b, *, method: Literal["delong"] = "delong", confidence_level: float = 0.95
) -> PairedAUCResult:
    """DeLong's test of two correlated AUCs measured on the same cases.

    Parameters
    ----------
    y_true : array_like of {0, 1}
    scores_a, scores_b : array_like of float
        Two models' scores for the same cases, in the same order.
    method : {'delong'}
        Covariance of the two AUCs from the placement values [1]_ (fast
        midrank algorithm [2]_); ``z = (A - B) / sqrt(Va + Vb - 2 Cab)``,
        equal to pROC's ``roc.test(..., method = "delong", paired = TRUE)``.
    confidence_level : float
        For the interval of ``auc_a - auc_b`` (Wald, clipped to [-1, 1]).

    Returns
    -------
    PairedAUCResult

    References
    ----------
    .. [1] DeLong ER, DeLong DM, Clarke-Pearson DL. Biometrics 1988;44:837-845.
       doi:10.2307/2531595
    .. [2] Sun X, Xu W. IEEE Signal Process Lett 2014;21:1389-1393.
       doi:10.1109/LSP.2014.2337313

    Examples
    --------
    >>> y = [0, 0, 0, 1, 1, 1]
    >>> r = roc_auc_paired(y, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.1, 0.5, 0.3, 0.4, 0.2, 0.6])
    >>> round(r.auc_a, 4), round(r.auc_b, 4), round(r.difference, 4)
    (1.0, 0.6667, 0.3333)
    """
    check_choice(method, "method", ("delong",))
    cl = check_confidence_level(confidence_level)
    y, (sa, sb) = _check_inputs(y_true, (scores_a, scores_b), "scores_a", "scores_b")
    v10a, v01a = _placements(y, sa)
    v10b, v01b = _placements(y, sb)
    m, n = v10a.size, v01a.size
    auc_a, auc_b = float(v10a.mean()), float(v10b.mean())

    def cov(u, v):
        return float(np.dot(u - u.mean(), v - v.mean()) / (u.size - 1)) if u.size > 1 else 0.0

    va = cov(v10a, v10a) / m + cov(v01a, v01a) / n
    vb = cov(v10b, v10b) / m + cov(v01b, v01b) / n
    cab = cov(v10a, v10b) / m + cov(v01a, v01b) / n
    var = max(va + vb - 2 * cab, 0.0)
    se = float(np.sqrt(var))
    diff = auc_a - auc_b
    if se > 0:
        z = diff / se
        p = float(2 * special.ndtr(-abs(z)))
    elif diff == 0:
        z, p = 0.0, 1.0
    else:
        z, p = float(np.copysign(np.inf, diff)), 0.0
    corr = float(cab / np.sqrt(va * vb)) if va > 0 and vb > 0 else float("nan")
    zc = _z(cl)
    return PairedAUCResult(
        auc_a, auc_b, diff, max(-1.0, diff - zc * se), min(1.0, diff + zc * se), se, float(z), p, corr, m, n, cl,
        "delong",
    )


def _empirical_curve(y: np.ndarray, s: np.ndarray):
    """Operating points at each distinct threshold, descending."""
    order, ss, gid, g = _groups(s)
    ys = y[order]
    pos_g = np.bincount(gid, weights=ys, minlength=g)[::-1]
    neg_g = np.bincount(gid, minlength=g)[::-1] - pos_g
    thr = ss[np.flatnonzero(np.r_[1, np.diff(gid)])][::-1]  # distinct scores, descending
    tp = np.r_[0.0, np.cumsum(pos_g)]
    fp = np.r_[0.0, np.cumsum(neg_g)]
    thresholds = np.r_[np.inf, thr]
    return tp, fp, thresholds, gid, order


def _stratified_resample_counts(y, gid_case, g, n_resamples, rng, chunk_rows):
    """Yield (tp_cum, fp_cum) arrays of shape (rows, g + 1), descending thresholds.

    Positives and negatives are resampled separately (stratified bootstrap),
    so every resample keeps n_pos and n_neg fixed, as pROC does.
    """
    pos_gid = (g - 1 - gid_case[y]).astype(np.int64)  # descending group index
    neg_gid = (g - 1 - gid_case[~y]).astype(np.int64)
    m, n = pos_gid.size, neg_gid.size
    done = 0
    while done < n_resamples:
        rows = min(chunk_rows, n_resamples - done)
        offs = (np.arange(rows, dtype=np.int64) * g)[:, None]
        ip = pos_gid[rng.integers(0, m, size=(rows, m))] + offs
        ineg = neg_gid[rng.integers(0, n, size=(rows, n))] + offs
        tp = np.bincount(ip.ravel(), minlength=rows * g).reshape(rows, g)
        fp = np.bincount(ineg.ravel(), minlength=rows * g).reshape(rows, g)
        zeros = np.zeros((rows, 1))
        yield np.hstack([zeros, np.cumsum(tp, axis=1)]), np.hstack([zeros, np.cumsum(fp, axis=1)])
        done += rows


def _rowwise_last_le(cum: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """For each row r and limit k: last column index j with cum[r, j] <= limits[k]."""
    rows, cols = cum.shape
    big = float(cum[:, -1].max()) + 1.0 if cum.size else 1.0
    offs = np.arange(rows)[:, None] * (big + max(float(np.max(limits, initial=0)), 0.0) + 1.0)
    flat = (cum + offs).ravel()
    q = (limits[None, :] + offs).ravel()
    idx = np.searchsorted(flat, q, side="right") - 1
    return (idx.reshape(rows, limits.size) - (np.arange(rows) * cols)[:, None])


def _rowwise_first_ge(cum: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """For each row r and limit k: first column j with cum[r, j] >= limits[k] (cols if none)."""
    rows, cols = cum.shape
    big = float(cum[:, -1].max()) + 1.0 if cum.size else 1.0
    offs = np.arange(rows)[:, None] * (big + max(float(np.max(limits, initial=0)), 0.0) + 1.0)
    flat = (cum + offs).ravel()
    q = (limits[None, :] + offs).ravel()
    idx = np.searchsorted(flat, q, side="left").reshape(rows, limits.size) - (np.arange(rows) * cols)[:, None]
    return np.minimum(idx, cols - 1)


def _percentile_bounds(samples: np.ndarray, cl: float):
    a = (1 - cl) / 2
    return np.quantile(samples, a, axis=0), np.quantile(samples, 1 - a, axis=0)


def _chunk_rows(m: int, n: int, g: int) -> int:
    per_row = max(m + n + 2 * g, 1)
    return int(max(1, min(2000, 4_000_000 // per_row)))


def roc_curve_band(
    y_true,
    scores,
    *,
    confidence_level: float = 0.95,
    n_resamples: int = 2000,
    fpr_grid=None,
    seed: int = 0,
) -> ROCCurve:
    """Empirical ROC curve with a pointwise stratified-bootstrap confidence band.

    Parameters
    ----------
    y_true : array_like of {0, 1}
    scores : array_like of float
    confidence_level : float
        Pointwise level of the band.
    n_resamples : int
        Bootstrap resamples (default 2000, as pROC's ``ci.se``).
    fpr_grid : array_like of float, optional
        FPR values in [0, 1] for the band; default ``0, 0.01, ..., 1``.
    seed : int
        Seed of ``numpy.random.default_rng``; same inputs and seed give the
        same band.

    Returns
    -------
    ROCCurve

    Notes
    -----
    At each grid FPR ``f`` the curve value is the highest TPR among operating
    points with FPR <= f (the sensitivity achievable at specificity >= 1 - f);
    this is the "vertical" band of Macskassy & Provost [2]_ with the
    stratified bootstrap of pROC's ``ci.se`` [1]_: positives and negatives are
    resampled separately, and the band is the percentile interval of the
    resampled TPRs. It is pointwise, not simultaneous.

    References
    ----------
    .. [1] Robin X, et al. pROC. BMC Bioinformatics 2011;12:77. doi:10.1186/1471-2105-12-77
    .. [2] Macskassy SA, Provost F. Confidence bands for ROC curves: methods
       and an empirical study. Proc. 1st Workshop on ROC Analysis in AI, 2004.
    .. [3] Carpenter J, Bithell J. Bootstrap confidence intervals: when, which,
       what? Stat Med 2000;19:1141-1164.
       doi:10.1002/(SICI)1097-0258(20000515)19:9<1141::AID-SIM479>3.0.CO;2-F

    Examples
    --------
    >>> c = roc_curve_band([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], n_resamples=200)
    >>> c.fpr.tolist(), c.tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    cl = check_confidence_level(confidence_level)
    b = check_positive_int(n_resamples, "n_resamples")
    y, (s,) = _check_inputs(y_true, (scores,), "scores")
    if fpr_grid is None:
        grid = np.linspace(0.0, 1.0, 101)
    else:
        grid = check_scores(fpr_grid, "fpr_grid")
        if grid.min() < 0 or grid.max() > 1:
            raise ValueError(f"'fpr_grid' values must be in [0, 1]; got min {grid.min()}, max {grid.max()}")
    seed = check_positive_int(seed, "seed", minimum=0)
    tp, fp, thresholds, gid, order = _empirical_curve(y, s)
    m, n = int(tp[-1]), int(fp[-1])
    g = thresholds.size - 1
    allowed_fp = np.floor(grid * n + 1e-9)
    idx = _rowwise_last_le(fp[None, :], allowed_fp)[0]
    tpr_grid = tp[idx] / m
    gid_case = np.empty_like(gid)
    gid_case[order] = gid
    rng = np.random.default_rng(seed)
    out = np.empty((b, grid.size))
    r0 = 0
    for tpc, fpc in _stratified_resample_counts(y, gid_case, g, b, rng, _chunk_rows(m, n, g)):
        j = _rowwise_last_le(fpc, allowed_fp)
        out[r0 : r0 + tpc.shape[0]] = np.take_along_axis(tpc, j, axis=1) / m
        r0 += tpc.shape[0]
    lo, hi = _percentile_bounds(out, cl)
    auc, _, _, _ = _auc_and_var_fast(y, s)
    return ROCCurve(
        fp / n, tp / m, thresholds, grid, tpr_grid, lo, hi, auc, cl, "stratified-bootstrap-percentile", b, seed, m, n
    )


def _operating_point(y_true, scores, target, target_name, which, confidence_level, n_resamples, seed):
    cl = check_confidence_level(confidence_level)
    t = check_probability(target, target_name)
    b = check_positive_int(n_resamples, "n_resamples")
    seed = check_positive_int(seed, "seed", minimum=0)
    y, (s,) = _check_inputs(y_true, (scores,), "scores")
    tp, fp, thresholds, gid, order = _empirical_curve(y, s)
    m, n = int(tp[-1]), int(fp[-1])
    g = thresholds.size - 1
    gid_case = np.empty_like(gid)
    gid_case[order] = gid
    if which == "sens":
        limit = np.array([np.floor(n * (1 - t) + 1e-9)])  # FP allowed for specificity >= t

        def value(tpc, fpc):
            j = _rowwise_last_le(fpc, limit)
            return np.take_along_axis(tpc, j, axis=1)[:, 0] / m, j[:, 0]
    else:
        limit = np.array([np.ceil(m * t - 1e-9)])  # TP needed for sensitivity >= t

        def value(tpc, fpc):
            j = _rowwise_first_ge(tpc, limit)
            return 1.0 - np.take_along_axis(fpc, j, axis=1)[:, 0] / n, j[:, 0]

    est, j0 = value(tp[None, :], fp[None, :])
    j0 = int(j0[0])
    achieved = (1.0 - fp[j0] / n) if which == "sens" else tp[j0] / m
    rng = np.random.default_rng(seed)
    out = np.empty(b)
    r0 = 0
    for tpc, fpc in _stratified_resample_counts(y, gid_case, g, b, rng, _chunk_rows(m, n, g)):
        v, _ = value(tpc, fpc)
        out[r0 : r0 + v.size] = v
        r0 += v.size
    lo, hi = _percentile_bounds(out, cl)
    metric = "sensitivity_at_specificity" if which == "sens" else "specificity_at_sensitivity"
    return OperatingPointResult(
        float(est[0]), float(lo), float(hi), t, float(achieved), float(thresholds[j0]), metric, cl,
        "stratified-bootstrap-percentile", b, seed, m, n,
    )


def sensitivity_at_specificity(
    y_true, scores, specificity: float, *, confidence_level: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> OperatingPointResult:
    """Highest sensitivity reachable with specificity >= ``specificity``, with a CI.

    The threshold is chosen on the data (the lowest threshold whose
    specificity still meets the target) and the interval is the stratified
    bootstrap percentile interval of the whole procedure, re-choosing the
    threshold in each resample (pROC's ``ci.se`` [1]_; Pepe [2]_, sec. 5.2).

    Parameters
    ----------
    y_true, scores : array_like
    specificity : float
        Target specificity in [0, 1].
    confidence_level : float
    n_resamples : int
    seed : int

    Returns
    -------
    OperatingPointResult

    References
    ----------
    .. [1] Robin X, et al. pROC. BMC Bioinformatics 2011;12:77. doi:10.1186/1471-2105-12-77
    .. [2] Pepe MS. The Statistical Evaluation of Medical Tests for
       Classification and Prediction. Oxford University Press, 2003.

    Examples
    --------
    >>> r = sensitivity_at_specificity([0, 0, 0, 0, 1, 1, 1, 1],
    ...     [0.1, 0.2, 0.3, 0.7, 0.4, 0.6, 0.8, 0.9], 0.75, n_resamples=100)
    >>> r.estimate, r.achieved, r.threshold
    (1.0, 0.75, 0.4)
    """
    return _operating_point(y_true, scores, specificity, "specificity", "sens", confidence_level, n_resamples, seed)


def specificity_at_sensitivity(
    y_true, scores, sensitivity: float, *, confidence_level: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> OperatingPointResult:
    """Highest specificity reachable with sensitivity >= ``sensitivity``, with a CI.

    The mirror of :func:`sensitivity_at_specificity` (pROC's ``ci.sp``).

    Examples
    --------
    >>> r = specificity_at_sensitivity([0, 0, 0, 0, 1, 1, 1, 1],
    ...     [0.1, 0.2, 0.3, 0.7, 0.4, 0.6, 0.8, 0.9], 1.0, n_resamples=100)
    >>> r.estimate, r.threshold
    (0.75, 0.4)
    """
    return _operating_point(y_true, scores, sensitivity, "sensitivity", "spec", confidence_level, n_resamples, seed)

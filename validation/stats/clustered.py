"""Clustered binary data: several images or lesions per patient.

Units within a patient are correlated, so treating them as independent
understates the variance. These functions keep the unit-level estimate (e.g.
lesion-level sensitivity) and take the variance from the between-cluster
variation.
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
    check_count_not_above,
    check_counts,
    check_same_length,
    check_scores,
)
from validation.stats.proportions import _bounds
from validation.stats.results import Interval
from validation.stats.roc import AUCResult, _placements

__all__ = ["ClusteredInterval", "clustered_proportion_ci", "cluster_counts", "clustered_roc_auc"]


@dataclass(frozen=True, slots=True)
class ClusteredInterval(Interval):
    """An :class:`Interval` for a proportion of clustered units.

    Extra attributes
    ----------------
    n_clusters : int
        Number of clusters (patients) with at least one unit.
    variance : float
        Ratio-estimator variance of the proportion.
    design_effect : float
        ``variance / (p(1-p)/n)``; 1 means no intra-cluster correlation. Set
        to 1 when ``p`` is 0 or 1 (no within-sample variation to measure).
    """

    n_clusters: int = 0
    variance: float = float("nan")
    design_effect: float = float("nan")

    def to_dict(self) -> dict:
        return asdict(self)


def cluster_counts(outcomes, clusters) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster successes and totals from unit-level 0/1 outcomes.

    Parameters
    ----------
    outcomes : array_like of {0, 1}
        One outcome per unit (e.g. lesion detected).
    clusters : array_like
        Cluster (patient) label per unit.

    Returns
    -------
    successes, n : numpy.ndarray
        In the order of the sorted unique cluster labels.

    Examples
    --------
    >>> cluster_counts([1, 0, 1, 1], ["p1", "p1", "p2", "p3"])
    (array([1, 1, 1]), array([2, 1, 1]))
    """
    y = check_binary_labels(outcomes, "outcomes", require_both=False)
    c = np.asarray(clusters)
    if c.ndim != 1:
        raise ValueError(f"'clusters' must be 1-D; got shape {c.shape}")
    check_same_length(outcomes=y, clusters=c)
    _, inv = np.unique(c, return_inverse=True)
    inv = inv.reshape(-1)
    return np.bincount(inv, weights=y).astype(np.int64), np.bincount(inv).astype(np.int64)


def clustered_proportion_ci(
    successes_per_cluster,
    n_per_cluster,
    *,
    method: Literal["wilson", "wald"] = "wilson",
    confidence_level: float = 0.95,
) -> ClusteredInterval:
    """Confidence interval for a proportion of units that are clustered in patients.

    The estimate is the ratio ``p = sum(x_i) / sum(n_i)``; its variance is the
    ratio-estimator (cluster-robust) variance of Obuchowski [1]_ and Rao &
    Scott [2]_:

    ``Var(p) = K / (K - 1) * sum_i (x_i - p n_i)^2 / (sum_i n_i)^2``

    over the ``K`` clusters with ``n_i > 0``.

    Parameters
    ----------
    successes_per_cluster, n_per_cluster : array_like of int
        Per cluster: units with the outcome (e.g. detected lesions) and units
        (e.g. lesions). Clusters with ``n_i = 0`` contribute nothing.
    method : {'wilson', 'wald'}
        - ``'wilson'`` (default): Rao & Scott's design-effect adjustment [2]_:
          the Wilson score interval computed with the effective sample size
          ``n / deff`` (``deff = Var(p) / (p(1-p)/n)``) and effective
          successes ``p n / deff``; it stays inside [0, 1] and behaves at the
          boundaries like the Wilson interval.
        - ``'wald'``: ``p +/- z sqrt(Var(p))`` truncated to [0, 1], as in
          Obuchowski [1]_.
    confidence_level : float

    Returns
    -------
    ClusteredInterval
        ``n`` is the number of units; ``n_clusters`` the number of clusters.

    Raises
    ------
    ValueError
        Unequal lengths, negative counts, successes above n, no units, or
        fewer than two clusters.

    Notes
    -----
    When ``p`` is 0 or 1 the ratio variance is 0 and the design effect cannot
    be estimated; it is taken as 1, so the ``'wilson'`` interval equals the
    ordinary Wilson interval on all units (the ``'wald'`` interval is then
    degenerate, which is one reason it is not the default).

    References
    ----------
    .. [1] Obuchowski NA. On the comparison of correlated proportions for
       clustered data. Stat Med 1998;17:1495-1507.
       doi:10.1002/(SICI)1097-0258(19980715)17:13<1495::AID-SIM863>3.0.CO;2-I
    .. [2] Rao JNK, Scott AJ. A simple method for the analysis of clustered
       binary data. Biometrics 1992;48:577-585. doi:10.2307/2532311

    Examples
    --------
    >>> r = clustered_proportion_ci([2, 1, 0, 3], [2, 2, 1, 3], method="wald")
    >>> round(r.estimate, 4), r.n, r.n_clusters
    (0.75, 8, 4)
    """
    method = check_choice(method, "method", ("wilson", "wald"))
    cl = check_confidence_level(confidence_level)
    x = check_counts(successes_per_cluster, "successes_per_cluster")
    m = check_counts(n_per_cluster, "n_per_cluster")
    if x.ndim != 1 or m.ndim != 1:
        raise ValueError(
            f"'successes_per_cluster' and 'n_per_cluster' must be 1-D; got shapes {x.shape} and {m.shape}"
        )
    check_same_length(successes_per_cluster=x, n_per_cluster=m)
    check_count_not_above(x, "successes_per_cluster", m, "n_per_cluster")
    keep = m > 0
    x, m = x[keep], m[keep]
    k = int(x.size)
    if k < 2:
        raise ValueError(f"need at least 2 clusters with units; got {k}")
    n = int(m.sum())
    s = int(x.sum())
    p = s / n
    var = k / (k - 1) * float(np.sum((x - p * m) ** 2)) / n**2
    binom_var = p * (1 - p) / n
    deff = var / binom_var if binom_var > 0 else 1.0
    z = float(special.ndtri(0.5 + cl / 2))
    if method == "wald":
        half = z * np.sqrt(var)
        lo, hi = max(0.0, p - half), min(1.0, p + half)
    else:
        n_eff = n / deff if deff > 0 else float(n)
        x_eff = p * n_eff
        _, lo, hi = _bounds(np.asarray(x_eff), np.asarray(n_eff), "wilson", cl)
        lo, hi = float(lo), float(hi)
    return ClusteredInterval(float(p), float(lo), float(hi), cl, method, n, k, float(var), float(deff))


def clustered_roc_auc(
    y_true, scores, clusters, *, method: Literal["obuchowski"] = "obuchowski", confidence_level: float = 0.95
) -> AUCResult:
    """AUC for clustered data (several units per patient) with Obuchowski's variance.

    The estimate is the ordinary unit-level Mann-Whitney AUC over all
    positive-negative unit pairs (ties 1/2). Its variance is Obuchowski's
    nonparametric clustered estimator [1]_: with ``I`` clusters, ``m_i``
    positive and ``n_i`` negative units in cluster ``i`` (``M`` and ``N`` in
    total), and cluster sums of the DeLong placement values ``V10_i`` (over
    the cluster's positives) and ``V01_i`` (over its negatives),

    ``S10 = I / ((I-1) M) * sum_i (V10_i - m_i A)^2``,
    ``S01 = I / ((I-1) N) * sum_i (V01_i - n_i A)^2``,
    ``S11 = I / (I-1) * sum_i (V10_i - m_i A)(V01_i - n_i A)``,

    ``Var(A) = S10/M + S01/N + 2 S11/(M N)``.

    Parameters
    ----------
    y_true : array_like of {0, 1}
        Unit-level truth (e.g. image or lesion-candidate label).
    scores : array_like of float
    clusters : array_like
        Patient id per unit.
    method : {'obuchowski'}
    confidence_level : float

    Returns
    -------
    AUCResult
        ``method='obuchowski'`` and ``n_clusters`` set; interval Wald on the
        AUC scale clipped to [0, 1].

    Notes
    -----
    With one unit per cluster the estimator equals DeLong's up to the
    small-sample factors (``I/(I-1)`` in place of ``M/(M-1)`` and
    ``N/(N-1)``); the tests check this.

    References
    ----------
    .. [1] Obuchowski NA. Nonparametric analysis of clustered ROC curve data.
       Biometrics 1997;53:567-578. doi:10.2307/2533958

    Examples
    --------
    >>> r = clustered_roc_auc([0, 1, 0, 1, 0, 1], [0.2, 0.7, 0.4, 0.6, 0.1, 0.3], [1, 1, 2, 2, 3, 3])
    >>> round(r.estimate, 4), r.n_clusters
    (0.8889, 3)
    """
    check_choice(method, "method", ("obuchowski",))
    cl = check_confidence_level(confidence_level)
    y = check_binary_labels(y_true, "y_true")
    s = check_scores(scores, "scores", n=y.size)
    c = np.asarray(clusters)
    if c.ndim != 1:
        raise ValueError(f"'clusters' must be 1-D; got shape {c.shape}")
    check_same_length(y_true=y, clusters=c)
    if c.dtype.kind == "f" and np.isnan(c).any():
        raise ValueError(f"'clusters' contains NaN (first at index {int(np.flatnonzero(np.isnan(c))[0])})")
    _, inv = np.unique(c, return_inverse=True)
    inv = inv.reshape(-1)
    n_cl = int(inv.max()) + 1
    if n_cl < 2:
        raise ValueError(f"'clusters' must contain at least 2 distinct clusters; got {n_cl}")
    v10, v01 = _placements(y, s)
    M, N = v10.size, v01.size
    auc = float(v10.mean())
    mi = np.bincount(inv[y], minlength=n_cl).astype(float)
    ni = np.bincount(inv[~y], minlength=n_cl).astype(float)
    v10i = np.bincount(inv[y], weights=v10, minlength=n_cl)
    v01i = np.bincount(inv[~y], weights=v01, minlength=n_cl)
    r10 = v10i - mi * auc
    r01 = v01i - ni * auc
    f = n_cl / (n_cl - 1)
    s10 = f / M * float(np.dot(r10, r10))
    s01 = f / N * float(np.dot(r01, r01))
    s11 = f * float(np.dot(r10, r01))
    var = max(s10 / M + s01 / N + 2 * s11 / (M * N), 0.0)
    se = float(np.sqrt(var))
    z = float(special.ndtri(0.5 + cl / 2))
    return AUCResult(auc, max(0.0, auc - z * se), min(1.0, auc + z * se), var, se, M, N, cl, "obuchowski", n_cl)

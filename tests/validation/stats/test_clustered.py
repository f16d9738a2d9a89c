"""Tests of validation.stats.clustered.

Sources of expected values
--------------------------
* Ratio-estimator variance (Obuchowski 1998; Rao & Scott 1992) written out by hand.
* Obuchowski (1997) clustered AUC variance implemented here from its formulas
  with explicit loops over clusters and unit pairs (independent of the
  midrank implementation), and its exact relation to DeLong's variance for
  one unit per cluster (derived below).
* No R package with these estimators is installed (none in Debian), so no
  third-party software comparison; the cluster bootstrap is compared instead.
"""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pathlib import Path

import validation.stats.clustered as C
from validation.stats import (
    bootstrap,
    cluster_counts,
    clustered_proportion_ci,
    clustered_roc_auc,
    proportion_ci,
    roc_auc,
)
from validation.stats.results import Interval

ROC = pd.read_csv(Path(__file__).parent / "data" / "roc_data.csv")


def test_docstring_examples():
    assert doctest.testmod(C, raise_on_error=False).failed == 0


def test_ratio_variance_by_hand():
    # x = [2, 1, 0, 3], n = [2, 2, 1, 3]: p = 6/8 = 0.75
    # residuals x_i - p n_i = 0.5, -0.5, -0.75, 0.75; squares sum to 1.625
    # Var = K/(K-1) * 1.625 / 8^2 = 4/3 * 1.625 / 64 = 0.0338541666...
    r = clustered_proportion_ci([2, 1, 0, 3], [2, 2, 1, 3], method="wald")
    assert r.variance == pytest.approx(4 / 3 * 1.625 / 64, rel=1e-12)
    z = 1.959963984540054
    assert r.lower == pytest.approx(0.75 - z * np.sqrt(r.variance), rel=1e-12)
    assert r.upper == pytest.approx(min(1.0, 0.75 + z * np.sqrt(r.variance)), rel=1e-12)
    # design effect = Var / (p(1-p)/n) = 0.033854 / (0.1875/8)
    assert r.design_effect == pytest.approx(r.variance / (0.75 * 0.25 / 8), rel=1e-12)
    assert isinstance(r, Interval) and r.to_dict()["n_clusters"] == 4


def test_singleton_clusters_reduce_to_wilson_with_k_over_k_minus_1():
    # n_i = 1 for all K clusters: sum (x_i - p)^2 = n p (1-p), so Var = K/(K-1) p(1-p)/n
    # and deff = K/(K-1); the Wilson interval uses n_eff = n (K-1)/K.
    x = np.array([1] * 30 + [0] * 20)
    r = clustered_proportion_ci(x, np.ones(50, int))
    assert r.design_effect == pytest.approx(50 / 49, rel=1e-12)
    z = 1.959963984540054
    n_eff, p = 50 * 49 / 50, 0.6
    centre = (p * n_eff + z * z / 2) / (n_eff + z * z)
    half = z * np.sqrt(n_eff) / (n_eff + z * z) * np.sqrt(p * (1 - p) + z * z / (4 * n_eff))
    assert (r.lower, r.upper) == pytest.approx((centre - half, centre + half), rel=1e-12)


def test_boundary_proportions():
    r = clustered_proportion_ci([3, 2, 4], [3, 2, 4])  # p = 1
    assert r.estimate == 1.0 and r.upper == 1.0 and r.design_effect == 1.0
    assert r.lower == pytest.approx(proportion_ci(9, 9).lower, rel=1e-12)
    z = clustered_proportion_ci([0, 0, 0], [3, 2, 4])
    assert z.estimate == 0.0 and z.lower == 0.0 and z.upper > 0


def test_empty_clusters_are_ignored():
    a = clustered_proportion_ci([2, 1, 0, 0], [2, 2, 1, 0])
    b = clustered_proportion_ci([2, 1, 0], [2, 2, 1])
    assert a == b and a.n_clusters == 3


def test_positive_intracluster_correlation_widens():
    rng = np.random.default_rng(8)
    p_patient = rng.beta(0.5, 0.5, 200)
    n = rng.integers(2, 6, 200)
    x = rng.binomial(n, p_patient)
    r = clustered_proportion_ci(x, n)
    naive = proportion_ci(int(x.sum()), int(n.sum()))
    assert r.design_effect > 1.5
    assert (r.upper - r.lower) > 1.2 * (naive.upper - naive.lower)


@pytest.mark.parametrize(
    "args,exc,msg",
    [
        (([1, 2], [1]), ValueError, r"same length; got successes_per_cluster=2, n_per_cluster=1"),
        (([3, 1], [2, 2]), ValueError, r"'successes_per_cluster' must not exceed 'n_per_cluster'; got .*=3 > .*=2 at index \(0,\)"),
        (([1, -1], [2, 2]), ValueError, r"'successes_per_cluster' must be a non-negative integer count"),
        (([1], [2]), ValueError, r"need at least 2 clusters with units; got 1"),
        (([1, np.nan], [2, 2]), ValueError, r"NaN"),
    ],
)
def test_proportion_bad_input(args, exc, msg):
    with pytest.raises(exc, match=msg):
        clustered_proportion_ci(*args)


def test_cluster_counts():
    x, n = cluster_counts([1, 0, 1, 1, 0], ["b", "a", "b", "c", "a"])
    assert x.tolist() == [0, 2, 1] and n.tolist() == [2, 2, 1]
    with pytest.raises(ValueError, match="same length"):
        cluster_counts([1, 0], ["a"])


# ---------------------------------------------------------------- clustered AUC
def _obuchowski_by_loops(y, s, c):
    """Obuchowski (1997), eqs. for theta, V10, V01, S10, S01, S11 with explicit loops."""
    ids = sorted(set(c))
    I = len(ids)
    X = [s[(c == k) & (y == 1)] for k in ids]
    Y = [s[(c == k) & (y == 0)] for k in ids]
    allx, ally = np.concatenate(X), np.concatenate(Y)
    M, N = allx.size, ally.size

    def psi(a, b):
        return 1.0 if a > b else (0.5 if a == b else 0.0)

    theta = sum(psi(a, b) for a in allx for b in ally) / (M * N)
    v10 = [sum(sum(psi(a, b) for b in ally) / N for a in X[i]) for i in range(I)]
    v01 = [sum(sum(psi(a, b) for a in allx) / M for b in Y[i]) for i in range(I)]
    m = [x.size for x in X]
    n = [x.size for x in Y]
    s10 = I / ((I - 1) * M) * sum((v10[i] - m[i] * theta) ** 2 for i in range(I))
    s01 = I / ((I - 1) * N) * sum((v01[i] - n[i] * theta) ** 2 for i in range(I))
    s11 = I / (I - 1) * sum((v10[i] - m[i] * theta) * (v01[i] - n[i] * theta) for i in range(I))
    return theta, s10 / M + s01 / N + 2 * s11 / (M * N)


@pytest.mark.parametrize("seed", range(4))
def test_clustered_auc_against_formula_loops(seed):
    rng = np.random.default_rng(seed)
    k = 25
    sizes = rng.integers(1, 5, k)
    c = np.repeat(np.arange(k), sizes)
    frailty = rng.normal(0, 1, k)[c]
    y = (rng.random(c.size) < 0.4).astype(int)
    y[:2] = [0, 1]
    s = np.round(frailty + 1.2 * y + rng.normal(0, 1, c.size), 1)
    theta, var = _obuchowski_by_loops(y, s, c)
    r = clustered_roc_auc(y, s, c)
    assert r.estimate == pytest.approx(theta, abs=1e-12)
    assert r.variance == pytest.approx(var, rel=1e-10)
    assert r.method == "obuchowski" and r.n_clusters == k


def test_singleton_clusters_relate_exactly_to_delong():
    # One unit per cluster: S11 = 0 (no cluster has both classes) and
    # Var_obu = I/(I-1) * (SS10/M^2 + SS01/N^2), while
    # Var_DeLong = SS10/(M(M-1)) + SS01/(N(N-1)), with SS the sums of squared
    # deviations of the placement values from the AUC.
    y, s = ROC.y.to_numpy(), ROC.score_a.to_numpy()
    r = clustered_roc_auc(y, s, np.arange(y.size))
    d = roc_auc(y, s)
    M, N, I = d.n_pos, d.n_neg, y.size
    v10, v01 = C._placements(y.astype(bool), s)
    ss10 = np.sum((v10 - d.estimate) ** 2)
    ss01 = np.sum((v01 - d.estimate) ** 2)
    assert d.variance == pytest.approx(ss10 / (M * (M - 1)) + ss01 / (N * (N - 1)), rel=1e-12)
    assert r.variance == pytest.approx(I / (I - 1) * (ss10 / M**2 + ss01 / N**2), rel=1e-12)
    assert r.estimate == pytest.approx(d.estimate)


def test_clustered_auc_close_to_cluster_bootstrap():
    y, s, c = ROC.y.to_numpy(), ROC.score_a.to_numpy(), ROC.cluster.to_numpy()
    r = clustered_roc_auc(y, s, c)

    def auc(yy, ss):
        return roc_auc(yy, ss).estimate

    b = bootstrap(auc, y, s, clusters=c, n_resamples=400, method="percentile", seed=1)
    assert r.standard_error == pytest.approx(b.standard_error, rel=0.15)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_property_invariant_to_row_order_and_labels(seed):
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 12, 60)
    y = rng.integers(0, 2, 60)
    y[:2] = [0, 1]
    c[:2] = [0, 1]
    s = np.round(rng.normal(y, 1), 1)
    a = clustered_roc_auc(y, s, c)
    perm = rng.permutation(60)
    b = clustered_roc_auc(y[perm], s[perm], np.array([f"patient-{v}" for v in c[perm]]))
    assert a.estimate == pytest.approx(b.estimate) and a.variance == pytest.approx(b.variance, rel=1e-9, abs=1e-15)
    assert 0 <= a.lower <= a.estimate <= a.upper <= 1


@pytest.mark.parametrize(
    "y,s,c,msg",
    [
        ([0, 1, 1], [0.1, 0.2, 0.3], [1, 1, 1], r"at least 2 distinct clusters; got 1"),
        ([0, 1, 1], [0.1, 0.2, 0.3], [1, 2], r"same length; got y_true=3, clusters=2"),
        ([1, 1, 1], [0.1, 0.2, 0.3], [1, 2, 3], r"'y_true' must contain both classes"),
        ([0, 1, 1], [0.1, np.nan, 0.3], [1, 2, 3], r"'scores' contains 1 NaN"),
        ([0, 1, 1], [0.1, 0.2, 0.3], [1.0, np.nan, 2.0], r"'clusters' contains NaN \(first at index 1\)"),
    ],
)
def test_clustered_auc_bad_input(y, s, c, msg):
    with pytest.raises(ValueError, match=msg):
        clustered_roc_auc(y, s, c)

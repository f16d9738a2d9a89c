"""Tests of validation.stats.bootstrap.

Sources of expected values
--------------------------
* scipy 1.17 ``scipy.stats.bootstrap(..., rng=numpy.random.default_rng(seed))``:
  with the same seed the resample indices are drawn in the same order, so the
  percentile and BCa intervals must agree to floating-point precision.
* The BCa acceleration written out from the delete-one jackknife
  (Efron & Tibshirani 1993, eq. 14.15) with a plain loop over all rows.
"""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
from scipy import stats

from validation.stats import bootstrap, cluster_counts, clustered_proportion_ci

# the package re-exports the function under the module's name, so fetch the module itself
B = importlib.import_module("validation.stats.bootstrap")


def sens(y, p, axis=-1):
    with np.errstate(invalid="ignore"):  # 0/0 -> NaN when a resample has no positives
        return (y & p).sum(axis=axis) / y.sum(axis=axis)


def test_docstring_examples():
    assert doctest.testmod(B, raise_on_error=False).failed == 0


@pytest.mark.parametrize("method,sp", [("percentile", "percentile"), ("bca", "BCa")])
@pytest.mark.parametrize("cl", [0.9, 0.95])
def test_equals_scipy_bootstrap_vectorised(method, sp, cl):
    x = np.random.default_rng(5).exponential(size=60)
    ref = stats.bootstrap((x,), np.mean, n_resamples=2000, method=sp, confidence_level=cl,
                          rng=np.random.default_rng(7))
    r = bootstrap(np.mean, x, n_resamples=2000, method=method, confidence_level=cl, seed=7)
    assert r.lower == pytest.approx(ref.confidence_interval.low, rel=1e-12)
    assert r.upper == pytest.approx(ref.confidence_interval.high, rel=1e-12)
    assert r.standard_error == pytest.approx(ref.standard_error, rel=1e-12)
    assert r.estimate == pytest.approx(x.mean())


def test_equals_scipy_bootstrap_generic_loop():
    x = np.random.default_rng(6).normal(size=45)

    def median(v):  # no axis parameter: the generic path
        return float(np.median(v))

    ref = stats.bootstrap((x,), np.median, n_resamples=999, method="BCa", rng=np.random.default_rng(3))
    r = bootstrap(median, x, n_resamples=999, seed=3)
    assert (r.lower, r.upper) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high), rel=1e-12)


def test_acceleration_equals_plain_jackknife():
    """Deduplicated jackknife == brute-force delete-one jackknife over all n rows."""
    rng = np.random.default_rng(2)
    y = rng.random(150) < 0.4
    p = np.where(y, rng.random(150) < 0.8, rng.random(150) < 0.2)
    r = bootstrap(sens, y, p, n_resamples=500)
    jack = np.array([sens(np.delete(y, i), np.delete(p, i)) for i in range(150)])
    d = jack.mean() - jack
    a = np.sum(d**3) / (6 * np.sum(d**2) ** 1.5)  # Efron & Tibshirani (1993) eq. 14.15
    assert r.acceleration == pytest.approx(a, rel=1e-10)


def test_stratified_keeps_stratum_sizes():
    y = np.array([1] * 30 + [0] * 70)
    r = bootstrap(lambda v: float(v.sum()), y, strata=y, n_resamples=300, method="percentile")
    assert r.standard_error == 0.0 and r.lower == r.upper == 30 and r.n_strata == 2
    free = bootstrap(lambda v: float(v.sum()), y, n_resamples=300, method="percentile")
    assert free.standard_error > 0


def test_cluster_resampling_keeps_whole_clusters():
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 5, 80)
    cl = np.repeat(np.arange(80), sizes)
    size_of_row = sizes[cl].astype(float)

    def complete(c, size):
        # every cluster present appears a multiple of its size times
        _, counts = np.unique(c, return_counts=True)
        first = {k: s for k, s in zip(c, size)}
        return 1.0 if all(counts[i] % first[k] == 0 for i, k in enumerate(np.unique(c))) else np.nan

    r = bootstrap(complete, cl.astype(float), size_of_row, clusters=cl, n_resamples=200, method="percentile")
    assert r.n_invalid == 0 and r.estimate == 1.0 and r.n_clusters == 80


def test_cluster_bootstrap_se_matches_ratio_estimator():
    # Strongly clustered detections: the cluster bootstrap SE and the ratio-estimator
    # (Obuchowski 1998) SE estimate the same quantity; they agree within Monte-Carlo error.
    rng = np.random.default_rng(4)
    k = 300
    sizes = rng.integers(1, 6, k)
    p_patient = rng.beta(2, 1, k)
    cl = np.repeat(np.arange(k), sizes)
    hit = rng.random(cl.size) < p_patient[cl]
    x, n = cluster_counts(hit, cl)
    ratio = clustered_proportion_ci(x, n)
    r = bootstrap(np.mean, hit.astype(float), clusters=cl, n_resamples=2000)
    assert r.standard_error == pytest.approx(np.sqrt(ratio.variance), rel=0.08)
    naive = np.sqrt(hit.mean() * (1 - hit.mean()) / hit.size)
    assert r.standard_error > 1.2 * naive  # clustering inflates the variance here


def test_reproducible_and_seed_sensitive():
    x = np.random.default_rng(1).normal(size=100)
    a = bootstrap(np.mean, x, seed=11, n_resamples=500)
    assert a == bootstrap(np.mean, x, seed=11, n_resamples=500)
    assert a != bootstrap(np.mean, x, seed=12, n_resamples=500)
    assert a.to_dict()["seed"] == 11


def test_chunking_does_not_change_result(monkeypatch):
    x = np.random.default_rng(1).normal(size=300)
    a = bootstrap(np.mean, x, seed=1, n_resamples=700)
    monkeypatch.setattr(B, "_WORK_ELEMENTS", 300 * 7)  # 7 resamples per chunk
    assert bootstrap(np.mean, x, seed=1, n_resamples=700) == a


def test_degenerate_sensitivity_one():
    y = np.ones(40, bool)
    y[:10] = False
    p = y.copy()
    r = bootstrap(sens, y, p, strata=y)
    assert (r.estimate, r.lower, r.upper) == (1.0, 1.0, 1.0)


def test_invalid_resamples_are_counted_not_hidden():
    y = np.zeros(30, bool)
    y[0] = True
    p = y.copy()
    r = bootstrap(sens, y, p, n_resamples=400, method="percentile")
    # P(positive absent from a resample) = (29/30)^30 ~ 0.36
    assert 80 < r.n_invalid < 220
    strat = bootstrap(sens, y, p, n_resamples=400, method="percentile", strata=y)
    assert strat.n_invalid == 0


def test_multidimensional_rows_generic_path():
    x = np.random.default_rng(0).normal(size=(50, 3))
    r = bootstrap(lambda m: float(np.linalg.norm(m.mean(axis=0))), x, n_resamples=200)
    assert r.lower <= r.upper and r.n == 50


@pytest.mark.parametrize(
    "call,exc,msg",
    [
        (lambda: bootstrap([1, 2, 3], np.mean), TypeError, r"'statistic' must be callable; got list"),
        (lambda: bootstrap(np.mean), TypeError, r"needs at least one data array"),
        (lambda: bootstrap(np.mean, [1.0, np.nan]), ValueError, r"'data\[0\]' contains NaN \(first at row 1\)"),
        (lambda: bootstrap(np.mean, []), ValueError, r"'data\[0\]' must not be empty"),
        (lambda: bootstrap(sens, [1, 0], [1, 0, 1]), ValueError, r"same length; got lengths \[2, 3\]"),
        (lambda: bootstrap(np.mean, [1.0, 2.0], n_resamples=1), ValueError, r"'n_resamples' must be >= 2; got 1"),
        (lambda: bootstrap(np.mean, [1.0, 2.0], method="BCa"), ValueError, r"'method' must be one of 'bca', 'percentile'; got 'BCa'"),
        (lambda: bootstrap(np.mean, [1.0, 2.0], confidence_level=1.5), ValueError, r"'confidence_level' must be in \(0, 1\); got 1.5"),
        (lambda: bootstrap(np.mean, [1.0, 2.0], seed=-1), ValueError, r"'seed' must be >= 0; got -1"),
        (lambda: bootstrap(np.mean, [1.0, 2.0], strata=[1]), ValueError, r"'strata' must be 1-D with one entry per row \(2\)"),
        (lambda: bootstrap(np.mean, [1.0, 2.0], clusters=[1, 1]), ValueError, r"at least 2 distinct clusters; got 1"),
        (lambda: bootstrap(np.mean, [1.0, 2.0, 3.0], clusters=[1, 1, 2], strata=[0, 1, 1]), ValueError,
         r"each cluster must lie in one stratum; cluster 1 spans 2 strata"),
        (lambda: bootstrap(lambda v, axis=-1: v, [1.0, 2.0]), ValueError, r"'statistic' must return a scalar; got an array of shape \(2,\)"),
        (lambda: bootstrap(np.mean, ["a", "b"]), TypeError, r"'data\[0\]' must be numeric or boolean"),
    ],
)
def test_bad_arguments(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()

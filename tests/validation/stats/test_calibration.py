"""Calibration against scikit-learn 1.9 (brier_score_loss, calibration_curve),
statsmodels 0.15 (logistic GLM with offset) and hand derivations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss
from statsmodels.stats.proportion import proportion_confint

from validation.stats.calibration import (
    brier_score,
    calibration,
    calibration_intercept_slope,
    expected_calibration_error,
    reliability_curve,
)


def data(seed=0, n=400, shift=0.4, scale=1.6):
    # miscalibrated on purpose: true logit = shift + logit(p) / scale
    rng = np.random.default_rng(seed)
    p = special.expit(rng.normal(0, 1.5, n))
    y = (rng.random(n) < special.expit(shift + special.logit(p) / scale)).astype(int)
    return y, p


def test_brier_matches_sklearn():
    y, p = data()
    # scikit-learn 1.9: brier_score_loss(y, p)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), rel=1e-12)


@pytest.mark.parametrize("binning,strategy", [("equal-width", "uniform"), ("equal-mass", "quantile")])
def test_reliability_curve_matches_sklearn(binning, strategy):
    y, p = data(1)
    c = reliability_curve(y, p, n_bins=8, binning=binning)
    # scikit-learn 1.9: calibration_curve(y, p, n_bins=8, strategy=strategy) -> (prob_true, prob_pred), non-empty bins
    prob_true, prob_pred = calibration_curve(y, p, n_bins=8, strategy=strategy)
    ok = c.n > 0
    np.testing.assert_allclose(c.observed[ok], prob_true, rtol=1e-12)
    np.testing.assert_allclose(c.mean_predicted[ok], prob_pred, rtol=1e-12)
    assert c.n.sum() == y.size and c.binning == binning
    # Wilson per bin: statsmodels proportion_confint(events, n, method="wilson")
    for b in np.flatnonzero(ok):
        lo, hi = proportion_confint(round(c.observed[b] * c.n[b]), c.n[b], alpha=0.05, method="wilson")
        assert (c.lower[b], c.upper[b]) == pytest.approx((lo, hi), rel=1e-9)
    if binning == "equal-mass":
        assert c.n.max() - c.n.min() <= 1  # continuous probabilities: equal mass up to rounding


def test_ece_hand_derived():
    # 4 bins of width .25, right-closed. probs/labels:
    #   (0,.25]: .1(0) .2(0) .25(1)   -> mean .18333, observed 1/3 -> |.3333-.1833| = .15
    #   (.25,.5]: .4(0)               -> |0 - .4| = .4
    #   (.5,.75]: empty
    #   (.75,1]: .8(1) .9(1) 1.0(1) .95(0) -> mean .9125, observed .75 -> .1625
    # ECE = (3*.15 + 1*.4 + 4*.1625) / 8 = (.45 + .4 + .65) / 8 = .1875
    y = [0, 0, 1, 0, 1, 1, 1, 0]
    p = [0.1, 0.2, 0.25, 0.4, 0.8, 0.9, 1.0, 0.95]
    assert expected_calibration_error(y, p, n_bins=4) == pytest.approx(0.1875)
    c = reliability_curve(y, p, n_bins=4)
    assert c.n.tolist() == [3, 1, 0, 4] and math.isnan(c.observed[2])
    assert c.to_dict()["observed"][2] is None


def test_intercept_and_slope_match_statsmodels_glm():
    y, p = data(2)
    lp = special.logit(p)
    # statsmodels 0.15: GLM(y, ones, family=Binomial(), offset=lp).fit() -> calibration intercept
    fit_a = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=lp).fit()
    # statsmodels 0.15: GLM(y, add_constant(lp), family=Binomial()).fit() -> calibration slope
    fit_b = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
    r = calibration_intercept_slope(y, p)
    assert r.intercept.estimate == pytest.approx(fit_a.params[0], rel=1e-8)
    assert r.slope.estimate == pytest.approx(fit_b.params[1], rel=1e-8)
    ci_a, ci_b = fit_a.conf_int(0.05)[0], fit_b.conf_int(0.05)[1]
    assert (r.intercept.lower, r.intercept.upper) == pytest.approx(tuple(ci_a), rel=1e-7)
    assert (r.slope.lower, r.slope.upper) == pytest.approx(tuple(ci_b), rel=1e-7)
    # the simulated miscalibration is recovered in direction: slope < 1 (1/1.6), intercept > 0
    assert r.slope.upper < 1 and r.intercept.estimate > 0 and r.converged


def test_probabilities_of_zero_and_one_are_clipped_and_counted():
    y, p = data(3, n=100)
    p = p.copy()
    p[:3] = [0.0, 1.0, 1.0]
    r = calibration_intercept_slope(y, p)
    assert r.n_clipped == 3 and r.eps == 1e-12 and r.converged


def test_separation_is_reported_not_crashed():
    r = calibration([0, 0, 0, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2)
    assert r.recalibration.converged is False and math.isnan(r.recalibration.slope.estimate)
    one_class = calibration([0, 0, 0], [0.1, 0.2, 0.3], n_bins=2)
    assert one_class.recalibration is None and one_class.n == 3
    d = one_class.to_dict()
    assert d["binning"] == "equal-width" and d["recalibration"] is None


def test_perfectly_calibrated_large_sample():
    rng = np.random.default_rng(11)
    p = rng.uniform(0.02, 0.98, 20000)
    y = (rng.random(p.size) < p).astype(int)
    r = calibration(y, p, n_bins=10, binning="equal-mass")
    assert r.ece < 0.02
    assert r.recalibration.intercept.lower < 0 < r.recalibration.intercept.upper
    assert r.recalibration.slope.lower < 1 < r.recalibration.slope.upper


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=1, max_size=50),
       st.sampled_from(["equal-width", "equal-mass"]), st.integers(1, 12))
def test_property_ece_bounded_and_order_invariant(cases, binning, n_bins):
    y = [c[0] for c in cases]
    p = [c[1] for c in cases]
    e = expected_calibration_error(y, p, n_bins=n_bins, binning=binning)
    assert 0 <= e <= 1
    assert expected_calibration_error(y[::-1], p[::-1], n_bins=n_bins, binning=binning) == pytest.approx(e)
    assert 0 <= brier_score(y, p) <= 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="'binning' must be one of 'equal-width', 'equal-mass'; got 'quantile'"):
        calibration([0, 1], [0.2, 0.8], binning="quantile")
    with pytest.raises(ValueError, match=r"'prob' must lie in \[0, 1\]; got 1.2 at index 1"):
        brier_score([0, 1], [0.2, 1.2])
    with pytest.raises(ValueError, match=r"'prob' contains 1 NaN value\(s\) \(first at index 0\)"):
        brier_score([0, 1], [np.nan, 0.5])
    with pytest.raises(ValueError, match="'y_true' and 'prob' must have the same length; got 2 and 3"):
        brier_score([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="'n_bins' must be >= 1; got 0"):
        reliability_curve([0, 1], [0.1, 0.2], n_bins=0)
    with pytest.raises(ValueError, match="'y_true' must contain both classes"):
        calibration_intercept_slope([1, 1], [0.1, 0.2])

"""Tests for monitoring.performance (CBPE and realised performance).

Independent software: scikit-learn 1.x ``IsotonicRegression(out_of_bounds="clip")``,
statsmodels 0.15 ``Logit`` and ``proportion_confint(method="wilson")``. Simulations
draw labels from known calibrated probabilities, so the realised metrics of each
window are the truth the estimate is compared with.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from monitoring.performance import CBPE, realised_performance
from validation.errors import InputError
from validation.stats.roc import roc_auc

THRESHOLD = 0.45


def _cases(rng, n, mean=-1.0):
    """Latent x ~ N(mean, 1.5); true P(y=1) = expit(x); the model's raw score is a
    monotone but miscalibrated transform expit(x/2 + 0.3), so calibration must be fitted."""
    x = rng.normal(mean, 1.5, n)
    p = 1 / (1 + np.exp(-x))
    y = (rng.random(n) < p).astype(int)
    score = 1 / (1 + np.exp(-(x / 2 + 0.3)))
    return score, y


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_estimate_within_band_of_realised_in_most_windows(method):
    rng = np.random.default_rng(11)
    cbpe = CBPE.fit(*_cases(rng, 4000), method=method)
    hits = {"sensitivity": 0, "specificity": 0, "auc": 0}
    n_windows = 40
    for w in range(n_windows):
        s, y = _cases(rng, 400)
        est = cbpe.estimate(s, threshold=THRESHOLD, n_resamples=400, seed=w)
        real = realised_performance(y, s, threshold=THRESHOLD)
        auc = roc_auc(y, s).estimate
        hits["sensitivity"] += est.sensitivity.lower <= real.sensitivity.estimate <= est.sensitivity.upper
        hits["specificity"] += est.specificity.lower <= real.specificity.estimate <= est.specificity.upper
        hits["auc"] += est.auc.lower <= auc <= est.auc.upper
    # nominal 95 % bands; calibration is itself estimated from 4000 cases, so allow some loss
    for name, k in hits.items():
        assert k >= 0.85 * n_windows, (name, k)


def test_estimate_follows_a_shifted_score_distribution():
    rng = np.random.default_rng(12)
    cbpe = CBPE.fit(*_cases(rng, 4000))
    s0, y0 = _cases(rng, 3000)
    s1, y1 = _cases(rng, 3000, mean=0.8)  # covariate shift: sicker population, higher scores
    e0 = cbpe.estimate(s0, threshold=THRESHOLD)
    e1 = cbpe.estimate(s1, threshold=THRESHOLD)
    r0 = realised_performance(y0, s0, threshold=THRESHOLD)
    r1 = realised_performance(y1, s1, threshold=THRESHOLD)
    # the estimate moves with the data...
    assert e1.sensitivity.estimate - e0.sensitivity.estimate > 0.05
    assert e1.specificity.estimate - e0.specificity.estimate < -0.05
    assert e1.expected_prevalence > e0.expected_prevalence + 0.2
    # ...in the direction and by the amount the realised metrics move
    for e, r in ((e0, r0), (e1, r1)):
        assert e.sensitivity.lower <= r.sensitivity.estimate <= e.sensitivity.upper
        assert e.specificity.lower <= r.specificity.estimate <= e.specificity.upper
    assert e1.kind == "estimate" and e1.sensitivity.kind == "estimate"


def test_expected_counts_by_hand():
    # Scores 0.2 (20 cases, 4 positive) and 0.8 (20 cases, 16 positive): already calibrated,
    # isotonic maps 0.2 -> 0.2 and 0.8 -> 0.8. Window [0.2, 0.2, 0.8, 0.8, 0.8], threshold 0.5:
    # E[TP] = 3(0.8) = 2.4, E[FN] = 2(0.2) = 0.4, E[FP] = 3(0.2) = 0.6, E[TN] = 2(0.8) = 1.6.
    # Expected AUC over ordered pairs i != j: high-over-low 3*2*0.8*0.8 = 3.84, ties among highs
    # 6 pairs * 0.8*0.2 * 1/2 = 0.48, ties among lows 2 pairs * 0.2*0.8 * 1/2 = 0.16 -> 4.48;
    # denominator sum p * sum(1-p) - sum p(1-p) = 2.8*2.2 - 5*0.16 = 5.36.
    s = np.r_[np.full(20, 0.2), np.full(20, 0.8)]
    y = np.r_[np.ones(4), np.zeros(16), np.ones(16), np.zeros(4)]
    cbpe = CBPE.fit(s, y)
    e = cbpe.estimate([0.2, 0.2, 0.8, 0.8, 0.8], threshold=0.5, n_resamples=200)
    assert (e.expected_tp, e.expected_fn, e.expected_fp, e.expected_tn) == pytest.approx((2.4, 0.4, 0.6, 1.6))
    assert e.sensitivity.estimate == pytest.approx(2.4 / 2.8)
    assert e.specificity.estimate == pytest.approx(1.6 / 2.2)
    assert e.auc.estimate == pytest.approx(4.48 / 5.36)
    assert e.positive_rate == pytest.approx(0.6)
    json.dumps(e.to_dict())


def test_isotonic_matches_scikit_learn():
    sklearn_iso = pytest.importorskip("sklearn.isotonic")
    rng = np.random.default_rng(13)
    s, y = _cases(rng, 1500)
    s = np.round(s, 2)  # ties
    cbpe = CBPE.fit(s, y, method="isotonic")
    new = np.r_[np.linspace(-0.1, 1.1, 57), s[:50]]
    # scikit-learn: IsotonicRegression(out_of_bounds="clip").fit(s, y).predict(new)
    ref = sklearn_iso.IsotonicRegression(out_of_bounds="clip").fit(s, y).predict(new)
    np.testing.assert_allclose(cbpe.calibrated(new), ref, rtol=1e-10, atol=1e-12)


def test_platt_matches_statsmodels_logit():
    import statsmodels.api as sm

    rng = np.random.default_rng(14)
    s, y = _cases(rng, 1500)
    cbpe = CBPE.fit(s, y, method="platt")
    t = np.log(s / (1 - s))
    # statsmodels 0.15: Logit(y, add_constant(logit(score))).fit()
    fit = sm.Logit(y, sm.add_constant(t)).fit(disp=0)
    new = np.linspace(0.05, 0.95, 19)
    expected = fit.predict(sm.add_constant(np.log(new / (1 - new))))
    np.testing.assert_allclose(cbpe.calibrated(new), expected, rtol=1e-6)


def test_normal_band_close_to_bootstrap_band_for_large_windows():
    rng = np.random.default_rng(15)
    cbpe = CBPE.fit(*_cases(rng, 3000))
    s, _ = _cases(rng, 5000)
    b = cbpe.estimate(s, threshold=THRESHOLD, band="bootstrap", n_resamples=2000, seed=1)
    n = cbpe.estimate(s, threshold=THRESHOLD, band="normal")
    for name in ("sensitivity", "specificity"):
        eb, en = getattr(b, name), getattr(n, name)
        assert en.estimate == eb.estimate
        assert (en.upper - en.lower) == pytest.approx(eb.upper - eb.lower, rel=0.1)
    assert math.isnan(n.auc.lower) and n.n_resamples == 0


def test_nan_scores_counted_and_empty_window_refused():
    rng = np.random.default_rng(16)
    s, y = _cases(rng, 500)
    y = y.astype(float)
    y[:3] = np.nan
    cbpe = CBPE.fit(s, y)
    assert cbpe.n_excluded_fit == 3 and cbpe.n_fit == 497
    e = cbpe.estimate(np.r_[s[:100], [np.nan, np.nan]], threshold=THRESHOLD, n_resamples=50)
    assert e.n == 100 and e.n_excluded == 2
    with pytest.raises(InputError, match=r"'scores' window has no scores.*n=2, 2 NaN excluded"):
        cbpe.estimate([np.nan, np.nan], threshold=THRESHOLD)
    with pytest.raises(InputError, match=r"calibration needs both classes; got 0 positives among 4"):
        CBPE.fit([0.1, 0.2, 0.3, 0.4], [0, 0, 0, 0])
    with pytest.raises(InputError, match=r"'labels'\[1\] = 2.0: labels must be 0, 1"):
        CBPE.fit([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError, match=r"'method' must be 'isotonic' or 'platt'; got 'beta'"):
        CBPE.fit(s, y, method="beta")
    with pytest.raises(ValueError, match=r"'confidence_level' must be in \(0, 1\); got 95"):
        cbpe.estimate(s, threshold=THRESHOLD, confidence_level=95)


def test_realised_performance_wilson_matches_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    y = np.r_[np.ones(50), np.zeros(150), [np.nan]]
    s = np.r_[np.full(42, 0.9), np.full(8, 0.1), np.full(135, 0.1), np.full(15, 0.9), [0.9]]
    r = realised_performance(y, s, threshold=0.5)
    assert (r.tp, r.fn, r.tn, r.fp) == (42, 8, 135, 15)
    assert r.n == 200 and r.n_excluded == 1 and r.kind == "realised"
    # statsmodels 0.15: proportion_confint(42, 50, alpha=0.05, method="wilson")
    lo, hi = proportion_confint(42, 50, alpha=0.05, method="wilson")
    assert (r.sensitivity.lower, r.sensitivity.upper) == pytest.approx((lo, hi), rel=1e-10)
    lo, hi = proportion_confint(135, 150, alpha=0.05, method="wilson")
    assert (r.specificity.lower, r.specificity.upper) == pytest.approx((lo, hi), rel=1e-10)
    json.dumps(r.to_dict())


def test_below_validated_flag():
    # 30/50 = 0.60, Wilson upper 0.727 (statsmodels proportion_confint(30, 50, method="wilson"))
    y = np.r_[np.ones(50), np.zeros(50)]
    s = np.r_[np.full(30, 0.9), np.full(20, 0.1), np.full(48, 0.1), np.full(2, 0.9)]
    r = realised_performance(y, s, threshold=0.5, validated_sensitivity_lower=0.80,
                             validated_specificity_lower=0.90)
    assert r.below_validated
    assert r.comparison["sensitivity"]["upper_below"] and r.comparison["sensitivity"]["estimate_below"]
    assert not r.comparison["specificity"]["estimate_below"]
    # 36/50 = 0.72 is below 0.80 but its upper bound (0.83) is not: a warning, not evidence
    s2 = np.r_[np.full(36, 0.9), np.full(14, 0.1), np.full(50, 0.1)]
    r2 = realised_performance(y, s2, threshold=0.5, validated_sensitivity_lower=0.80)
    assert not r2.below_validated and r2.comparison["sensitivity"]["estimate_below"]
    # no positives in the window: sensitivity undefined, not compared
    r3 = realised_performance(np.zeros(10), np.full(10, 0.1), threshold=0.5, validated_sensitivity_lower=0.8)
    assert math.isnan(r3.sensitivity.estimate) and not r3.below_validated
    assert r3.comparison["sensitivity"]["defined"] is False
    with pytest.raises(InputError, match=r"'y_true' has 3 values but 'scores' has 2"):
        realised_performance([0, 1, 1], [0.1, 0.2], threshold=0.5)
    with pytest.raises(InputError, match=r"window has no case with both a label and a score"):
        realised_performance([np.nan], [0.2], threshold=0.5)


def test_case_bootstrap_band_covers_realised_metric_of_fresh_windows():
    """The case-resampling band describes a *new* window from the same population.

    Each trial draws one window (n = 90, the size of a vendor subgroup in a
    demo week), computes its case-bootstrap band and checks whether the
    realised metric of an independent window of the same size falls inside.
    The labels-only band ("these very cases") covers far less often, which is
    why the monitor does not compare it with population-level limits.
    """
    rng = np.random.default_rng(21)
    cbpe = CBPE.fit(*_cases(rng, 6000))
    n, trials = 90, 60
    cover = {"case_bootstrap": 0, "bootstrap": 0}
    for t in range(trials):
        s_w, _ = _cases(rng, n)
        s_new, y_new = _cases(rng, n)
        d_new = s_new >= THRESHOLD
        spec_new = np.sum(~d_new & (y_new == 0)) / np.sum(y_new == 0)
        for band in cover:
            e = cbpe.estimate(s_w, threshold=THRESHOLD, band=band, n_resamples=400, seed=t)
            cover[band] += e.specificity.lower <= spec_new <= e.specificity.upper
    # nominal 95 % for the case band (two independent windows: about 2x the variance of one,
    # so the band of one window covers a fresh window's metric ~83 % of the time in theory);
    # the labels-only band has no case-mix variance and covers clearly less.
    assert cover["case_bootstrap"] >= 0.75 * trials, cover
    assert cover["case_bootstrap"] > cover["bootstrap"] + 5, cover


def test_case_bootstrap_band_variance_matches_binomial_and_design_effect():
    rng = np.random.default_rng(22)
    cbpe = CBPE.fit(*_cases(rng, 6000))
    s, _ = _cases(rng, 2000)
    e = cbpe.estimate(s, threshold=THRESHOLD, band="case_bootstrap", n_resamples=600, seed=1)
    # Law of total variance: case mix + labels = binomial variance of the realised metric.
    n_neg = e.expected_fp + e.expected_tn
    sp = e.specificity.estimate
    half = 1.959964 * math.sqrt(sp * (1 - sp) / n_neg)
    assert (e.specificity.upper - e.specificity.lower) / 2 == pytest.approx(half, rel=0.15)
    wide = cbpe.estimate(s, threshold=THRESHOLD, band="case_bootstrap", n_resamples=600, seed=1, design_effect=2.0)
    ratio = (wide.specificity.upper - wide.specificity.lower) / (e.specificity.upper - e.specificity.lower)
    assert ratio == pytest.approx(math.sqrt(2.0), rel=0.02)
    assert wide.design_effect == 2.0 and "design effect 2" in wide.specificity.method
    assert wide.specificity.estimate == e.specificity.estimate
    with pytest.raises(ValueError, match="design_effect"):
        cbpe.estimate(s, threshold=THRESHOLD, band="case_bootstrap", design_effect=0.5)

"""Tests of validation.stats.roc.

Sources of expected values
--------------------------
* R 4.2.2 + pROC 1.18.0 on data/roc_data.csv (synthetic, rounded scores with
  many ties): ``ci.auc(..., method = "delong")``, ``var(roc, method = "delong")``,
  ``roc.test(..., method = "delong", paired = TRUE)`` -> data/r_reference.json.
* scikit-learn 1.9 ``roc_auc_score`` and ``roc_curve`` (called here).
* DeLong et al. (1988) variance written out as an O(n^2) double loop over
  positive/negative pairs (independent of the midrank implementation).
"""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score, roc_curve

import validation.stats.roc as R
from validation.stats import (
    roc_auc,
    roc_auc_paired,
    roc_curve_band,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
)

DATA = Path(__file__).parent / "data"
REF = json.loads((DATA / "r_reference.json").read_text())["roc"]
ROC = pd.read_csv(DATA / "roc_data.csv")


def test_docstring_examples():
    assert doctest.testmod(R, raise_on_error=False).failed == 0


# ---------------------------------------------------------------- pROC
def test_auc_ci_and_variance_against_proc():
    r = roc_auc(ROC.y, ROC.score_a)
    np.testing.assert_allclose([r.estimate, r.lower, r.upper], REF["auc_a"], rtol=1e-12, err_msg=REF["auc_a_call"])
    assert r.variance == pytest.approx(REF["auc_a_var"], rel=1e-12)
    assert r.standard_error == pytest.approx(np.sqrt(REF["auc_a_var"]), rel=1e-12)
    assert (r.n_pos, r.n_neg, r.method) == (int(ROC.y.sum()), int((1 - ROC.y).sum()), "delong")


def test_auc_90_percent_against_proc():
    r = roc_auc(ROC.y, ROC.score_b, confidence_level=0.90)
    np.testing.assert_allclose([r.estimate, r.lower, r.upper], REF["auc_b_90"], rtol=1e-12, err_msg=REF["auc_b_90_call"])


def test_paired_delong_against_proc_roc_test():
    r = roc_auc_paired(ROC.y, ROC.score_a, ROC.score_b)
    assert r.z == pytest.approx(REF["paired_z"], rel=1e-10)
    assert r.p_value == pytest.approx(REF["paired_p"], rel=1e-10)
    np.testing.assert_allclose([r.lower, r.upper], REF["paired_ci"], rtol=1e-10)
    np.testing.assert_allclose([r.auc_a, r.auc_b], REF["paired_estimate"], rtol=1e-12)
    assert r.difference == pytest.approx(r.auc_a - r.auc_b)
    assert -1 <= r.correlation <= 1


# ---------------------------------------------------------------- scikit-learn and a direct implementation
def _delong_by_pairs(y, s):
    """DeLong (1988) from its definition: psi(X, Y) = 1, 1/2, 0 for X >, =, < Y;
    V10_i = mean_j psi(X_i, Y_j), V01_j = mean_i psi(X_i, Y_j);
    Var = var(V10)/m + var(V01)/n with ddof = 1."""
    x, yy = s[y == 1], s[y == 0]
    psi = (x[:, None] > yy[None, :]) + 0.5 * (x[:, None] == yy[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), v10.var(ddof=1) / x.size + v01.var(ddof=1) / yy.size


@pytest.mark.parametrize("seed", range(5))
def test_against_sklearn_and_definition(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = np.round(rng.normal(y * rng.uniform(0, 2), 1), int(rng.integers(0, 3)))  # ties
    r = roc_auc(y, s)
    assert r.estimate == pytest.approx(roc_auc_score(y, s), abs=1e-12)  # scikit-learn 1.9
    auc, var = _delong_by_pairs(y, s)
    assert r.estimate == pytest.approx(auc, abs=1e-12)
    assert r.variance == pytest.approx(var, rel=1e-10)


def test_roc_curve_points_against_sklearn():
    c = roc_curve_band(ROC.y, ROC.score_a, n_resamples=50)
    fpr, tpr, thr = roc_curve(ROC.y, ROC.score_a, drop_intermediate=False)
    np.testing.assert_allclose(c.fpr, fpr)
    np.testing.assert_allclose(c.tpr, tpr)
    np.testing.assert_allclose(c.thresholds[1:], thr[1:])
    assert np.isinf(c.thresholds[0])
    assert c.auc == pytest.approx(roc_auc_score(ROC.y, ROC.score_a))


# ---------------------------------------------------------------- edge cases
def test_perfect_separation():
    r = roc_auc([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9])
    assert (r.estimate, r.lower, r.upper, r.variance) == (1.0, 1.0, 1.0, 0.0)
    inv = roc_auc([0, 0, 0, 1, 1], [0.9, 0.8, 0.7, 0.2, 0.1])
    assert (inv.estimate, inv.lower, inv.upper) == (0.0, 0.0, 0.0)


def test_all_scores_tied_gives_half():
    r = roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    assert r.estimate == 0.5 and r.variance == 0.0


def test_single_positive_case():
    # m = 1: S10 is undefined (ddof=1) and set to 0; Var = S01/n.
    y = [0, 0, 0, 1]
    s = [0.1, 0.5, 0.9, 0.6]
    r = roc_auc(y, s)
    v01 = np.array([1.0, 1.0, 0.0])  # positive 0.6 beats 0.1 and 0.5, loses to 0.9
    assert r.estimate == pytest.approx(2 / 3)
    assert r.variance == pytest.approx(v01.var(ddof=1) / 3)


@pytest.mark.parametrize(
    "y,s,exc,msg",
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], ValueError, r"'y_true' must contain both classes 0 and 1; got only class 1 \(n=3\)"),
        ([0, 0], [0.1, 0.2], ValueError, r"got only class 0"),
        ([0, 1, 1], [0.1, np.nan, 0.3], ValueError, r"'scores' contains 1 NaN value\(s\) \(first at index 1\)"),
        ([0, 1, 1], [0.1, np.inf, 0.3], ValueError, r"'scores' contains infinite values"),
        ([0, 1, np.nan], [0.1, 0.2, 0.3], ValueError, r"'y_true' contains 1 NaN"),
        ([0, 1, 1], [0.1, 0.2], ValueError, r"'scores' must have the same length as 'y_true' \(3\); got length 2"),
        ([], [], ValueError, r"'y_true' must not be empty"),
        ([0, 1, 2], [0.1, 0.2, 0.3], ValueError, r"'y_true' must contain only 0 and 1; got 2 at index 2"),
        ([0, 1], ["a", "b"], TypeError, r"'scores' must be a 1-D array of numbers"),
        ([[0, 1]], [[0.1, 0.2]], ValueError, r"'y_true' must be 1-D"),
    ],
)
def test_bad_input(y, s, exc, msg):
    with pytest.raises(exc, match=msg):
        roc_auc(y, s)


def test_bad_options():
    with pytest.raises(ValueError, match=r"'method' must be one of 'delong'; got 'hanley'"):
        roc_auc([0, 1], [0.1, 0.2], method="hanley")
    with pytest.raises(ValueError, match=r"'confidence_level' must be in \(0, 1\); got 1.5"):
        roc_auc([0, 1], [0.1, 0.2], confidence_level=1.5)
    with pytest.raises(ValueError, match=r"'scores_b' contains 1 NaN"):
        roc_auc_paired([0, 1], [0.1, 0.2], [0.1, np.nan])
    with pytest.raises(ValueError, match=r"'specificity' must be in \[0, 1\]; got 1.2"):
        sensitivity_at_specificity([0, 1], [0.1, 0.2], 1.2)
    with pytest.raises(ValueError, match=r"'n_resamples' must be >= 1; got 0"):
        roc_curve_band([0, 1], [0.1, 0.2], n_resamples=0)
    with pytest.raises(ValueError, match=r"'fpr_grid' values must be in \[0, 1\]"):
        roc_curve_band([0, 1], [0.1, 0.2], fpr_grid=[0.0, 1.5])


def test_paired_identical_scores():
    r = roc_auc_paired(ROC.y, ROC.score_a, ROC.score_a)
    assert (r.difference, r.standard_error, r.z, r.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert r.correlation == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(4, 80))
def test_property_invariant_to_row_order_and_ci_contains_estimate(seed, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = np.round(rng.normal(y, 1.0), 1)
    perm = rng.permutation(n)
    a, b = roc_auc(y, s), roc_auc(y[perm], s[perm])
    assert a.estimate == pytest.approx(b.estimate, abs=1e-12)
    assert a.variance == pytest.approx(b.variance, rel=1e-9, abs=1e-15)
    assert 0 <= a.lower <= a.estimate <= a.upper <= 1
    wide = roc_auc(y, s, confidence_level=0.99)
    assert wide.lower <= a.lower and wide.upper >= a.upper
    # monotone transformation of scores leaves everything unchanged
    c = roc_auc(y, np.exp(s))
    assert c.estimate == pytest.approx(a.estimate) and c.variance == pytest.approx(a.variance, rel=1e-9, abs=1e-15)


# ---------------------------------------------------------------- band and operating points
def _sens_at_spec_brute(y, s, spec):
    """Over all thresholds t (positive if s >= t): max TPR subject to TNR >= spec."""
    best = 0.0
    for t in np.r_[np.inf, np.unique(s)]:
        pred = s >= t
        tnr = np.mean(~pred[y == 0])
        if tnr >= spec - 1e-12:
            best = max(best, np.mean(pred[y == 1]))
    return best


def _spec_at_sens_brute(y, s, sens):
    best = 0.0
    for t in np.r_[np.inf, np.unique(s)]:
        pred = s >= t
        if np.mean(pred[y == 1]) >= sens - 1e-12:
            best = max(best, np.mean(~pred[y == 0]))
    return best


@pytest.mark.parametrize("target", [0.0, 0.5, 0.8, 0.9, 0.95, 1.0])
def test_operating_points_against_brute_force(target):
    y, s = ROC.y.to_numpy(), ROC.score_a.to_numpy()
    r = sensitivity_at_specificity(y, s, target, n_resamples=200)
    assert r.estimate == pytest.approx(_sens_at_spec_brute(y, s, target))
    assert r.achieved >= target - 1e-12
    q = specificity_at_sensitivity(y, s, target, n_resamples=200)
    assert q.estimate == pytest.approx(_spec_at_sens_brute(y, s, target))
    assert q.achieved >= target - 1e-12
    assert r.lower <= r.upper and q.lower <= q.upper


def test_band_grid_matches_brute_force_and_is_reproducible():
    y, s = ROC.y.to_numpy(), ROC.score_b.to_numpy()
    c = roc_curve_band(y, s, n_resamples=300, seed=4)
    for f in (0.0, 0.05, 0.1, 0.3, 1.0):
        i = int(np.argmin(np.abs(c.fpr_grid - f)))
        assert c.tpr_grid[i] == pytest.approx(_sens_at_spec_brute(y, s, 1 - f))
    again = roc_curve_band(y, s, n_resamples=300, seed=4)
    np.testing.assert_array_equal(c.lower, again.lower)
    other = roc_curve_band(y, s, n_resamples=300, seed=5)
    assert not np.array_equal(c.lower, other.lower)
    assert np.all(c.lower <= c.upper) and np.all(np.diff(c.tpr_grid) >= 0)
    assert c.lower[-1] == c.upper[-1] == 1.0
    d = c.to_dict()
    assert d["thresholds"][0] is None and d["n_resamples"] == 300
    json.dumps(d)


def test_band_matches_a_loop_bootstrap():
    """The vectorised resampling equals a plain loop over resamples drawn from the same stream."""
    y = np.array([0, 0, 0, 0, 1, 1, 1, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.5, 0.9, 0.7, 0.2, 0.3, 0.6])
    c = roc_curve_band(y, s, n_resamples=64, fpr_grid=[0.2], seed=9)
    # the stream draws positives then negatives for all 64 resamples of a chunk at once
    rng = np.random.default_rng(9)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    ip = rng.integers(0, pos.size, size=(64, pos.size))
    ineg = rng.integers(0, neg.size, size=(64, neg.size))
    vals = []
    for k in range(64):
        idx = np.r_[pos[ip[k]], neg[ineg[k]]]
        vals.append(_sens_at_spec_brute(y[idx], s[idx], 0.8))
    lo, hi = np.quantile(vals, [0.025, 0.975])
    assert c.lower[0] == pytest.approx(lo) and c.upper[0] == pytest.approx(hi)

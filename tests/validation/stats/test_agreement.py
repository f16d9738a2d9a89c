"""Cohen's kappa against statsmodels 0.15 (cohens_kappa, FCE 1969 SE) and scikit-learn 1.9."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import cohens_kappa, to_table

from validation.stats.agreement import cohen_kappa, cohen_kappa_table

TABLE = np.array([[22, 5, 2], [4, 18, 6], [1, 3, 19]])


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_table_matches_statsmodels(weights):
    # statsmodels 0.15: cohens_kappa(TABLE, wt=weights) -> kappa, std_kappa (FCE 1969), std_kappa0
    ref = cohens_kappa(TABLE, wt=weights)
    r = cohen_kappa_table(TABLE, weights=weights)
    assert r.estimate == pytest.approx(ref.kappa, rel=1e-12)
    assert r.se == pytest.approx(ref.std_kappa, rel=1e-10)
    assert r.se_null == pytest.approx(ref.std_kappa0, rel=1e-10)
    assert (r.lower, r.upper) == pytest.approx((ref.kappa_low, ref.kappa_upp), rel=1e-10)
    assert r.z == pytest.approx(ref.z_value, rel=1e-10)
    assert r.p_value == pytest.approx(2 * ref.pvalue_one_sided, rel=1e-8)


def test_hand_derived_two_by_two():
    # [[20, 5], [10, 15]], n = 50: p_o = 35/50 = .7; margins rows .5/.5, cols .6/.4
    # p_e = .5*.6 + .5*.4 = .5; kappa = (.7-.5)/(1-.5) = .4
    r = cohen_kappa_table([[20, 5], [10, 15]])
    assert r.estimate == pytest.approx(0.4)
    assert (r.observed_agreement, r.expected_agreement) == pytest.approx((0.7, 0.5))


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_labels_match_sklearn_and_statsmodels(weights):
    rng = np.random.default_rng(5)
    a = rng.integers(0, 4, 200)
    b = np.where(rng.random(200) < 0.6, a, rng.integers(0, 4, 200))
    r = cohen_kappa(a, b, weights=weights)
    # scikit-learn 1.9: cohen_kappa_score(a, b, weights=weights)
    assert r.estimate == pytest.approx(cohen_kappa_score(a, b, weights=weights), rel=1e-12)
    # statsmodels: cohens_kappa(to_table(np.column_stack([a, b]))[0], wt=weights).std_kappa
    table = to_table(np.column_stack([a, b]))[0]
    assert r.se == pytest.approx(cohens_kappa(table, wt=weights).std_kappa, rel=1e-10)
    assert r.n == 200 and r.categories == (0, 1, 2, 3)


def test_string_labels_and_unused_category():
    r = cohen_kappa(["neg", "pos", "pos"], ["neg", "pos", "neg"], categories=["neg", "pos", "equivocal"])
    assert r.categories == ("neg", "pos", "equivocal")
    assert r.estimate == pytest.approx(cohen_kappa_score(["neg", "pos", "pos"], ["neg", "pos", "neg"]))


def test_single_category_is_undefined_not_an_error():
    r = cohen_kappa([1, 1, 1], [1, 1, 1])
    assert math.isnan(r.estimate) and r.expected_agreement == 1.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=2, max_size=60))
def test_property_symmetric_and_bounded(pairs):
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    r1, r2 = cohen_kappa(a, b), cohen_kappa(b, a)
    if not math.isnan(r1.estimate):
        assert r1.estimate == pytest.approx(r2.estimate)
        assert r1.se == pytest.approx(r2.se, abs=1e-12)
        assert -1 - 1e-12 <= r1.estimate <= 1 + 1e-12
        assert r1.lower <= r1.estimate <= r1.upper


def test_bad_arguments():
    with pytest.raises(ValueError, match="'table' must be a square k x k table with k >= 2; got shape"):
        cohen_kappa_table([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError, match="'table' must be a non-negative integer count"):
        cohen_kappa_table([[1, -2], [3, 4]])
    with pytest.raises(ValueError, match="'weights' must be one of 'none', 'linear', 'quadratic'; got 'cubic'"):
        cohen_kappa_table(TABLE, weights="cubic")
    with pytest.raises(ValueError, match="'rater_a' and 'rater_b' must have the same length; got 2 and 3"):
        cohen_kappa([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="'rater_b' has a missing label at index 1"):
        cohen_kappa([1, 2], [1, None])
    with pytest.raises(ValueError, match="'rater_a' contains label 3, which is not in 'categories'"):
        cohen_kappa([1, 3], [1, 2], categories=[1, 2])
    with pytest.raises(ValueError, match="'confidence_level' must be in"):
        cohen_kappa([1, 2], [1, 2], confidence_level=1.0)

"""Subgroups and multiplicity against statsmodels 0.15, scipy 1.17 and hand derivations."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from validation.stats.subgroups import (
    adjust_pvalues,
    heterogeneity_test,
    subgroup_analysis,
    subgroup_analysis_counts,
)

SM_METHOD = {"holm": "holm", "bh": "fdr_bh", "bonferroni": "bonferroni"}


# ---------------------------------------------------------------- multiplicity
@pytest.mark.parametrize("method", ["holm", "bh", "bonferroni"])
def test_adjust_pvalues_matches_statsmodels_fixed(method):
    p = np.array([0.001, 0.04, 0.03, 0.2, 0.0125, 0.5, 0.04])  # includes a tie
    # statsmodels 0.15: multipletests(p, method=...)[1]
    expected = multipletests(p, method=SM_METHOD[method])[1]
    np.testing.assert_allclose(adjust_pvalues(p, method=method), expected, rtol=0, atol=1e-15)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.sampled_from(["holm", "bh", "bonferroni"]))
def test_adjust_pvalues_matches_statsmodels_property(p, method):
    expected = multipletests(np.array(p), method=SM_METHOD[method])[1]
    got = adjust_pvalues(p, method=method)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert np.all(got >= np.asarray(p) - 1e-15) and np.all(got <= 1)


def test_adjust_pvalues_hand_derived_holm():
    # Holm, m = 3, sorted p: .01 (x3 = .03), .03 (x2 = .06), .04 (x1 = .04 -> running max .06)
    assert adjust_pvalues([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])


# ---------------------------------------------------------------- heterogeneity
X = np.array([45, 40, 20, 7])
N = np.array([50, 50, 30, 12])


def test_chi_square_homogeneity_matches_scipy():
    # scipy 1.17: chi2_contingency([[x, n-x] ...], correction=False)
    res = stats.chi2_contingency(np.column_stack([X, N - X]), correction=False)
    h = heterogeneity_test(X, N)
    assert h.statistic == pytest.approx(res.statistic, rel=1e-12)
    assert h.p_value == pytest.approx(res.pvalue, rel=1e-10)
    assert h.df == res.dof == 3
    assert h.i_squared == pytest.approx(max(0, (res.statistic - 3) / res.statistic))


def test_cochran_q_matches_statsmodels_combine_effects():
    # logit with 0.5 added to each cell (Haldane-Anscombe), variance 1/(x+.5) + 1/(n-x+.5);
    # statsmodels 0.15: combine_effects(y, v).q and .i2 (Cochran's Q, Higgins' I²)
    y = np.log((X + 0.5) / (N - X + 0.5))
    v = 1 / (X + 0.5) + 1 / (N - X + 0.5)
    ref = combine_effects(y, v)
    h = heterogeneity_test(X, N, method="cochran-q")
    assert h.statistic == pytest.approx(ref.q, rel=1e-12)
    assert h.i_squared == pytest.approx(max(ref.i2, 0.0), rel=1e-10, abs=1e-12)
    assert h.p_value == pytest.approx(stats.chi2.sf(ref.q, 3), rel=1e-12)


def test_heterogeneity_degenerate_cases():
    h = heterogeneity_test([10, 20], [10, 20])  # pooled p = 1: no variation possible
    assert h.statistic == 0.0 and h.p_value == 1.0 and h.i_squared == 0.0
    h = heterogeneity_test([3, 0], [5, 0])  # one non-empty stratum: nothing to compare
    assert math.isnan(h.p_value) and h.k == 1


# ---------------------------------------------------------------- the analysis
def test_subgroup_counts_against_statsmodels_and_scipy():
    levels = ["site-A", "site-B", "site-C", "site-D", "site-E"]
    x = [45, 40, 20, 7, 0]
    n = [50, 50, 30, 12, 0]
    r = subgroup_analysis_counts(x, n, levels=levels, min_n=20)
    # per stratum Wilson: statsmodels proportion_confint(x, n, alpha=0.05, method="wilson")
    for s, xi, ni in zip(r.strata[:4], x, n):
        lo, hi = proportion_confint(xi, ni, alpha=0.05, method="wilson")
        assert (s.lower, s.upper) == pytest.approx((lo, hi), rel=1e-10)
        assert s.estimate == xi / ni
    # the empty stratum is reported, not dropped
    e = r.strata[4]
    assert (e.level, e.n, e.small) == ("site-E", 0, True)
    assert math.isnan(e.estimate) and math.isnan(e.p_value) and math.isnan(e.p_adjusted)
    assert r.n_empty_strata == 1 and r.n_total == 142
    assert [s.small for s in r.strata] == [False, False, False, True, True]
    # vs-rest p-value: scipy chi2_contingency([[x, n-x], [X-x, N-n-(X-x)]], correction=False)
    raw = []
    for xi, ni in zip(x[:4], n[:4]):
        t = [[xi, ni - xi], [112 - xi, 142 - ni - (112 - xi)]]
        raw.append(stats.chi2_contingency(t, correction=False).pvalue)
    assert [s.p_value for s in r.strata[:4]] == pytest.approx(raw, rel=1e-10)
    assert [s.p_adjusted for s in r.strata[:4]] == pytest.approx(multipletests(raw, method="holm")[1], rel=1e-10)
    # largest gap among n >= 20: A (0.9) - C (0.667), Newcombe hybrid score interval:
    # statsmodels confint_proportions_2indep(45, 50, 20, 30, method="newcomb", compare="diff")
    g = r.largest_gap
    assert (g.high_level, g.low_level, g.basis) == ("site-A", "site-C", "n >= min_n")
    lo, hi = confint_proportions_2indep(45, 50, 20, 30, method="newcomb", compare="diff")
    assert g.difference.estimate == pytest.approx(0.9 - 20 / 30)
    assert (g.difference.lower, g.difference.upper) == pytest.approx((lo, hi), rel=1e-9)
    assert r.heterogeneity.k == 4
    d = r.to_dict()
    assert d["strata"][4]["n"] == 0 and d["multiplicity"] == "holm"


def test_performance_goal_p_values_are_exact_binomial():
    r = subgroup_analysis_counts([45, 40], [50, 50], levels=["F", "M"], performance_goal=0.8, multiplicity="bonferroni")
    # scipy 1.17: binomtest(x, n, 0.8, alternative="greater").pvalue
    raw = [stats.binomtest(45, 50, 0.8, alternative="greater").pvalue,
           stats.binomtest(40, 50, 0.8, alternative="greater").pvalue]
    assert [s.p_value for s in r.strata] == pytest.approx(raw, rel=1e-10)
    assert [s.p_adjusted for s in r.strata] == pytest.approx(np.minimum(1, 2 * np.array(raw)), rel=1e-10)
    assert r.p_value_test == "exact binomial vs goal"


def test_case_level_wrapper_and_missing_level():
    outcomes = [1, 1, 0, 1, 0, 0, 1, 1]
    groups = ["F", "F", "F", "M", "M", "M", None, float("nan")]
    r = subgroup_analysis(outcomes, groups, min_n=1)
    assert [(s.level, s.n, s.successes) for s in r.strata] == [("(missing)", 2, 2), ("F", 3, 2), ("M", 3, 1)]
    r2 = subgroup_analysis(outcomes[:6], groups[:6], levels=["M", "F", "X"], min_n=1)
    assert [(s.level, s.n) for s in r2.strata] == [("M", 3), ("F", 3), ("X", 0)]
    assert r2.largest_gap.basis == "n >= min_n"


def test_largest_gap_falls_back_to_all_nonempty_when_strata_are_small():
    r = subgroup_analysis_counts([9, 2, 5], [10, 5, 40], levels=["a", "b", "c"], min_n=30)
    # only 'c' reaches 30 -> compare all non-empty: a (0.9) vs c (0.125)
    assert (r.largest_gap.high_level, r.largest_gap.low_level, r.largest_gap.basis) == ("a", "c", "all non-empty")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from("ABCD")), min_size=2, max_size=80), st.randoms())
def test_property_permutation_invariance(cases, rnd):
    outcomes = [c[0] for c in cases]
    groups = [c[1] for c in cases]
    shuffled = cases[:]
    rnd.shuffle(shuffled)
    a = subgroup_analysis(outcomes, groups, levels=list("ABCD"), min_n=5)
    b = subgroup_analysis([c[0] for c in shuffled], [c[1] for c in shuffled], levels=list("ABCD"), min_n=5)
    # identical counts -> bit-identical results (json.dumps writes NaN as NaN, so empty strata compare too)
    assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)
    for s in a.strata:
        if s.n:
            assert s.lower <= s.estimate <= s.upper


# ---------------------------------------------------------------- bad arguments
def test_bad_arguments():
    with pytest.raises(ValueError, match="'method' must be one of 'holm', 'bh', 'bonferroni'; got 'fdr_bh'"):
        adjust_pvalues([0.1], method="fdr_bh")
    with pytest.raises(ValueError, match=r"'p' contains 1 NaN value\(s\) \(first at index 1\)"):
        adjust_pvalues([0.1, np.nan])
    with pytest.raises(ValueError, match=r"'p' must lie in \[0, 1\]; got 1.5 at index 0"):
        adjust_pvalues([1.5])
    with pytest.raises(ValueError, match="'groups' contains level 'Z', which is not in 'levels'"):
        subgroup_analysis([1, 0], ["A", "Z"], levels=["A"])
    with pytest.raises(ValueError, match="'outcomes' and 'groups' must have the same length; got 2 and 3"):
        subgroup_analysis([1, 0], ["A", "B", "C"])
    with pytest.raises(ValueError, match="'outcomes' must contain only 0 and 1; got 2"):
        subgroup_analysis([1, 2], ["A", "B"])
    with pytest.raises(ValueError, match="'successes' must not exceed 'totals'"):
        subgroup_analysis_counts([5], [4], levels=["A"])
    with pytest.raises(ValueError, match="'levels' must be unique; got 'A' more than once"):
        subgroup_analysis_counts([1, 1], [2, 2], levels=["A", "A"])
    with pytest.raises(ValueError, match="'heterogeneity' must be one of 'chi-square', 'cochran-q'; got 'q'"):
        subgroup_analysis_counts([1], [2], levels=["A"], heterogeneity="q")
    with pytest.raises(ValueError, match="'method' must be one of 'wilson'"):
        subgroup_analysis_counts([1], [2], levels=["A"], method="wils")
    with pytest.raises(ValueError, match="'performance_goal' must be in"):
        subgroup_analysis_counts([1], [2], levels=["A"], performance_goal=80)
    with pytest.raises(ValueError, match="'min_n' must be an integer >= 0; got -1"):
        subgroup_analysis_counts([1], [2], levels=["A"], min_n=-1)


def test_multiplicity_none_reports_raw_p_values():
    # Exploratory analyses declare 'none': p_adjusted is the raw p-value, stated as such.
    from validation.stats.subgroups import subgroup_analysis_counts

    r = subgroup_analysis_counts([45, 30, 20], [50, 50, 40], levels=["A", "B", "C"], min_n=10, multiplicity="none")
    assert r.multiplicity == "none"
    for s in r.strata:
        assert s.p_adjusted == s.p_value
    holm = subgroup_analysis_counts([45, 30, 20], [50, 50, 40], levels=["A", "B", "C"], min_n=10)
    assert any(h.p_adjusted > s.p_adjusted for h, s in zip(holm.strata, r.strata))

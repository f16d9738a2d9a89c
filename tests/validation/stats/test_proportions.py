"""Tests of validation.stats.proportions.

Sources of expected values
--------------------------
* Newcombe RG, Stat Med 1998;17:857-872, Table I (95% intervals, 4 dp).
* R 4.2.2 ``binom.test`` / ``prop.test`` and epiR 2.0.57 ``epi.tests``:
  ``data/r_reference.json`` made by ``data/make_reference.R`` (calls recorded
  next to each value).
* statsmodels 0.15 ``proportion_confint`` and scipy 1.17
  ``binomtest(...).proportion_ci`` (called in the tests).
* Exact binomial coverage by enumeration (derivation in the slow test).
"""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import confusion_matrix
from statsmodels.stats.proportion import proportion_confint

import validation.stats.proportions as P
from validation.stats import (
    accuracy,
    diagnostic_table,
    likelihood_ratios,
    npv,
    ppv,
    predictive_values_at_prevalence,
    proportion_ci,
    proportion_ci_array,
    sensitivity,
    specificity,
)
from validation.stats.results import Interval

REF = json.loads((Path(__file__).parent / "data" / "r_reference.json").read_text())
METHODS = P.PROPORTION_METHODS


def test_docstring_examples():
    assert doctest.testmod(P, raise_on_error=False).failed == 0


# ---------------------------------------------------------------- published table
# Newcombe (1998a) Table I, 95% intervals: method 3 (Wilson), 4 (Wilson cc), 5 (exact).
NEWCOMBE_T1 = [
    (81, 263, "wilson", 0.2553, 0.3662),
    (81, 263, "clopper-pearson", 0.2527, 0.3676),
    (15, 148, "wilson", 0.0624, 0.1605),
    (15, 148, "wilson-cc", 0.0598, 0.1644),
    (15, 148, "clopper-pearson", 0.0578, 0.1617),
    (0, 20, "wilson", 0.0, 0.1611),
    (0, 20, "wilson-cc", 0.0, 0.2005),
    (0, 20, "clopper-pearson", 0.0, 0.1684),
    (1, 29, "wilson", 0.0061, 0.1718),
    (1, 29, "wilson-cc", 0.0018, 0.1963),
    (1, 29, "clopper-pearson", 0.0009, 0.1776),
    (81, 263, "wald", 0.2522, 0.3638),
    (15, 148, "wald", 0.0527, 0.1500),
]


@pytest.mark.parametrize("x,n,method,lo,hi", NEWCOMBE_T1)
def test_newcombe_1998_table_1(x, n, method, lo, hi):
    ci = proportion_ci(x, n, method=method)
    assert ci.lower == pytest.approx(lo, abs=5e-5)
    assert ci.upper == pytest.approx(hi, abs=5e-5)
    assert ci.estimate == x / n and ci.n == n and ci.method == method


# ---------------------------------------------------------------- R
@pytest.mark.parametrize("row", REF["single"], ids=lambda r: f"{r['x']}/{r['n']}@{r['conf_level']}")
def test_against_r_binom_test_and_prop_test(row):
    x, n, cl = row["x"], row["n"], row["conf_level"]
    for method, key in (("clopper-pearson", "clopper_pearson"), ("wilson", "wilson"), ("wilson-cc", "wilson_cc")):
        ci = proportion_ci(x, n, method=method, confidence_level=cl)
        np.testing.assert_allclose([ci.lower, ci.upper], row[key], atol=1e-9, err_msg=row[f"{key}_call"])


# ---------------------------------------------------------------- statsmodels / scipy
GRID = [(x, n) for n in (1, 2, 5, 13, 40, 101, 1000) for x in sorted({0, 1, n // 3, n // 2, n - 1, n}) if 0 <= x <= n]


@pytest.mark.parametrize("cl", [0.8, 0.95, 0.99])
@pytest.mark.parametrize(
    "method,sm", [("wilson", "wilson"), ("agresti-coull", "agresti_coull"), ("clopper-pearson", "beta"),
                  ("jeffreys", "jeffreys"), ("wald", "normal")]
)
def test_against_statsmodels_proportion_confint(method, sm, cl):
    x = np.array([g[0] for g in GRID])
    n = np.array([g[1] for g in GRID])
    lo_sm, hi_sm = proportion_confint(x, n, alpha=1 - cl, method=sm)  # statsmodels 0.15
    lo_sm, hi_sm = np.clip(lo_sm, 0, 1), np.clip(hi_sm, 0, 1)
    r = proportion_ci_array(x, n, method=method, confidence_level=cl)
    interior = (x > 0) & (x < n)
    # statsmodels does not apply the boundary convention (lower 0 at x=0, upper 1 at x=n)
    # for Jeffreys/Wald; compare the bound that the convention does not touch.
    np.testing.assert_allclose(r.lower[x > 0], lo_sm[x > 0], atol=1e-10)
    np.testing.assert_allclose(r.upper[x < n], hi_sm[x < n], atol=1e-10)
    assert interior.sum() > 10


@pytest.mark.parametrize("x,n", [(0, 10), (1, 10), (7, 19), (19, 19), (250, 1000)])
def test_against_scipy_binomtest(x, n):
    res = stats.binomtest(x, n)  # scipy 1.17
    for method, sp in (("clopper-pearson", "exact"), ("wilson", "wilson"), ("wilson-cc", "wilsoncc")):
        ref = res.proportion_ci(confidence_level=0.95, method=sp)
        ci = proportion_ci(x, n, method=method)
        assert ci.lower == pytest.approx(ref.low, abs=1e-10)
        assert ci.upper == pytest.approx(ref.high, abs=1e-10)


def test_vectorised_matches_scalar_and_statsmodels_on_10000_pairs():
    rng = np.random.default_rng(3)
    n = rng.integers(1, 500, 10_000)
    x = rng.binomial(n, rng.random(10_000))
    r = proportion_ci_array(x, n)
    lo, hi = proportion_confint(x, n, method="wilson")
    np.testing.assert_allclose(r.lower, lo, atol=1e-12)
    np.testing.assert_allclose(r.upper, hi, atol=1e-12)
    for i in (0, 17, 9999):
        one = proportion_ci(int(x[i]), int(n[i]))
        assert r.item(i) == one
    assert len(r) == 10_000 and r.to_dict()["n"][:3] == n[:3].tolist()


def test_vectorised_broadcasts_and_2d():
    r = proportion_ci_array([[0, 1], [2, 3]], 3, method="jeffreys")
    assert r.lower.shape == (2, 2)
    with pytest.raises(ValueError, match="broadcastable"):
        proportion_ci_array([1, 2, 3], [4, 5])


# ---------------------------------------------------------------- edge cases
@pytest.mark.parametrize("method", METHODS)
def test_boundaries(method):
    zero = proportion_ci(0, 25, method=method)
    full = proportion_ci(25, 25, method=method)
    assert zero.lower == 0.0 and zero.estimate == 0.0
    assert full.upper == 1.0 and full.estimate == 1.0
    if method != "wald":  # Wald degenerates to [0, 0] at 0/n: documented, that's its flaw
        assert zero.upper > 0 and full.lower < 1
    # symmetry: x/n and (n-x)/n mirror each other
    a, b = proportion_ci(3, 25, method=method), proportion_ci(22, 25, method=method)
    assert a.lower == pytest.approx(1 - b.upper, abs=1e-12) and a.upper == pytest.approx(1 - b.lower, abs=1e-12)


def test_clopper_pearson_zero_keeps_alpha_over_two():
    # Derivation: P(X=0 | p) = (1-p)^n = alpha/2  =>  p_U = 1 - (alpha/2)^(1/n).
    assert proportion_ci(0, 10, method="clopper-pearson").upper == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_n_equals_one(method):
    for x in (0, 1):
        ci = proportion_ci(x, 1, method=method)
        assert 0 <= ci.lower <= ci.estimate <= ci.upper <= 1


@pytest.mark.parametrize("method", METHODS)
def test_n_zero_is_nan_by_convention(method):
    ci = proportion_ci(0, 0, method=method)
    assert np.isnan(ci.estimate) and np.isnan(ci.lower) and np.isnan(ci.upper) and ci.n == 0
    arr = proportion_ci_array([0, 1], [0, 2], method=method)
    assert np.isnan(arr.lower[0]) and not np.isnan(arr.lower[1])


def test_accepts_integral_floats_and_numpy_ints():
    assert proportion_ci(3.0, np.int64(10)) == proportion_ci(3, 10)


@pytest.mark.parametrize(
    "kwargs,exc,msg",
    [
        (dict(successes=5, n=4), ValueError, r"'successes' must not exceed 'n'; got successes=5 > n=4"),
        (dict(successes=-1, n=4), ValueError, r"'successes' must be a non-negative integer count; got -1"),
        (dict(successes=1.5, n=4), ValueError, r"'successes' must be a non-negative integer count; got 1.5"),
        (dict(successes=float("nan"), n=4), ValueError, r"'successes' .* NaN"),
        (dict(successes=1, n="10"), TypeError, r"'n' must be a non-negative integer count; got '10'"),
        (dict(successes=True, n=4), TypeError, r"'successes' .* booleans"),
        (dict(successes=1, n=4, method="Wilson"), ValueError, r"'method' must be one of 'wilson', .*; got 'Wilson'"),
        (dict(successes=1, n=4, method="wils"), ValueError, r"'method' must be one of .*; got 'wils'"),
        (dict(successes=1, n=4, confidence_level=1.5), ValueError, r"'confidence_level' must be in \(0, 1\); got 1.5"),
        (dict(successes=1, n=4, confidence_level=0), ValueError, r"'confidence_level' must be in \(0, 1\); got 0"),
        (dict(successes=1, n=4, confidence_level="95%"), TypeError, r"'confidence_level' must be a real number"),
        (dict(successes=[1, 2], n=4), TypeError, r"'successes' must be a scalar count"),
    ],
)
def test_bad_arguments(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        proportion_ci(**kwargs)


def test_array_error_names_index():
    with pytest.raises(ValueError, match=r"successes=7 > n=6 at index \(1,\)"):
        proportion_ci_array([1, 7], [6, 6])


# ---------------------------------------------------------------- properties
@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 2000),
    frac=st.floats(0, 1),
    method=st.sampled_from(METHODS),
    cl=st.floats(0.5, 0.995),
)
def test_property_interval_contains_estimate_and_is_in_unit_range(n, frac, method, cl):
    x = int(round(frac * n))
    ci = proportion_ci(x, n, method=method, confidence_level=cl)
    assert 0.0 <= ci.lower <= ci.estimate + 1e-12
    assert ci.estimate - 1e-12 <= ci.upper <= 1.0


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 500), frac=st.floats(0, 1), method=st.sampled_from(METHODS),
       c1=st.floats(0.5, 0.99), c2=st.floats(0.5, 0.99))
def test_property_wider_at_higher_confidence(n, frac, method, c1, c2):
    x = int(round(frac * n))
    lo_c, hi_c = sorted((c1, c2))
    a = proportion_ci(x, n, method=method, confidence_level=lo_c)
    b = proportion_ci(x, n, method=method, confidence_level=hi_c)
    assert b.lower <= a.lower + 1e-12 and b.upper >= a.upper - 1e-12


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60), st.randoms())
def test_property_diagnostic_table_invariant_to_row_order(rows, rnd):
    y = np.array([r[0] for r in rows], int)
    p = np.array([r[1] for r in rows], int)
    perm = list(range(len(rows)))
    rnd.shuffle(perm)
    assert diagnostic_table(y, p) == diagnostic_table(y[perm], p[perm])


# ---------------------------------------------------------------- diagnostic measures
@pytest.mark.parametrize("case", REF["epi_tests"], ids=lambda c: f"{c['tp']}-{c['fp']}-{c['fn']}-{c['tn']}")
@pytest.mark.parametrize("method,key", [("wilson", "wilson"), ("clopper-pearson", "exact")])
def test_against_epir_epi_tests(case, method, key):
    tp, fp, fn, tn = case["tp"], case["fp"], case["fn"], case["tn"]
    ref = case[key]
    got = {
        "se": sensitivity(tp, fn, method=method),
        "sp": specificity(tn, fp, method=method),
        "pv.pos": ppv(tp, fp, method=method),
        "pv.neg": npv(tn, fn, method=method),
        "diag.ac": accuracy(tp, fp, fn, tn, method=method),
    }
    for k, ci in got.items():
        np.testing.assert_allclose([ci.estimate, ci.lower, ci.upper], ref[k], atol=1e-8, err_msg=f"{k} {case['call']}")
    lr = likelihood_ratios(tp, fp, fn, tn)
    assert lr.correction == 0.0
    np.testing.assert_allclose([lr.positive.estimate, lr.positive.lower, lr.positive.upper], ref["lr.pos"], rtol=1e-8)
    np.testing.assert_allclose([lr.negative.estimate, lr.negative.lower, lr.negative.upper], ref["lr.neg"], rtol=1e-8)


def test_likelihood_ratio_simel_by_hand():
    # Simel et al. (1991): SE(ln LR+) = sqrt(1/a - 1/(a+c) + 1/b - 1/(b+d)).
    # a=90, b=20, c=10, d=180: sqrt(1/90 - 1/100 + 1/20 - 1/200) = sqrt(0.0461111...)
    se = np.sqrt(1 / 90 - 1 / 100 + 1 / 20 - 1 / 200)
    lr = likelihood_ratios(90, 20, 10, 180)
    assert lr.positive.upper == pytest.approx(9.0 * np.exp(stats.norm.ppf(0.975) * se), rel=1e-12)


def test_likelihood_ratio_zero_cell():
    lr = likelihood_ratios(50, 0, 5, 45)  # fp = 0: LR+ infinite without correction
    assert lr.correction == 0.5 and np.isfinite(lr.positive.upper)
    # with 0.5 added to each cell: Se = 50.5/56, Sp = 45.5/46, LR+ = Se / (1 - Sp)
    assert lr.positive.estimate == pytest.approx((50.5 / 56) / (0.5 / 46), rel=1e-12)
    with pytest.raises(ValueError, match="got zero in fp"):
        likelihood_ratios(50, 0, 5, 45, zero_correction=0)
    with pytest.raises(ValueError, match="0 diseased"):
        likelihood_ratios(0, 3, 0, 5)


def test_diagnostic_table_against_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = rng.integers(0, 2, 500)
    tn, fp, fn, tp = confusion_matrix(y, p, labels=[0, 1]).ravel()  # scikit-learn 1.9
    t = diagnostic_table(y, p)
    assert (t.tp, t.fp, t.fn, t.tn) == (tp, fp, fn, tn)
    assert t.n == 500 and t.n_positive == y.sum() and t.to_dict()["tp"] == tp


@pytest.mark.parametrize(
    "y,p,msg",
    [
        ([1, 0, 2], [1, 0, 1], r"'y_true' must contain only 0 and 1; got 2 at index 2"),
        ([1, 0, np.nan], [1, 0, 1], r"'y_true' contains 1 NaN"),
        ([1, 0], [1, 0, 1], r"same length; got y_true=2, y_pred=3"),
        ([], [], r"'y_true' must not be empty"),
    ],
)
def test_diagnostic_table_bad_input(y, p, msg):
    with pytest.raises(ValueError, match=msg):
        diagnostic_table(y, p)


def test_sensitivity_n_and_named_errors():
    s = sensitivity(0, 0)
    assert s.n == 0 and np.isnan(s.estimate)
    with pytest.raises(ValueError, match="'fn' must be a non-negative"):
        sensitivity(3, -1)


# ---------------------------------------------------------------- predictive values at prevalence
def test_predictive_values_bayes_identity_at_study_prevalence():
    # At the study's own prevalence, Bayes' theorem returns the plain PPV/NPV:
    # Se*pi / (Se*pi + (1-Sp)(1-pi)) with pi = (tp+fn)/N equals tp/(tp+fp).
    tp, fp, fn, tn = 45, 12, 5, 138
    pv = predictive_values_at_prevalence(tp, fp, fn, tn, prevalence=50 / 200)
    assert pv.ppv.estimate == pytest.approx(tp / (tp + fp), rel=1e-12)
    assert pv.npv.estimate == pytest.approx(tn / (tn + fn), rel=1e-12)
    assert pv.ppv.method == "logit"


def test_predictive_values_logit_interval_by_hand():
    # Mercaldo et al. (2007) standard logit interval, written out:
    # Se = 90/100, Sp = 180/200, pi = 0.05
    # logit PPV = ln(Se pi / ((1-Sp)(1-pi))) = ln(0.045 / 0.095)
    # Var = (1-Se)/(n1 Se) + Sp/(n0 (1-Sp)) = 0.1/90 + 0.9/20
    z = stats.norm.ppf(0.975)
    lg = np.log(0.9 * 0.05 / (0.1 * 0.95))
    half = z * np.sqrt(0.1 / 90 + 0.9 / 20)
    pv = predictive_values_at_prevalence(90, 20, 10, 180, prevalence=0.05)
    assert pv.ppv.lower == pytest.approx(1 / (1 + np.exp(-(lg - half))), rel=1e-12)
    assert pv.ppv.upper == pytest.approx(1 / (1 + np.exp(-(lg + half))), rel=1e-12)
    # NPV: logit = ln(Sp (1-pi) / ((1-Se) pi)), Var = Se/(n1 (1-Se)) + (1-Sp)/(n0 Sp)
    lg = np.log(0.9 * 0.95 / (0.1 * 0.05))
    half = z * np.sqrt(0.9 / (100 * 0.1) + 0.1 / (200 * 0.9))
    assert pv.npv.lower == pytest.approx(1 / (1 + np.exp(-(lg - half))), rel=1e-12)
    assert pv.to_dict()["prevalence"] == 0.05


def test_predictive_values_perfect_specificity_uses_adjusted_logit():
    pv = predictive_values_at_prevalence(30, 0, 10, 100, prevalence=0.1)
    assert pv.ppv.estimate == 1.0 and pv.ppv.method == "adjusted-logit"
    assert 0 < pv.ppv.lower < pv.ppv.upper < 1
    with pytest.raises(ValueError, match=r"'prevalence' must be in \(0, 1\); got 1.2"):
        predictive_values_at_prevalence(30, 5, 10, 100, prevalence=1.2)


def test_interval_to_dict_is_json_ready():
    d = proportion_ci(3, 10).to_dict()
    assert set(d) == {"estimate", "lower", "upper", "confidence_level", "method", "n"}
    json.dumps(d)
    assert isinstance(proportion_ci(3, 10), Interval)


# ---------------------------------------------------------------- coverage
def _exact_coverage(method: str, p: float, n: int, cl: float = 0.95) -> float:
    """Coverage = sum_x Binom(x; n, p) * 1[lower(x) <= p <= upper(x)] (exact, no simulation)."""
    x = np.arange(n + 1)
    r = proportion_ci_array(x, np.full(n + 1, n), method=method, confidence_level=cl)
    covered = (r.lower <= p) & (p <= r.upper)
    return float(stats.binom.pmf(x, n, p)[covered].sum())


@pytest.mark.slow
def test_coverage_clopper_pearson_and_wilson():
    ps = np.linspace(0.01, 0.99, 99)
    ns = (10, 20, 30, 50, 100, 200, 500)
    cp = np.array([[_exact_coverage("clopper-pearson", p, n) for p in ps] for n in ns])
    wi = np.array([[_exact_coverage("wilson", p, n) for p in ps] for n in ns])
    # Clopper-Pearson guarantees coverage >= nominal for every (p, n).
    assert cp.min() >= 0.95 - 1e-9
    # Wilson: mean coverage close to nominal (Brown, Cai & DasGupta 2001, Fig. 5/11).
    assert abs(wi.mean() - 0.95) < 0.01
    # and a Monte-Carlo check of the same quantity for one design (n=40, p=0.2).
    rng = np.random.default_rng(11)
    x = rng.binomial(40, 0.2, 200_000)
    r = proportion_ci_array(x, 40)
    mc = np.mean((r.lower <= 0.2) & (0.2 <= r.upper))
    assert mc == pytest.approx(_exact_coverage("wilson", 0.2, 40), abs=0.003)

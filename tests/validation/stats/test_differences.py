"""Tests of validation.stats.differences.

Sources of expected values
--------------------------
* Newcombe RG, Stat Med 1998;17:873-890, Table II, method 10 (95%, 4 dp).
* Cavo et al. 2012 paired table (59, 6, 16, 80): Newcombe square-and-add
  interval printed by Fagerland's R package contingencytables (its
  tests/testthat/test-ch8.R: "estimate = -0.0621 (95% CI -0.1186 to -0.0046)").
* Bentur et al. 2009 paired table (1, 1, 7, 12) as analysed in Fagerland,
  Lydersen & Laake, Stat Med 2014;33:2850-2875 (3 dp): Newcombe -0.507 to
  -0.026, Tango -0.517 to -0.026.
* R 4.2.2 ``prop.test``, ``mcnemar.test``, ``binom.test``: data/r_reference.json.
* statsmodels 0.15 ``confint_proportions_2indep`` and ``mcnemar`` (called here).
* Tango's score interval re-derived in this file by grid inversion (independent code).
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
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import confint_proportions_2indep

import validation.stats.differences as D
from validation.stats import diff_ci_independent, diff_ci_paired, mcnemar

REF = json.loads((Path(__file__).parent / "data" / "r_reference.json").read_text())


def test_docstring_examples():
    assert doctest.testmod(D, raise_on_error=False).failed == 0


# Newcombe (1998b) Table II, method 10 (hybrid score), 95%.
NEWCOMBE_T2 = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize("counts,expected", NEWCOMBE_T2)
def test_newcombe_1998_table_2_method_10(counts, expected):
    d = diff_ci_independent(*counts)
    assert (d.lower, d.upper) == pytest.approx(expected, abs=5e-5)
    assert d.estimate == pytest.approx(counts[0] / counts[1] - counts[2] / counts[3])
    assert not d.paired and d.method == "newcombe"


@pytest.mark.parametrize("row", REF["independent"], ids=lambda r: r["call"])
def test_wald_difference_against_r_prop_test(row):
    d = diff_ci_independent(row["x1"], row["n1"], row["x2"], row["n2"], method="wald")
    np.testing.assert_allclose([d.lower, d.upper], row["wald"], atol=1e-10, err_msg=row["call"])


@pytest.mark.parametrize("counts", [c for c, _ in NEWCOMBE_T2] + [(30, 100, 45, 120), (1, 3, 2, 3)])
@pytest.mark.parametrize("cl", [0.9, 0.95])
def test_against_statsmodels_confint_proportions_2indep(counts, cl):
    x1, n1, x2, n2 = counts
    lo, hi = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff", alpha=1 - cl)
    d = diff_ci_independent(x1, n1, x2, n2, confidence_level=cl)
    assert d.lower == pytest.approx(lo, abs=1e-10) and d.upper == pytest.approx(hi, abs=1e-10)


def test_newcombe_cc_is_wider():
    a = diff_ci_independent(56, 70, 48, 80)
    b = diff_ci_independent(56, 70, 48, 80, method="newcombe-cc")
    assert b.lower < a.lower and b.upper > a.upper and b.method == "newcombe-cc"


# ---------------------------------------------------------------- paired
def test_paired_newcombe_cavo_example():
    d = diff_ci_paired(6, 16, 59, 80)
    assert (round(d.estimate, 4), round(d.lower, 4), round(d.upper, 4)) == (-0.0621, -0.1186, -0.0046)
    assert d.paired and d.n1 == d.n2 == 161


def test_paired_bentur_example_fagerland_2014():
    # a_only = before-only = 1, b_only = after-only = 7, both = 1, neither = 12
    nw = diff_ci_paired(1, 7, 1, 12, method="newcombe")
    tg = diff_ci_paired(1, 7, 1, 12, method="tango")
    assert round(nw.estimate, 3) == -0.286
    assert (round(nw.lower, 3), round(nw.upper, 3)) == (-0.507, -0.026)
    assert (round(tg.lower, 3), round(tg.upper, 3)) == (-0.517, -0.026)


def _tango_by_grid(n12, n21, n, cl=0.95, step=1e-5):
    """Tango (1998): T(D) = (n12 - n21 - n D) / sqrt(n (2 q21(D) + D (1 - D))), with the
    restricted MLE q21(D) the positive root of 2n q^2 + (-n12 - n21 + (2n - n12 + n21) D) q
    - n21 D (1 - D) = 0. The interval is {D : |T(D)| <= z}; found on a grid."""
    z = stats.norm.ppf(0.5 + cl / 2)
    d = np.arange(-1 + step, 1, step)
    a = 2 * n
    b = -n12 - n21 + (2 * n - n12 + n21) * d
    c = -n21 * d * (1 - d)
    q = (np.sqrt(b * b - 4 * a * c) - b) / (2 * a)
    t = (n12 - n21 - n * d) / np.sqrt(n * (2 * q + d * (1 - d)))
    inside = d[np.abs(t) <= z]
    return inside.min(), inside.max()


@pytest.mark.parametrize("table", [(6, 16, 59, 80), (1, 7, 1, 12), (40, 20, 50, 50), (3, 0, 10, 7), (12, 2, 36, 0)])
def test_tango_against_grid_inversion(table):
    b, c, a, d = table
    n = a + b + c + d
    lo, hi = _tango_by_grid(b, c, n)
    r = diff_ci_paired(*table, method="tango")
    assert r.lower == pytest.approx(lo, abs=2e-5) and r.upper == pytest.approx(hi, abs=2e-5)


@pytest.mark.parametrize("method", ["newcombe", "tango", "wald"])
def test_paired_edge_tables(method):
    none_discordant = diff_ci_paired(0, 0, 10, 10, method=method)
    assert none_discordant.estimate == 0.0
    assert none_discordant.lower <= 0 <= none_discordant.upper
    all_a = diff_ci_paired(5, 0, 0, 0, method=method)
    assert all_a.estimate == 1.0 and all_a.upper == 1.0 and -1 <= all_a.lower <= 1
    one = diff_ci_paired(0, 1, 0, 0, method=method)
    assert one.estimate == -1.0 and one.lower == -1.0
    with pytest.raises(ValueError, match="at least one pair"):
        diff_ci_paired(0, 0, 0, 0, method=method)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40), st.integers(0, 40),
       st.sampled_from(["newcombe", "tango", "wald"]), st.floats(0.6, 0.99))
def test_property_paired(b, c, a, d, method, cl):
    if a + b + c + d == 0:
        return
    r = diff_ci_paired(b, c, a, d, method=method, confidence_level=cl)
    assert -1 <= r.lower <= r.estimate + 1e-9 and r.estimate - 1e-9 <= r.upper <= 1
    # swapping the two tests mirrors the interval
    s = diff_ci_paired(c, b, a, d, method=method, confidence_level=cl)
    assert s.lower == pytest.approx(-r.upper, abs=1e-7) and s.upper == pytest.approx(-r.lower, abs=1e-7)
    # wider at a higher level
    w = diff_ci_paired(b, c, a, d, method=method, confidence_level=min(cl + 0.005, 0.995))
    assert w.lower <= r.lower + 1e-9 and w.upper >= r.upper - 1e-9


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 200), st.integers(1, 200), st.floats(0, 1), st.floats(0, 1),
       st.sampled_from(["newcombe", "newcombe-cc", "wald"]))
def test_property_independent(n1, n2, f1, f2, method):
    x1, x2 = round(f1 * n1), round(f2 * n2)
    r = diff_ci_independent(x1, n1, x2, n2, method=method)
    assert -1 <= r.lower <= r.estimate + 1e-12 and r.estimate - 1e-12 <= r.upper <= 1
    s = diff_ci_independent(x2, n2, x1, n1, method=method)
    assert s.lower == pytest.approx(-r.upper, abs=1e-12)


@pytest.mark.parametrize(
    "call,exc,msg",
    [
        (lambda: diff_ci_independent(0, 0, 1, 3), ValueError, r"'n1' must be positive; got 0"),
        (lambda: diff_ci_independent(5, 4, 1, 3), ValueError, r"'x1' must not exceed 'n1'; got x1=5 > n1=4"),
        (lambda: diff_ci_independent(1, 4, 1, 3, method="score"), ValueError, r"'method' must be one of"),
        (lambda: diff_ci_independent(1, 4, 1, 3, confidence_level=95), ValueError, r"got 95"),
        (lambda: diff_ci_paired(-1, 4, 1, 3), ValueError, r"'a_only' must be a non-negative integer count; got -1"),
        (lambda: diff_ci_paired(1, 4, float("nan"), 3), ValueError, r"'both' .* NaN"),
        (lambda: diff_ci_paired(1, 4, 1, 3, method="newcombe-cc"), ValueError, r"'method' must be one of"),
        (lambda: mcnemar(1, 2, method="mid-p"), ValueError, r"'method' must be one of 'exact', 'asymptotic'"),
        (lambda: mcnemar(1, 2, correction="yes"), TypeError, r"'correction' must be a bool; got 'yes'"),
    ],
)
def test_bad_arguments(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


# ---------------------------------------------------------------- McNemar
@pytest.mark.parametrize("row", REF["mcnemar"], ids=lambda r: f"b={r['b']},c={r['c']}")
def test_mcnemar_against_r(row):
    b, c = row["b"], row["c"]
    assert mcnemar(b, c, method="asymptotic", correction=True).p_value == pytest.approx(row["asymptotic_corrected"], rel=1e-10)
    assert mcnemar(b, c, method="asymptotic", correction=False).p_value == pytest.approx(row["asymptotic"], rel=1e-10)
    assert mcnemar(b, c, method="exact").p_value == pytest.approx(row["exact"], rel=1e-10)


STATSMODELS_TIE = pytest.param(
    3, 3,
    marks=pytest.mark.xfail(
        strict=True,
        reason="statsmodels 0.15 computes (|b-c|-1)^2/(b+c) = 1/6 when b == c; R's mcnemar.test (and medval) "
        "drop the correction when the table is symmetric, giving chi2 = 0 and p = 1",
    ),
)


@pytest.mark.parametrize("b,c", [(10, 5), (0, 4), STATSMODELS_TIE, (25, 40)])
def test_mcnemar_against_statsmodels(b, c):
    table = [[20, b], [c, 20]]
    assert mcnemar(b, c).p_value == pytest.approx(sm_mcnemar(table, exact=True).pvalue, rel=1e-10)
    ref = sm_mcnemar(table, exact=False, correction=True)
    got = mcnemar(b, c, method="asymptotic")
    assert got.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert got.statistic == pytest.approx(ref.statistic, rel=1e-10)


@pytest.mark.parametrize("method", ["exact", "asymptotic"])
def test_mcnemar_no_discordant_pairs(method):
    # A table with no discordant pairs carries no evidence of a difference: p = 1, no crash.
    r = mcnemar(0, 0, method=method)
    assert r.p_value == 1.0 and r.statistic == 0.0
    assert r.to_dict()["b"] == 0


def test_mcnemar_symmetric_table_matches_r_convention():
    # R: mcnemar.test(matrix(c(20, 3, 3, 20), 2), correct = TRUE) gives X-squared = 0, p-value = 1
    # because the correction is only applied when the table is asymmetric.
    r = mcnemar(3, 3, method="asymptotic")
    assert r.statistic == 0.0 and r.p_value == 1.0

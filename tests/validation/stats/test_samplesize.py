"""Sample size: Buderer 1996 by derivation, exact search against R 4.2.2 (committed CSV)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from scipy import stats

from validation.stats.samplesize import buderer_sample_size, exact_power, exact_sample_size

DATA = Path(__file__).parent / "data" / "samplesize_exact_R.csv"


def test_buderer_worked_example_sensitivity():
    # Buderer 1996 formula: TP+FN = z^2 Se(1-Se)/W^2, N = (TP+FN)/prevalence.
    # Se 0.90, W 0.05, 95 % (z = 1.959964), prevalence 0.10:
    # 1.959964^2 * 0.9 * 0.1 / 0.0025 = 3.841459 * 0.09 / 0.0025 = 138.2925 -> N = 1382.925 -> 1383.
    r = buderer_sample_size(0.90, half_width=0.05, prevalence=0.10)
    assert r.n_exact == pytest.approx(138.2925, abs=1e-4)
    assert (r.n_condition, r.n_total) == (139, 1383)
    assert r.to_dict()["method"] == "buderer-1996"


def test_buderer_specificity_uses_one_minus_prevalence():
    # Sp 0.80, W 0.07, 95 %, prevalence 0.30: 3.841459*0.16/0.0049 = 125.436 -> /0.7 = 179.19 -> 180
    r = buderer_sample_size(0.80, half_width=0.07, prevalence=0.30, target="specificity")
    assert r.n_exact == pytest.approx(3.841459 * 0.16 / 0.0049, rel=1e-6)
    assert (r.n_condition, r.n_total) == (126, 180)
    # 90 % confidence: z = 1.644854
    r90 = buderer_sample_size(0.80, half_width=0.07, prevalence=0.30, target="specificity", confidence_level=0.90)
    assert r90.n_exact == pytest.approx(1.644854**2 * 0.16 / 0.0049, rel=1e-6)


def read_reference():
    with DATA.open() as fh:
        rows = [line for line in fh if not line.startswith("#")]
    return list(csv.DictReader(rows))


@pytest.mark.parametrize("row", read_reference(), ids=lambda r: f"p{r['expected']}-g{r['goal']}-pw{r['power']}-cl{r['level']}")
def test_exact_sample_size_matches_r(row):
    # R 4.2.2 (tests/validation/stats/data/samplesize_exact.R): smallest n with
    # P(qbeta((1-level)/2, X, n-X+1) >= goal) >= power, X ~ Bin(n, expected).
    r = exact_sample_size(float(row["expected"]), float(row["goal"]), power=float(row["power"]),
                          confidence_level=float(row["level"]))
    assert r.n == int(row["n_first"])
    assert r.min_successes == int(row["xmin_first"])
    assert r.power == pytest.approx(float(row["power_first"]), abs=1e-11)


def test_lower_bound_at_min_successes_clears_goal_and_one_less_does_not():
    r = exact_sample_size(0.92, 0.85, power=0.9)
    lower = stats.binomtest(r.min_successes, r.n).proportion_ci(0.95, method="exact").low
    lower_minus = stats.binomtest(r.min_successes - 1, r.n).proportion_ci(0.95, method="exact").low
    assert lower >= 0.85 > lower_minus
    assert exact_power(r.n, 0.92, 0.85) == pytest.approx(r.power)


def test_stable_rule_is_never_smaller_and_power_stays_above():
    first = exact_sample_size(0.90, 0.80, power=0.8)
    stable = exact_sample_size(0.90, 0.80, power=0.8, rule="stable", max_n=400)
    assert stable.n >= first.n
    assert all(exact_power(n, 0.90, 0.80) >= 0.8 for n in range(stable.n, 400))
    # the saw-tooth: some n above 'first' loses power again (why 'stable' exists)
    assert any(exact_power(n, 0.90, 0.80) < 0.8 for n in range(first.n, stable.n))


def test_bad_arguments():
    with pytest.raises(ValueError, match="'goal' must be below 'expected'; got goal=0.9 >= expected=0.8"):
        exact_sample_size(0.8, 0.9)
    with pytest.raises(ValueError, match=r"'half_width' must be in \(0, 1\); got 0"):
        buderer_sample_size(0.9, half_width=0, prevalence=0.1)
    with pytest.raises(ValueError, match="'target' must be one of 'sensitivity', 'specificity'; got 'sens'"):
        buderer_sample_size(0.9, half_width=0.05, prevalence=0.1, target="sens")
    with pytest.raises(ValueError, match="'rule' must be one of 'first', 'stable'"):
        exact_sample_size(0.9, 0.8, rule="last")
    with pytest.raises(ValueError, match="no n <= max_n=10 reaches power"):
        exact_sample_size(0.9, 0.8, max_n=10)
    with pytest.raises(TypeError, match="'prevalence' must be a real number"):
        buderer_sample_size(0.9, half_width=0.05, prevalence="10%")
    assert math.isfinite(exact_power(5, 0.9, 0.8))

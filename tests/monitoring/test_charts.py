"""Tests for monitoring.charts.

Published tables:
- Montgomery, D. C. (2009). Introduction to Statistical Quality Control, 6th ed.,
  Wiley. Table 9.3: ARL of the two-sided tabular CUSUM with k = 1/2, h = 4 and 5
  (values from Hawkins 1993). Table 9.11: ARLs of EWMA schemes with asymptotic
  limits (values from Lucas & Saccucci 1990, Technometrics 32, Table 3).
Independent computations written out in this file:
- Brook & Evans (1972, Biometrika 59, 539–549) Markov-chain ARL with 600 states.
- Siegmund's (1985) approximation, as given in Montgomery (2009) eq. 9.21.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import norm

from monitoring.charts import ChartDesign, arl, design_cusum, design_ewma, run_chart

SHIFTS = [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0]
# Montgomery (2009) 6th ed., Table 9.3 (two-sided CUSUM, k = 1/2)
MONTGOMERY_9_3 = {
    4.0: [168, 74.2, 26.6, 13.3, 8.38, 4.75, 3.34, 2.62, 2.19, 1.71],
    5.0: [465, 139, 38.0, 17.0, 10.4, 5.75, 4.01, 3.11, 2.57, 2.01],
}
# Montgomery (2009) 6th ed., Table 9.11 / Lucas & Saccucci (1990) Table 3: (lambda, L) -> ARLs
MONTGOMERY_9_11 = {
    (0.40, 3.054): [500, 224, 71.2, 28.4, 14.3, 5.9, 3.5, 2.5, 2.0, 1.4],
    (0.25, 2.998): [500, 170, 48.2, 20.1, 11.1, 5.5, 3.6, 2.7, 2.3, 1.7],
    (0.20, 2.962): [500, 150, 41.8, 18.2, 10.5, 5.5, 3.7, 2.9, 2.4, 1.9],
    (0.10, 2.814): [500, 106, 31.3, 15.9, 10.3, 6.1, 4.4, 3.4, 2.9, 2.2],
    (0.05, 2.615): [500, 84.1, 28.8, 16.4, 11.4, 7.1, 5.2, 4.2, 3.5, 2.7],
}


def _printed_tol(value) -> float:
    """Half a unit of the last digit as printed in the table (ints: 0.5; 8.38: 0.005; 2.5: 0.05)."""
    text = repr(value)
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10 ** (-decimals)


@pytest.mark.parametrize("h", [4.0, 5.0])
def test_cusum_arl_matches_montgomery_table_9_3(h):
    d = design_cusum(target=0.0, sigma=1.0, shift=1.0, arl0=None, h=h, side="two-sided")
    for shift, printed in zip(SHIFTS, MONTGOMERY_9_3[h]):
        got = arl(d, shift=shift)
        # printed precision, plus 0.5 % for the table's own numerical method
        assert got == pytest.approx(printed, abs=_printed_tol(printed), rel=0.005), (h, shift)


@pytest.mark.parametrize("lam,L", list(MONTGOMERY_9_11))
def test_ewma_arl_matches_montgomery_table_9_11(lam, L):
    d = design_ewma(target=0.0, sigma=1.0, lam=lam, arl0=None, L=L)
    for shift, printed in zip(SHIFTS, MONTGOMERY_9_11[(lam, L)]):
        got = arl(d, shift=shift)
        # Lucas & Saccucci computed by a Markov chain; agree to the printed digit or 1 %
        assert got == pytest.approx(printed, abs=_printed_tol(printed), rel=0.01), (lam, L, shift)


def _markov_chain_arl(h, cdf, m=600):
    """Brook & Evans (1972): discretise [0, h] into m states of width w = 2h/(2m-1),
    state 0 at 0, state j at j*w; cdf(s, u) = P(S_next <= s | S = u) for s >= 0,
    S_next = max(0, ...). ARL from 0 = first entry of (I - R)^{-1} 1."""
    w = 2 * h / (2 * m - 1)
    u = np.arange(m) * w
    upper = (np.arange(m) + 0.5) * w  # state j covers ((j - 0.5) w, (j + 0.5) w]; state 0 covers [0, 0.5 w]
    r = np.empty((m, m))
    for i in range(m):
        c = cdf(upper, u[i])
        r[i] = np.diff(c, prepend=0.0)  # P(S_next <= 0.5 w) for state 0, differences after
    return float(np.linalg.solve(np.eye(m) - r, np.ones(m))[0])


@pytest.mark.parametrize("h,k,delta", [(4.0, 0.5, 0.0), (5.0, 0.5, 0.0), (3.0, 0.25, 0.5), (8.0, 0.1, -0.2)])
def test_one_sided_cusum_matches_markov_chain(h, k, delta):
    d = design_cusum(target=0.0, sigma=1.0, shift=2 * k, arl0=None, h=h, side="upper")
    mc = _markov_chain_arl(h, lambda s, u: norm.cdf(s - u + k - delta))
    assert arl(d, shift=delta) == pytest.approx(mc, rel=2e-3)


@pytest.mark.parametrize("lam,L,delta", [(0.1, 2.7, 0.0), (0.2, 2.9, 0.5)])
def test_one_sided_reflected_ewma_matches_markov_chain(lam, L, delta):
    d = design_ewma(target=0.0, sigma=1.0, lam=lam, arl0=None, L=L, side="upper")
    c = L * math.sqrt(lam / (2 - lam))
    # S_next = max(0, (1 - lam) u + lam X): P(S_next <= s) = Phi((s - (1 - lam) u) / lam - delta)
    mc = _markov_chain_arl(c, lambda s, u: norm.cdf((s - (1 - lam) * u) / lam - delta), m=800)
    assert arl(d, shift=delta) == pytest.approx(mc, rel=3e-3)
    # lower side is the mirror image
    dl = design_ewma(target=0.0, sigma=1.0, lam=lam, arl0=None, L=L, side="lower")
    assert arl(dl, shift=-delta) == pytest.approx(arl(d, shift=delta), rel=1e-10)


def test_one_sided_cusum_near_siegmund_approximation():
    # Siegmund (Montgomery 2009, eq. 9.21): ARL = (exp(-2 D b) + 2 D b - 1) / (2 D^2),
    # D = delta - k, b = h + 1.166. For h = 4, k = 0.5, delta = 0: D = -0.5, b = 5.166,
    # ARL = (e^{5.166} - 5.166 - 1) / 0.5 = 338.1; the approximation is known to be within ~1 %.
    d = design_cusum(target=0.0, sigma=1.0, arl0=None, h=4.0, side="upper")
    siegmund = (math.exp(5.166) - 5.166 - 1) / 0.5
    assert d.arl0 == pytest.approx(siegmund, rel=0.01)
    # the two-sided chart (Table 9.3: 168) has half the one-sided ARL0 by Lucas-Crosier
    assert d.arl0 == pytest.approx(2 * design_cusum(target=0, sigma=1, arl0=None, h=4.0).arl0, rel=1e-9)


def test_design_solves_for_requested_arl0():
    d = design_ewma(target=0.0, sigma=1.0, lam=0.1, arl0=500.0)
    assert d.L == pytest.approx(2.814, abs=0.001)  # Montgomery Table 9.11: lambda 0.1 -> L 2.814
    assert d.arl0 == pytest.approx(500.0, rel=1e-6)
    c = design_cusum(target=0.0, sigma=1.0, shift=1.0, arl0=465.0)
    assert c.h == pytest.approx(5.0, abs=0.01)  # Table 9.3: h = 5 gives ARL0 465
    assert c.k == 0.5 and c.arl0_requested == 465.0
    low = design_cusum(target=0.9, sigma=0.02, shift=0.5, arl0=1000.0, side="lower")
    assert arl(low, shift=0.0) == pytest.approx(1000.0, rel=1e-6)
    assert arl(low, shift=-1.0) < 30 < arl(low, shift=1.0)
    json.dumps(low.to_dict())


def test_run_cusum_by_hand():
    # target 10, sigma 1, k = 0.5, h = 4 -> K = 0.5, H = 4 in raw units (Montgomery §9.1.2).
    d = design_cusum(target=10.0, sigma=1.0, shift=1.0, arl0=None, h=4.0)
    x = [10.0, 11.5, 12.0, 11.0, 12.5, 8.0, float("nan"), 9.0]
    # C+_t = max(0, x - 10.5 + C+_{t-1}): 0, 1.0, 2.5, 3.0, 5.0 (> 4: alarm at 4), 2.5, (nan), 1.0
    # C-_t = max(0, 9.5 - x + C-_{t-1}):  0, 0, 0, 0, 0, 1.5, (nan), 2.0
    r = run_chart(d, x)
    assert r.upper[:6] == pytest.approx([0.0, 1.0, 2.5, 3.0, 5.0, 2.5])
    assert math.isnan(r.upper[6]) and r.upper[7] == pytest.approx(1.0)
    assert r.lower[5] == pytest.approx(1.5) and r.lower[7] == pytest.approx(2.0)
    assert r.alarms == (4,) and r.first_alarm == 4
    assert r.n == 8 and r.n_excluded == 1
    assert r.limit_upper == r.limit_lower == 4.0
    # with reset the statistic restarts after the alarm: C+_5 = max(0, 8 - 10.5) = 0
    rr = run_chart(d, x, reset=True)
    assert rr.upper[5] == 0.0
    out = json.loads(json.dumps(r.to_dict()))
    assert out["upper"][6] is None


def test_run_ewma_by_hand():
    d = design_ewma(target=0.0, sigma=1.0, lam=0.5, arl0=None, L=1.0)
    # limits +- L sigma sqrt(lam/(2 - lam)) = +- sqrt(1/3) = +-0.5774
    # z: 0.5*1 = 0.5; 0.5*1 + 0.25 = 0.75 (> 0.577: alarm at 1); 0.5*(-2) + 0.375 = -0.625 (alarm at 2)
    r = run_chart(d, [1.0, 1.0, -2.0])
    assert r.upper == pytest.approx((0.5, 0.75, -0.625))
    assert r.limit_upper == pytest.approx(math.sqrt(1 / 3)) and r.limit_lower == pytest.approx(-math.sqrt(1 / 3))
    assert r.alarms == (1, 2)
    up = run_chart(design_ewma(target=0.0, sigma=1.0, lam=0.5, arl0=None, L=1.0, side="upper"), [-1.0, 1.0])
    # reflected at the target: max(0, -0.5) = 0, then 0.5
    assert up.upper == pytest.approx((0.0, 0.5)) and up.limit_lower is None


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"'sigma' must be a positive number; got 0"):
        design_cusum(target=0.0, sigma=0, arl0=100.0)
    with pytest.raises(ValueError, match=r"give exactly one of 'arl0'"):
        design_cusum(target=0.0, sigma=1.0, arl0=100.0, h=4.0)
    with pytest.raises(ValueError, match=r"'side' must be one of"):
        design_ewma(target=0.0, sigma=1.0, side="both")
    with pytest.raises(ValueError, match=r"'lam' must be in \(0, 1\]; got 1.5"):
        design_ewma(target=0.0, sigma=1.0, lam=1.5)
    d = design_cusum(target=0.0, sigma=1.0, arl0=None, h=4.0)
    with pytest.raises(ValueError, match=r"'values' is empty"):
        run_chart(d, [])
    with pytest.raises(ValueError, match=r"'values'\[1\] is infinite"):
        run_chart(d, [0.0, np.inf])
    with pytest.raises(TypeError, match=r"'design' must be a ChartDesign"):
        run_chart({"kind": "cusum"}, [0.0])
    assert isinstance(d, ChartDesign)


def _simulate_run_lengths(step, n_streams, rng, max_len=200_000):
    """Run lengths of n_streams independent in-control streams; step(state, x) -> (state, alarm)."""
    rl = np.zeros(n_streams, dtype=np.int64)
    alive = np.ones(n_streams, dtype=bool)
    state = None
    t = 0
    while alive.any() and t < max_len:
        t += 1
        x = rng.standard_normal(n_streams)
        state, alarm = step(state, x)
        newly = alive & alarm
        rl[newly] = t
        alive &= ~alarm
    return rl


@pytest.mark.slow
@pytest.mark.parametrize("chart", ["cusum-two-sided", "ewma-two-sided", "ewma-upper", "cusum-lower"])
def test_false_alarm_simulation(chart):
    """In-control streams: the mean run length to the first (false) alarm against ARL0."""
    rng = np.random.default_rng(20260101)
    n = 4000
    if chart.startswith("cusum"):
        side = chart.split("-", 1)[1]
        d = design_cusum(target=0.0, sigma=1.0, shift=1.0, arl0=200.0, side=side)

        def step(s, x):
            sp, sm = (np.zeros(n), np.zeros(n)) if s is None else s
            sp = np.maximum(0, sp + x - d.k)
            sm = np.maximum(0, sm - x - d.k)
            alarm = (sp > d.h) if side == "upper" else (sm > d.h) if side == "lower" else (sp > d.h) | (sm > d.h)
            return (sp, sm), alarm
    else:
        side = chart.split("-", 1)[1]
        d = design_ewma(target=0.0, sigma=1.0, lam=0.1, arl0=200.0, side=side)
        lo, hi = d.limits

        def step(z, x):
            z = np.zeros(n) if z is None else z
            z = d.lam * x + (1 - d.lam) * z
            if side == "upper":
                z = np.maximum(z, 0.0)
            alarm = np.zeros(n, dtype=bool)
            if hi is not None:
                alarm |= z > hi
            if lo is not None:
                alarm |= z < lo
            return z, alarm

    rl = _simulate_run_lengths(step, n, rng)
    mean, se = rl.mean(), rl.std(ddof=1) / math.sqrt(n)
    print(f"\n{chart}: designed ARL0 {d.arl0:.1f}; simulated mean run length {mean:.1f} "
          f"(SE {se:.1f}, {n} in-control streams)")
    assert abs(mean - d.arl0) < 4 * se

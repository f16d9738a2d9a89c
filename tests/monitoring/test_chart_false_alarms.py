"""False-alarm rate of each control chart over in-control streams, against its ARL0 design.

The charts of the plan are designed for an in-control average run length
(ARL0, in windows) under the assumption that the standardised per-window
statistic z = (x - reference) / se is N(0, 1) and independent across windows.
Whether the monitor's standard errors make that true for the *real* model is
an empirical question, answered here by simulation:

* the population is the validated reference cohort scored by the locked
  classifier (the reference profile: real scores, real labels, real patients);
* each in-control replication draws a fresh reference cohort (patients
  resampled with replacement, as many as the reference has), refits CBPE on it
  and computes the chart targets from it, exactly as ``run_monitoring`` does
  from its reference; then it draws a stream of weekly windows from the same
  population (patients with all their images, 80 patients a week as in the test
  stream) and runs every chart of the plan over the stream with the monitor's
  own standard errors;
* the false-alarm rate is first alarms per in-control window at risk (run
  lengths censored at the end of a stream), and the measured ARL0 its inverse.

The acceptance criterion: no chart false-alarms more often than twice its
design rate (measured ARL0 >= ARL0 / 2; with ~1,000 expected windows per
alarm of the simulation, a factor of 2 is far outside its sampling error).
Charts are allowed to be conservative (measured ARL0 above the design): the
CBPE estimate varies only with the case mix, not with labels, so its
binomial standard error overstates its in-control spread.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from _monitoring_support import PLAN, monitoring_data
from monitoring import charts
from monitoring.monitor import _estimate_se, _positive_rate_se
from monitoring.performance import CBPE
from monitoring.plan import load_plan
from monitoring.profile import design_effect, load_or_build_profile

N_STREAMS = 120
STREAM_WINDOWS = 400
PATIENTS_PER_WINDOW = 80


@pytest.fixture(scope="module")
def data(request):
    return monitoring_data(request.config.cache.mkdir("medval-monitoring"))


def _designs(plan):
    out = {}
    for spec in plan.charts:
        if spec.kind == "cusum":
            out[spec.name] = charts.design_cusum(target=0.0, sigma=1.0, shift=spec.shift, arl0=spec.arl0,
                                                 side=spec.side)
        else:
            kw = {} if spec.lam is None else {"lam": spec.lam}
            out[spec.name] = charts.design_ewma(target=0.0, sigma=1.0, arl0=spec.arl0, side=spec.side, **kw)
    return out


def simulate_in_control(profile, plan, *, n_streams=N_STREAMS, n_windows=STREAM_WINDOWS,
                        patients=PATIENTS_PER_WINDOW, seed=0) -> dict:
    """Measured ARL0 per chart (see the module docstring)."""
    frame = profile.frame.dropna(subset=["label"]).reset_index(drop=True)
    threshold = profile.threshold
    pid = frame["patient_id"].to_numpy()
    uniq, inv = np.unique(pid, return_inverse=True)
    members = [np.flatnonzero(inv == k) for k in range(uniq.size)]
    sizes = np.array([m.size for m in members])
    flat = np.concatenate(members)
    offsets = np.r_[0, np.cumsum(sizes)]
    scores = frame["score"].to_numpy(dtype=np.float64)
    labels = frame["label"].to_numpy(dtype=np.int64)
    designs = _designs(plan)
    rng = np.random.default_rng(seed)

    def draw(k):
        pats = rng.integers(0, uniq.size, size=k)
        idx = np.concatenate([flat[offsets[q]:offsets[q + 1]] for q in pats])
        return idx, pats

    alarms = {name: 0 for name in designs}
    at_risk = {name: 0 for name in designs}
    z_all: dict[str, list] = {s.statistic: [] for s in plan.charts}
    for _ in range(n_streams):
        ref_idx, ref_pats = draw(uniq.size)
        s_ref, y_ref = scores[ref_idx], labels[ref_idx]
        cbpe = CBPE.fit(s_ref, y_ref)
        d_ref = s_ref >= threshold
        p_ref = cbpe.calibrated(s_ref)
        targets = {
            "positive_rate": float(d_ref.mean()),
            "estimated_sensitivity": float(p_ref[d_ref].sum() / p_ref.sum()),
            "estimated_specificity": float((1 - p_ref[~d_ref]).sum() / (1 - p_ref).sum()),
        }
        de = design_effect(d_ref.astype(np.float64), np.repeat(ref_pats, sizes[ref_pats]))
        ref_profile = SimpleNamespace(meta={"prevalence": float(y_ref.mean()), "design_effect": {"decision": de}},
                                      frame=np.empty(len(ref_idx)))
        # The stream: n_windows windows of `patients` patients each, all images of a patient in one window.
        pats = rng.integers(0, uniq.size, size=(n_windows, patients))
        n_img = sizes[pats].sum(axis=1)
        idx = np.concatenate([flat[offsets[q]:offsets[q + 1]] for q in pats.ravel()])
        win = np.repeat(np.arange(n_windows), n_img)
        s_w = scores[idx]
        d_w = (s_w >= threshold).astype(np.float64)
        p_w = cbpe.calibrated(s_w)
        values = {
            "positive_rate": np.bincount(win, d_w, n_windows) / n_img,
            "estimated_sensitivity": np.bincount(win, p_w * d_w, n_windows) / np.bincount(win, p_w, n_windows),
            "estimated_specificity": np.bincount(win, (1 - p_w) * (1 - d_w), n_windows)
            / np.bincount(win, 1 - p_w, n_windows),
        }
        windows = [SimpleNamespace(n=int(k)) for k in n_img]
        for spec in plan.charts:
            stat, target = spec.statistic, targets[spec.statistic]
            if stat == "positive_rate":
                sig = _positive_rate_se(target, n_img, float(len(ref_idx)), de)
            else:
                sig = _estimate_se(ref_profile, windows, stat.removeprefix("estimated_"), target)
            z = (values[stat] - target) / sig
            z_all[stat].append(z)
            first = charts.run_chart(designs[spec.name], z).first_alarm
            if first is None:
                at_risk[spec.name] += n_windows
            else:
                alarms[spec.name] += 1
                at_risk[spec.name] += int(first) + 1
    out = {}
    for spec in plan.charts:
        rate = alarms[spec.name] / at_risk[spec.name]
        z = np.concatenate(z_all[spec.statistic])
        out[spec.name] = {
            "arl0_design": float(designs[spec.name].arl0),
            "false_alarms": alarms[spec.name],
            "windows_at_risk": at_risk[spec.name],
            "false_alarm_rate": rate,
            "design_rate": 1.0 / float(designs[spec.name].arl0),
            "arl0_measured": (1.0 / rate) if rate > 0 else float("inf"),
            "z_mean": float(z.mean()),
            "z_sd": float(z.std(ddof=1)),
        }
    return out


@pytest.fixture(scope="module")
def measured(data):
    profile = load_or_build_profile(data["run_dir"])
    return simulate_in_control(profile, load_plan(PLAN).plan)


def test_every_chart_of_the_plan_is_measured(measured):
    assert set(measured) == {s.name for s in load_plan(PLAN).plan.charts}
    print(json.dumps(measured, indent=1))


@pytest.mark.parametrize("name", ["positive-rate-cusum", "positive-rate-ewma", "estimated-sensitivity-cusum",
                                  "estimated-specificity-cusum"])
def test_in_control_false_alarm_rate_within_twice_the_design_rate(measured, name):
    m = measured[name]
    assert m["false_alarm_rate"] <= 2.0 * m["design_rate"], m

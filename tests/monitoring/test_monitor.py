"""run_monitoring on the demo stream: the shift is caught in week 5/6, nothing before, nothing on the control.

Data: a locked classifier (the shipped reference model when present, else the
test-fixture ONNX classifier), a validation run on an in-silico cohort (seed
2600), and an eight-week production stream (seed 5000, 80 patients a week)
in which Lakeside Clinic adds the Zephyr Diagnostics scanner from week 5.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from _monitoring_support import PLAN, SHIFT_WEEK, control_logs_dir, monitoring_data
from monitoring.monitor import assign_windows, run_monitoring
from monitoring.plan import load_plan
from validation.errors import InputError, ProtocolError


@pytest.fixture(scope="module")
def data(request):
    return monitoring_data(request.config.cache.mkdir("medval-monitoring"))


@pytest.fixture(scope="module")
def shifted(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("mon-shifted")
    result = run_monitoring(PLAN, data["logs_dir"], data["run_dir"], out, labels=data["labels"],
                            audit_db=out / "audit.sqlite", evidently=False)
    return result, out


@pytest.fixture(scope="module")
def control(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("mon-control")
    result = run_monitoring(PLAN, control_logs_dir(data), data["run_dir"], out, labels=data["labels"],
                            audit_db=out / "audit.sqlite", evidently=False)
    return result, out


def _week(result, k):
    """Window of stream week k (1-based): the stream starts on Monday 2026-01-05 = ISO week 2026-W02."""
    return result.windows[k - 1]


def test_eight_weekly_windows_all_tested(shifted):
    result, _ = shifted
    assert [w.id for w in result.windows] == [f"2026-W{k:02d}" for k in range(2, 10)]
    assert all(w.tested for w in result.windows)


def test_no_alarm_in_weeks_one_to_four(shifted):
    result, _ = shifted
    for k in range(1, SHIFT_WEEK):
        assert _week(result, k).alerts == (), [a.message for a in _week(result, k).alerts]


def test_alarm_in_week_five_or_six_names_noise_and_embedding(shifted):
    result, _ = shifted
    first = result.data["summary"]["first_alarm_index"]
    assert first in (SHIFT_WEEK - 1, SHIFT_WEEK), result.data["summary"]
    w = result.windows[first]
    named = {a.feature for a in w.alerts}
    assert "img_noise" in named
    assert "embedding" in named
    assert "manufacturer" in named  # the new vendor is a category the reference never saw
    fd = {r["feature"]: r for r in w.details["feature_drift"]["results"]}
    assert "Zephyr Diagnostics" in json.dumps(fd["manufacturer"]["details"])


def test_alarm_in_week_five_or_six_names_the_estimated_performance_drop(shifted):
    """The label-free (CBPE) performance alarm in the first alarm window, for the new vendor.

    With the shipped classifier the new vendor's noise costs *specificity* (the
    model calls noise a nodule), so the estimated-performance alarm names
    estimated specificity, overall and for Zephyr Diagnostics.
    """
    result, _ = shifted
    first = result.data["summary"]["first_alarm_index"]
    est = [a for a in result.windows[first].alerts if a.family == "estimated_performance"]
    named = {a.feature for a in est}
    assert "estimated_specificity[manufacturer=Zephyr Diagnostics]" in named, named
    assert all(a.severity == "critical" for a in est)


def _realised_by_vendor(data, result, weeks):
    import pandas as pd

    from validation.synth import SHIFT_VENDOR

    ids = {w.id for w in result.windows[weeks[0] - 1:weeks[-1]]}
    frame = pd.concat([pd.read_parquet(f) for f in sorted(data["logs_dir"].glob("*.parquet"))])
    frame = frame.merge(pd.read_csv(data["labels"]), on="case_id")
    iso = frame["timestamp"].dt.isocalendar()
    frame = frame[(iso["year"].astype(str) + "-W" + iso["week"].map("{:02d}".format)).isin(ids)]
    out = {}
    for new, g in frame.groupby(frame["manufacturer"] == SHIFT_VENDOR):
        y, d = g["label"].to_numpy() == 1, g["score"].to_numpy() >= result.data["reference"]["threshold"]
        out["new" if new else "base"] = {"sensitivity": (d & y).sum() / y.sum(), "specificity": (~d & ~y).sum() / (~y).sum(),
                                         "n_pos": int(y.sum()), "n_neg": int((~y).sum())}
    return out


def test_new_vendor_costs_specificity_not_sensitivity_with_the_labels(data, shifted):
    """What the delayed labels say about the new vendor (weeks 5-6 are labelled).

    This is the truth the label-free estimates are judged against: on Zephyr
    Diagnostics images the classifier keeps its sensitivity and loses most of
    its specificity.
    """
    result, _ = shifted
    r = _realised_by_vendor(data, result, [SHIFT_WEEK, SHIFT_WEEK + 1])
    assert r["new"]["specificity"] < r["base"]["specificity"] - 0.3, r
    assert r["new"]["sensitivity"] >= r["base"]["sensitivity"] - 0.1, r


def test_estimated_specificity_drops_for_the_new_vendor(shifted):
    """CBPE specificity for the new scanner's images is below the reference estimate in every shifted week.

    The reference value is CBPE on the reference cohort itself (``reference.estimated_performance``).
    """
    result, _ = shifted
    ref = result.data["reference"]["estimated_performance"]["specificity"]["estimate"]
    for k in range(SHIFT_WEEK, 9):
        subs = {s["level"]: s for s in _week(result, k).details["estimated_by_subgroup"]}
        z = subs["Zephyr Diagnostics"]["estimated"]["specificity"]
        assert z["upper"] < ref, (k, z, ref)


@pytest.mark.xfail(strict=True, reason=(
    "the shipped lesion-classifier v1 does not lose sensitivity on the new vendor: its heavy noise makes the "
    "model call more images positive (realised sensitivity on Zephyr ~0.96 vs ~0.87 on the other vendors, "
    "specificity ~0.13), so CBPE correctly estimates a *higher* sensitivity; the alarm names the estimated "
    "specificity drop instead (test_alarm_in_week_five_or_six_names_the_estimated_performance_drop)"))
def test_estimated_sensitivity_alarm_in_shifted_weeks(shifted):
    """An estimated-sensitivity alarm (window or new-vendor subgroup, or its CUSUM) fires in week 5 or 6."""
    result, _ = shifted
    early = [a for w in result.windows[SHIFT_WEEK - 1:SHIFT_WEEK + 1] for a in w.alerts]
    assert [a for a in early if "sensitivity" in a.feature and a.family != "realised_performance"]


def test_control_stream_raises_no_alarm(control):
    result, _ = control
    assert len(result.windows) == 8
    assert result.alerts == (), [a.message for a in result.alerts]
    assert result.exit_code == 0


def test_realised_performance_only_where_labels_arrived(shifted):
    result, _ = shifted
    # Labels arrive two weeks late: weeks 1-6 labelled, 7-8 not.
    assert [w.n_labelled > 0 for w in result.windows] == [True] * 6 + [False] * 2
    w1 = result.windows[0]
    real = w1.details["realised_performance"]["metrics"]["sensitivity"]
    assert real["lower"] <= real["estimate"] <= real["upper"]


def test_monitoring_json_is_deterministic(data, shifted, tmp_path):
    result, out = shifted
    again = run_monitoring(PLAN, data["logs_dir"], data["run_dir"], tmp_path, labels=data["labels"],
                           audit_db=False, evidently=False, build_site=False)
    assert again.digest == result.digest
    assert (tmp_path / "monitoring.json").read_bytes() == (out / "monitoring.json").read_bytes()


def test_audit_store_records_run_and_alerts(shifted):
    from validation.audit import AuditStore

    result, out = shifted
    store = AuditStore(out / "audit.sqlite")
    runs = store.entries("monitor.run")
    alerts = store.entries("monitor.alert")
    assert len(runs) == 1 and len(alerts) == result.n_alerts
    assert runs[0].payload["plan_sha256"] == load_plan(PLAN).sha256
    assert runs[0].payload["monitoring_digest"] == result.digest
    assert {a.payload["window"] for a in alerts} == set(result.data["summary"]["windows_with_alerts"])
    assert store.verify().ok


def test_charts_carry_their_design(shifted):
    result, _ = shifted
    names = {c["name"]: c for c in result.data["charts"]}
    assert set(names) == {"positive-rate-cusum", "positive-rate-ewma", "estimated-sensitivity-cusum",
                          "estimated-specificity-cusum"}
    cusum = names["positive-rate-cusum"]
    # The design's ARL0 is computed for the requested 500 (monitoring.charts solves h for it).
    assert cusum["design"]["arl0"] == pytest.approx(500, rel=0.01)
    assert len(cusum["z"]) == 8


def test_model_mismatch_is_refused(data, tmp_path):
    text = PLAN.read_text().replace("  id: lesion-classifier\n  version: 1", "  id: lesion-classifier\n  version: 2")
    bad = tmp_path / "plan.yaml"
    bad.write_text(text)
    with pytest.raises(InputError, match=r"plan.yaml: field 'model'.*v2"):
        run_monitoring(bad, data["logs_dir"], data["run_dir"], None, audit_db=False)


def test_assign_windows_count_kind():
    import pandas as pd

    ts = pd.Series(pd.date_range("2026-01-05", periods=7, freq="D", tz="UTC"))
    w = assign_windows(pd.DataFrame({"timestamp": ts}), kind="count", size=3)
    assert w["window"].tolist() == ["n0001"] * 3 + ["n0002"] * 3 + ["n0003"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "validation", *map(str, args)], capture_output=True, text=True,
                          env={**__import__("os").environ, "ORT_DISABLE_TELEMETRY": "1"})


def test_cli_exit_codes(data, tmp_path):
    common = ["--reference", data["run_dir"], "--no-evidently", "--db", tmp_path / "audit.sqlite"]
    r = _cli("monitor", PLAN, "--logs", data["logs_dir"], "--out", tmp_path / "a", *common)
    assert r.returncode == 1, r.stderr
    assert "alert(s)" in r.stdout and "img_noise" in r.stdout
    r = _cli("monitor", PLAN, "--logs", control_logs_dir(data), "--out", tmp_path / "b", *common)
    assert r.returncode == 0, r.stdout + r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(PLAN.read_text().replace("kind: calendar_week", "kind: monthly"))
    r = _cli("monitor", bad, "--logs", data["logs_dir"], "--out", tmp_path / "c", *common)
    assert r.returncode == 2
    assert "bad.yaml, line" in r.stderr and "window.kind" in r.stderr


def test_plan_error_is_a_protocol_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(PLAN.read_text().replace("kind: calendar_week", "kind: monthly"))
    with pytest.raises(ProtocolError):
        load_plan(bad)

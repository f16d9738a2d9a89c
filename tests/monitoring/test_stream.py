"""The demo stream: deterministic, shift only from the shift week, labels delayed, control = base traffic."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from _monitoring_support import SHIFT_WEEK, classifier_dir, monitoring_data
from monitoring.logs import read_logs
from monitoring.stream import generate_stream
from validation.errors import InputError
from validation.synth import SHIFT_VENDOR


@pytest.fixture(scope="module")
def data(request):
    return monitoring_data(request.config.cache.mkdir("medval-monitoring"))


def test_new_vendor_only_from_the_shift_week_at_one_site(data):
    meta = json.loads((data["stream_dir"] / "stream.json").read_text())
    assert [w["n_new_vendor"] > 0 for w in meta["per_week"]] == [False] * (SHIFT_WEEK - 1) + [True] * (9 - SHIFT_WEEK)
    logs = read_logs(data["logs_dir"]).frame
    new = logs[logs["manufacturer"] == SHIFT_VENDOR]
    assert set(new["site"]) == {"Lakeside Clinic"}
    assert new["timestamp"].min() >= pd.Timestamp("2026-01-05", tz="UTC") + pd.Timedelta(weeks=SHIFT_WEEK - 1)
    assert meta["seed"] >= 5000 and meta["model"]["sha256"] == logs["model_sha256"].iloc[0]


def test_labels_arrive_two_weeks_late(data):
    labels = pd.read_csv(data["labels"], dtype={"case_id": str})
    logs = read_logs(data["logs_dir"]).frame
    labelled = logs[logs["case_id"].isin(labels["case_id"])]
    assert labelled["timestamp"].max() < pd.Timestamp("2026-01-05", tz="UTC") + pd.Timedelta(weeks=6)
    assert len(labelled) == len(labels)


def test_stream_is_deterministic_and_control_is_the_base_traffic(request, tmp_path):
    """Two weeks, shift from week 2: same bytes on rerun; the no-shift stream equals the shifted one minus the new vendor."""
    model = classifier_dir(request.config.cache.mkdir("medval-monitoring"))
    kw = dict(model=model, weeks=2, patients_per_week=12, seed=5100)
    a = generate_stream(tmp_path / "a", shift_from_week=2, **kw)
    b = generate_stream(tmp_path / "b", shift_from_week=2, **kw)
    c = generate_stream(tmp_path / "c", shift_from_week=None, **kw)
    parts = sorted(p.name for p in a.logs_dir.glob("*.parquet"))
    assert parts == sorted(p.name for p in b.logs_dir.glob("*.parquet"))
    for name in parts:
        assert (a.logs_dir / name).read_bytes() == (b.logs_dir / name).read_bytes()
    shifted = read_logs(a.logs_dir).frame
    control = read_logs(c.logs_dir).frame
    base = shifted[shifted["manufacturer"] != SHIFT_VENDOR].reset_index(drop=True)
    assert (shifted["manufacturer"] == SHIFT_VENDOR).sum() > 0
    cols = ["case_id", "timestamp", "site", "manufacturer", "img_noise", "score"]
    pd.testing.assert_frame_equal(base[cols], control[cols].reset_index(drop=True), atol=1e-6)


def test_bad_arguments(request, tmp_path):
    model = classifier_dir(request.config.cache.mkdir("medval-monitoring"))
    with pytest.raises(InputError, match="'seed' must be an integer >= 5000; got 42"):
        generate_stream(tmp_path, model=model, seed=42)
    with pytest.raises(InputError, match="'shift_from_week' must be in 1..8"):
        generate_stream(tmp_path, model=model, shift_from_week=9)
    with pytest.raises(InputError, match="'shift_site' must be one of"):
        generate_stream(tmp_path, model=model, shift_site="Nowhere")

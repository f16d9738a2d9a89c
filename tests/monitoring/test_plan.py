"""Monitoring plans: the shipped plan parses, its hash is its bytes' sha256, errors name file, line, field."""

from __future__ import annotations

import hashlib

import pytest

from _monitoring_support import PLAN
from monitoring.plan import load_plan, parse_plan
from validation.errors import ProtocolError


def test_shipped_plan_parses_and_hashes_its_bytes():
    loaded = load_plan(PLAN)
    assert loaded.sha256 == hashlib.sha256(PLAN.read_bytes()).hexdigest()
    p = loaded.plan
    assert (p.id, p.version, p.model.id, p.model.version) == ("monitoring-lesion-classifier", 1, "lesion-classifier", "1")
    assert p.window.kind == "calendar_week" and "img_noise" in p.watch.numeric
    assert {c.kind for c in p.charts} == {"cusum", "ewma"}
    assert p.drift.features.multiplicity == "holm"


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("old, new, field", [
    ("kind: calendar_week", "kind: monthly", "window.kind"),
    ("    alpha: 0.01\n    # A feature", "    alpha: 1.5\n    # A feature", "drift.features.alpha"),
    ("    multiplicity: holm", "    multiplicity: sidak", "drift.features.multiplicity"),
    ("    arl0: 500\n    side: two-sided\n    severity: warning\n  # The", "    arl0: 0.5\n    side: two-sided\n    severity: warning\n  # The", "charts.0.arl0"),
])
def test_error_names_file_line_and_field(tmp_path, old, new, field):
    text = PLAN.read_text()
    assert old in text
    bad = text.replace(old, new, 1)
    path = tmp_path / "plan.yaml"
    path.write_text(bad)
    line = _line_of(bad, new.strip().splitlines()[0])
    with pytest.raises(ProtocolError, match=rf"plan.yaml, line {line}: field '{field}'"):
        load_plan(path)


def test_unknown_field_and_missing_field():
    with pytest.raises(ProtocolError, match=r"<plan>, line 1: field 'window': Field required"):
        parse_plan("id: x\nversion: 1\ntitle: t\nmodel: {id: m, version: 1}\nwatch: {numeric: [a]}\n")
    with pytest.raises(ProtocolError, match=r"line 6: field 'windw': Extra inputs are not permitted"):
        parse_plan("id: x\nversion: 1\ntitle: t\nmodel: {id: m, version: 1}\nwatch: {numeric: [a]}\n"
                   "windw: {kind: count}\nwindow: {kind: count, size: 10}\n")


def test_duplicate_chart_names_and_bad_yaml(tmp_path):
    base = "id: x\nversion: 1\ntitle: t\nmodel: {id: m, version: 1}\nwatch: {numeric: [a]}\nwindow: {kind: count}\n"
    chart = "  - {name: c, statistic: positive_rate, kind: cusum, shift: 1, arl0: 100}\n"
    with pytest.raises(ProtocolError, match="chart names must be unique"):
        parse_plan(base + "charts:\n" + chart + chart)
    with pytest.raises(ProtocolError, match=r"line 2: not valid YAML"):
        parse_plan("id: x\n  bad: [\n")
    with pytest.raises(ProtocolError, match="lam' applies to EWMA charts only"):
        parse_plan(base + "charts:\n  - {name: c, statistic: positive_rate, kind: cusum, shift: 1, arl0: 100, lam: 0.2}\n")


def test_missing_file():
    with pytest.raises(ProtocolError, match="cannot read monitoring plan"):
        load_plan("/nonexistent/plan.yaml")

"""The monitoring report: HTML + PDF from monitoring.json, naming the plan hash, the period and the alarms."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "monitoring"))

from _monitoring_support import PLAN, monitoring_data  # noqa: E402
from monitoring.monitor import run_monitoring  # noqa: E402
from monitoring.plan import load_plan  # noqa: E402
from reports.monitoring import render_monitoring_html, render_monitoring_report  # noqa: E402
from validation.errors import InputError  # noqa: E402


@pytest.fixture(scope="module")
def monitored(request, tmp_path_factory):
    data = monitoring_data(request.config.cache.mkdir("medval-monitoring"))
    out = tmp_path_factory.mktemp("mon-report")
    result = run_monitoring(PLAN, data["logs_dir"], data["run_dir"], out, labels=data["labels"],
                            audit_db=False, evidently=False, build_site=False)
    return result, out


def test_html_and_pdf_name_plan_period_and_alarms(monitored):
    result, out = monitored
    html_path, pdf_path = render_monitoring_report(out)
    html = html_path.read_text()
    sha = load_plan(PLAN).sha256
    first = result.data["summary"]["first_alarm_window"]
    assert sha in html and result.digest in html
    assert "2026-01-05" in html  # the period's first day
    assert f"first in window <b>{first}</b>" in html
    assert "img_noise" in html and "estimated sensitivity" in html.lower()
    assert html.count("<svg") >= 1 + len(result.data["charts"])
    assert pdf_path.read_bytes()[:5] == b"%PDF-"
    text = subprocess.run(["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert sha[:16] in text and first in text and "Control charts" in text
    # table headers and cells wrap in -layout output: look for the phrase with whitespace collapsed
    assert "in-control ARL" in re.sub(r"\s+", " ", text)


def test_html_is_deterministic(monitored):
    result, _ = monitored
    assert render_monitoring_html(result.data) == render_monitoring_html(json.loads(json.dumps(result.data)))


def test_missing_or_malformed_input(tmp_path):
    with pytest.raises(InputError, match="no monitoring.json"):
        render_monitoring_report(tmp_path)
    with pytest.raises(InputError, match="missing top-level field 'plan'"):
        render_monitoring_html({"windows": []})

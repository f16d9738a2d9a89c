"""The lead's runner (``validation.runner.run_validation``) → results.json → this report, unchanged.

Slow: it trains and locks a small ONNX classifier (tests/monitoring/_monitoring_support.py)
unless the shipped reference classifier exists, generates an in-silico cohort and
runs a real exploratory validation, whose end issues the report through
``reports.render.issue_report``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import pdftotext

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_real_runner_results_render_and_verify(tmp_path):
    sys.path.insert(0, str(REPO / "tests" / "monitoring"))
    from _monitoring_support import classifier_dir

    from reports.issuance import verify_report
    from validation.runner import run_validation
    from validation.synth import generate_cohort

    cohort = generate_cohort(tmp_path / "cohort", n_patients=40, seed=2711, cohort_id="report-real", fmt="npy")
    out = run_validation(REPO / "protocols" / "lesion-classification.v1.yaml", out_dir=tmp_path / "run",
                         model_dir=classifier_dir(tmp_path), cohort_dir=cohort, exploratory=True,
                         audit_db=tmp_path / "audit.sqlite", cache_dir=tmp_path / "cache", report=True)
    pdf = out.run_dir / "report.pdf"
    assert verify_report(pdf, audit_db=tmp_path / "audit.sqlite").ok
    page1 = pdftotext(pdf, first=1, last=1, raw=True)
    assert out.verdict in page1 and "1. Identity" in page1 and "2. Summary verdict" in page1
    assert out.results["results_digest"] in page1

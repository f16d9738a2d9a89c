"""`medval demo` (validations and reports): the shipped protocols on the shipped demo cohort.

This is the guard on the pins: the shipped protocols pin the committed models'
sha256 and the digest of the demo cohort the generator makes from seed 2026.
If the generator or a model changes a byte, the regulatory runs here exit 2.
"""

from __future__ import annotations

import json

from validation.cli import main


def test_demo_validates_all_shipped_protocols(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--skip-monitoring"]) == 0
    printed = capsys.readouterr().out
    assert "== medval demo: outputs" in printed
    for pid in ("lesion-classification", "lesion-segmentation", "lesion-detection"):
        run = out / "runs" / pid
        results = json.loads((run / "results.json").read_text())
        assert results["inputs"]["mode"] == "regulatory"
        assert results["context"]["protocol_lock"]["locked_by"] == "medval-demo"
        assert results["outcome"]["verdict"] == "PASS", (pid, results["outcome"]["criteria"])
        assert (run / "report.pdf").stat().st_size > 0 and (run / "report.html").stat().st_size > 0
    cls = json.loads((out / "runs" / "lesion-classification" / "results.json").read_text())
    sens = next(c for c in cls["outcome"]["criteria"] if c["metric"] == "sensitivity")
    # Issue 2: a realistic, imperfect device on the demo test cohort, reported with its interval.
    assert 0.75 <= sens["estimate"] <= 0.97 and sens["lower"] < sens["estimate"] < sens["upper"]
    assert main(["audit", "verify", "--db", str(out / "audit.sqlite")]) == 0

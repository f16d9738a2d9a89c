"""Report issue and verification against the audit store (real SQLite, hash-chained)."""

from __future__ import annotations

import json
import shutil

import pytest

from reports.issuance import verify_report
from validation.audit import AuditStore
from validation.cli import main
from validation.hashing import sha256_file


def test_issue_records_one_entry_per_file(rendered):
    r = rendered["classification"]
    entries = AuditStore(r.db).entries("report.issue")
    assert [e.payload["file"] for e in entries] == ["report.html", "report.pdf"]
    for e in entries:
        assert e.payload["run_id"] == r.results["context"]["run_id"]
        assert e.payload["results_digest"] == r.results["results_digest"]
        assert e.payload["sha256"] == sha256_file(r.run_dir / e.payload["file"])
    assert AuditStore(r.db).verify().ok


@pytest.mark.parametrize("task", ["classification", "segmentation"])
@pytest.mark.parametrize("name", ["report.pdf", "report.html"])
def test_verify_issued_report_ok(rendered, task, name):
    r = rendered[task]
    result = verify_report(r.run_dir / name, audit_db=r.db)
    assert result.ok, result.problems
    assert result.issued_entry is not None and result.run_id == r.results["context"]["run_id"]
    assert main(["report", "verify", str(r.run_dir / name), "--db", str(r.db)]) == 0


def test_one_byte_change_fails_verification(rendered, tmp_path, capsys):
    r = rendered["classification"]
    copy = tmp_path / "run"
    shutil.copytree(r.run_dir, copy)
    pdf = copy / "report.pdf"
    data = bytearray(pdf.read_bytes())
    data[len(data) // 2] ^= 0x01
    pdf.write_bytes(bytes(data))
    result = verify_report(pdf, audit_db=r.db)
    assert not result.ok
    assert "was never issued" in result.problems[0] and "this file differs" in result.problems[0]
    capsys.readouterr()
    assert main(["report", "verify", str(pdf), "--db", str(r.db)]) == 1
    assert "NOT VERIFIED" in capsys.readouterr().out


def test_html_one_byte_change_fails(rendered, tmp_path):
    r = rendered["segmentation"]
    copy = tmp_path / "run"
    shutil.copytree(r.run_dir, copy)
    html = copy / "report.html"
    html.write_bytes(html.read_bytes().replace(b"PASS", b"PASs", 1))
    assert not verify_report(html, audit_db=r.db).ok


def test_never_issued_report_fails(rendered, tmp_path):
    # The detection report was rendered but never issued into this store.
    r = rendered["detection"]
    result = verify_report(r.pdf, audit_db=tmp_path / "empty.sqlite")
    assert not result.ok and "was never issued" in result.problems[0]


def test_altered_results_json_fails(rendered, tmp_path):
    r = rendered["classification"]
    copy = tmp_path / "run"
    shutil.copytree(r.run_dir, copy)
    res = json.loads((copy / "results.json").read_text(encoding="utf-8"))
    res["outcome"]["confusion"]["tp"] += 1
    (copy / "results.json").write_text(json.dumps(res), encoding="utf-8")
    result = verify_report(copy / "report.pdf", audit_db=r.db)
    assert not result.ok and any("results.json was altered" in p for p in result.problems)


def test_report_of_another_run_fails(rendered):
    cls, seg = rendered["classification"], rendered["segmentation"]
    result = verify_report(cls.pdf, audit_db=cls.db, results=seg.run_dir / "results.json")
    assert not result.ok
    assert any(f"but {seg.run_dir / 'results.json'} is run" in p for p in result.problems)


def test_missing_results_json_fails_with_hint(rendered, tmp_path):
    r = rendered["classification"]
    lone = tmp_path / "report.pdf"
    shutil.copy(r.pdf, lone)
    result = verify_report(lone, audit_db=r.db)
    assert not result.ok and "pass --results PATH" in result.problems[0]
    assert verify_report(lone, audit_db=r.db, results=r.run_dir / "results.json").ok


def test_cli_usage_errors(rendered, tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere"), "--db", str(tmp_path / "a.sqlite")]) == 2
    assert "results.json not found" in capsys.readouterr().err
    assert main(["report", "verify", str(tmp_path / "missing.pdf"), "--db", str(tmp_path / "a.sqlite")]) == 2
    assert "report file not found" in capsys.readouterr().err

"""Session fixtures: each task's run directory rendered once (PDF renders take seconds).

* classification — the committed fixture, rendered and issued with
  ``reports.issuance.issue_report`` (audit store in a temp dir);
* segmentation — the committed fixture, rendered and issued through the CLI
  (``medval report RUN_DIR --db DB``);
* detection — the committed fixture, rendered with ``render_report``;
* fail — a classification run built by ``results_factory`` with a failing
  primary criterion, in exploratory mode (FAIL banner + watermark).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
sys.path.insert(0, str(HERE))

TASKS = ("classification", "segmentation", "detection", "fail")


def pdftotext(pdf: Path, *, first: int | None = None, last: int | None = None, raw: bool = False) -> str:
    cmd = ["pdftotext", "-raw" if raw else "-layout", "-enc", "UTF-8"]
    if first is not None:
        cmd += ["-f", str(first)]
    if last is not None:
        cmd += ["-l", str(last)]
    return subprocess.run([*cmd, str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def n_pages(pdf: Path) -> int:
    out = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    return int(next(line.split()[-1] for line in out.splitlines() if line.startswith("Pages:")))


@dataclass
class Rendered:
    run_dir: Path
    html: Path
    pdf: Path
    results: dict
    text: str  # pdftotext -layout (pages end with \f)
    db: Path | None
    raw: str = ""  # pdftotext -raw: content-stream order, a wrapped table cell stays together


@pytest.fixture(scope="session")
def poppler():
    if shutil.which("pdftotext") is None or shutil.which("pdfinfo") is None:
        pytest.fail("poppler-utils (pdftotext, pdfinfo) is required: apt-get install poppler-utils")


@pytest.fixture(scope="session")
def rendered(tmp_path_factory, poppler) -> dict[str, Rendered]:
    import json

    from reports.issuance import issue_report
    from reports.render import render_report
    from results_factory import build_run
    from validation.cli import main

    root = tmp_path_factory.mktemp("reports")
    out: dict[str, Rendered] = {}
    for task in TASKS:
        run_dir = root / task
        db = None
        if task == "fail":
            build_run(run_dir, "classification", fail=True, mode="exploratory", seed=31)
        else:
            shutil.copytree(FIXTURES / task, run_dir)
        if task == "classification":
            db = root / "cls-audit.sqlite"
            issue_report(run_dir, audit_db=db)
        elif task == "segmentation":
            db = root / "seg-audit.sqlite"
            assert main(["report", str(run_dir), "--db", str(db)]) == 0
        else:
            render_report(run_dir)
        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
        pdf = run_dir / "report.pdf"
        out[task] = Rendered(run_dir, run_dir / "report.html", pdf, results, pdftotext(pdf), db,
                             pdftotext(pdf, raw=True))
    return out

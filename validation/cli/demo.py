"""``medval demo``: the whole story with no arguments.

Generate the in-silico test cohort, lock the shipped protocols, validate the
locked reference models against them (classification, segmentation,
detection), render the reports, then monitor eight weeks of in-silico
production traffic in which a new scanner vendor appears in week five.

Everything lands in one folder (default ``medval-demo/``) with its own audit
store, so the demo never touches a real one. Rerunning it reuses the cohort
(verified byte for byte) and the cached predictions, and the reports show the
test-set exposure count rising.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

#: The demo's sequestered test cohort: seed >= 2000, disjoint from the training seeds (< 1000).
DEMO_COHORT = {"cohort_id": "demo-test", "version": 1, "seed": 2026, "n_patients": 300}
DEMO_PROTOCOLS = ("lesion-classification.v1.yaml", "lesion-segmentation.v1.yaml", "lesion-detection.v1.yaml")
MONITORING_PLAN = "monitoring-lesion-classifier.v1.yaml"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole demo (cohort, validations, reports, monitoring)",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--out", type=Path, default=Path("medval-demo"), help="demo folder (default: medval-demo)")
    p.add_argument("--skip-monitoring", action="store_true", help="validations and reports only")
    p.set_defaults(func=_demo)


def _say(text: str = "") -> None:
    print(text, flush=True)


def demo_cohort(out: Path) -> Path:
    """The demo cohort, generated once and verified on every later use."""
    from validation.cohorts import verify_cohort
    from validation.errors import MedvalError
    from validation.synth import generate_cohort

    path = out / "cohorts" / DEMO_COHORT["cohort_id"]
    if (path / "cohort.yaml").exists():
        try:
            verify_cohort(path)
            _say(f"cohort     {path} (verified)")
            return path
        except MedvalError as exc:
            _say(f"cohort     {path} failed verification ({exc}); regenerating")
    _say(f"cohort     generating {DEMO_COHORT['n_patients']} in-silico patients (seed {DEMO_COHORT['seed']}) …")
    generate_cohort(path, n_patients=DEMO_COHORT["n_patients"], seed=DEMO_COHORT["seed"],
                    cohort_id=DEMO_COHORT["cohort_id"], version=DEMO_COHORT["version"], fmt="dicom")
    _say(f"cohort     {path}")
    return path


def run_demo(out: Path, *, monitoring: bool = True) -> int:
    from validation.audit import AuditStore
    from validation.cli.validate import print_summary
    from validation.protocols import find_lock, load_protocol, lock_protocol
    from validation.runner import run_validation

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "audit.sqlite"
    store = AuditStore(db)
    cohort = demo_cohort(out)

    runs = {}
    for name in DEMO_PROTOCOLS:
        path = REPO_ROOT / "protocols" / name
        protocol = load_protocol(path)
        if find_lock(protocol, store) is None:
            entry = lock_protocol(protocol, store, actor="medval-demo")
            _say(f"locked     {name} (audit entry {entry.seq}, sha256 {protocol.sha256[:16]}…)")
        _say()
        outcome = run_validation(path, out_dir=out / "runs" / protocol.id, cohort_dir=cohort, audit_db=db,
                                 operator="medval-demo", cache_dir=out / "cache")
        print_summary(outcome)
        runs[protocol.id] = outcome

    alerts = None
    if monitoring:
        alerts = _monitoring(out, runs["lesion-classification"].run_dir, db, cohort)

    _say()
    _say("== medval demo: outputs")
    for pid, outcome in runs.items():
        _say(f"  {pid:<24} {outcome.verdict}  {outcome.run_dir}/report.pdf  {outcome.run_dir}/results.json")
    _say(f"  audit store              {db}   (medval audit verify --db {db})")
    if alerts is not None:
        site = out / "monitoring" / "shifted"
        _say(f"  monitoring (shifted)     {alerts[0]} alert(s); dashboard: medval dashboard {site}")
        _say(f"                           report: {site / 'monitoring_report.pdf'}")
        _say(f"  monitoring (control)     {alerts[1]} alert(s); {out / 'monitoring' / 'control'}")
    return 0


def _monitoring(out: Path, reference_run: Path, db: Path, cohort: Path) -> tuple[int, int]:
    from monitoring.monitor import run_monitoring
    from reports.monitoring import render_monitoring_report
    from monitoring.stream import generate_stream
    from validation.models import load_locked_model

    model = load_locked_model(REPO_ROOT / "reference_models" / "lesion-classifier" / "1")
    plan = REPO_ROOT / "protocols" / MONITORING_PLAN
    counts = []
    for name, shift in (("shifted", 5), ("control", None)):
        stream_dir = out / "streams" / name
        if not (stream_dir / "stream.json").exists():  # stream.json is written last: a complete stream
            shutil.rmtree(stream_dir, ignore_errors=True)
            _say(f"stream     generating 8 weeks of in-silico production traffic ({name}) …")
            generate_stream(stream_dir, model=model, weeks=8, shift_from_week=shift, seed=5000 if shift else 6000)
        logs, labels = stream_dir / "logs", stream_dir / "labels.csv"
        result = run_monitoring(plan, logs, reference_run, out / "monitoring" / name, labels=labels, audit_db=db,
                                profile_kwargs={"cohort_dir": cohort, "model_dir": model.path.parent})
        render_monitoring_report(out / "monitoring" / name)
        counts.append(len(result.alerts))
        first = sorted({a.window for a in result.alerts})
        _say(f"monitor    {name}: {len(result.alerts)} alert(s)"
             + (f", first in {first[0]}" if first else ""))
    return counts[0], counts[1]


def _demo(args) -> int:
    try:
        return run_demo(args.out, monitoring=not args.skip_monitoring)
    except KeyboardInterrupt:  # pragma: no cover
        print("medval demo: interrupted", file=sys.stderr)
        return 130

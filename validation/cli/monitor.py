"""``medval monitor`` and ``medval dashboard``: production monitoring from the command line.

    medval monitor PLAN --logs GLOB|DIR --reference RUN_DIR --out DIR [--labels FILE] [--db DB]
    medval monitor stream OUT --model DIR [--weeks 8] [--shift-from-week 5 | --no-shift]
    medval monitor profile RUN_DIR [--cohort DIR] [--model DIR]
    medval monitor report DIR
    medval dashboard DIR [--port 8765]

Exit codes of ``medval monitor PLAN``: 0 no alert, 1 alerts raised, 2 bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

_USAGE = __doc__.split("\n\n")[1]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "monitor",
        help="monitor production logs against a validated reference (drift, CBPE, charts, alerts, dashboard)",
        usage=_USAGE,
        description="Run a monitoring plan over production logs, or generate a demo stream, "
        "or build a reference profile. Exit 0 no alert, 1 alerts raised, 2 bad input.",
    )
    p.add_argument("argv", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=_dispatch)

    d = sub.add_parser("dashboard", help="serve a monitoring site on 127.0.0.1 with live refresh")
    d.add_argument("dir", type=Path, help="the monitor's --out folder")
    d.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765)")
    d.set_defaults(func=_dashboard)


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="medval monitor", usage=_USAGE)
    p.add_argument("plan", type=Path, help="monitoring plan YAML")
    p.add_argument("--logs", action="append", required=True, help="log parquet file, directory or glob (repeatable)")
    p.add_argument("--reference", type=Path, required=True, help="validation run directory (reference profile)")
    p.add_argument("--out", type=Path, required=True, help="output folder: monitoring.json, evidently/, dashboard site")
    p.add_argument("--labels", type=Path, help="delayed ground truth (CSV/parquet: case_id,label)")
    p.add_argument("--db", type=Path, help="audit store (default $MEDVAL_AUDIT_DB or ./.medval/audit.sqlite)")
    p.add_argument("--cohort", type=Path, help="validated cohort dir, if the profile must be built")
    p.add_argument("--model", type=Path, help="locked model dir, if the profile must be built")
    p.add_argument("--no-evidently", action="store_true", help="skip the per-window evidently reports")
    p.add_argument("--report", action="store_true", help="also render the monitoring report (HTML + PDF)")
    return p


def _stream_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="medval monitor stream", description="write a demo production stream")
    p.add_argument("out", type=Path)
    p.add_argument("--model", type=Path, required=True, help="locked classifier directory")
    p.add_argument("--weeks", type=int, default=8)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--shift-from-week", type=int, default=5, help="week the new scanner vendor appears (default 5)")
    g.add_argument("--no-shift", action="store_true", help="control stream: no new vendor")
    p.add_argument("--patients-per-week", type=int, default=150)
    p.add_argument("--seed", type=int, default=5000)
    return p


def _profile_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="medval monitor profile", description="build a run's reference profile")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--cohort", type=Path)
    p.add_argument("--model", type=Path)
    return p


def _report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="medval monitor report", description="render the monitoring report")
    p.add_argument("dir", type=Path, help="the monitor's --out folder (holds monitoring.json)")
    return p


def _dispatch(args) -> int:
    argv = list(args.argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_USAGE)
        return 0 if argv else 2
    head = argv[0]
    if head == "stream":
        return _stream(_stream_parser().parse_args(argv[1:]))
    if head == "profile":
        return _profile(_profile_parser().parse_args(argv[1:]))
    if head == "report":
        return _report(_report_parser().parse_args(argv[1:]))
    return _monitor(_run_parser().parse_args(argv))


def _monitor(a) -> int:
    from monitoring.monitor import run_monitoring

    kwargs = {}
    if a.cohort:
        kwargs["cohort_dir"] = a.cohort
    if a.model:
        kwargs["model_dir"] = a.model
    result = run_monitoring(
        a.plan,
        a.logs,
        a.reference,
        a.out,
        labels=a.labels,
        audit_db=a.db,
        evidently=False if a.no_evidently else None,
        profile_kwargs=kwargs,
    )
    s = result.data["summary"]
    logs = result.data["logs"]
    print(
        f"monitored {logs['n_kept']} records ({logs['n_excluded']} excluded) in {s['n_windows']} windows; "
        f"{s['n_alerts']} alert(s)"
    )
    for e in logs["exclusions"]:
        print(f"  excluded {e['n']} row(s) of {e['file']}: {e['reason']} (column {e['column']})")
    for al in result.alerts:
        print(f"  [{al.severity}] {al.window} {al.family}: {al.message}")
    if a.report:
        from reports.monitoring import render_monitoring_report

        html, pdf = render_monitoring_report(a.out)
        print(f"report: {html} {pdf}")
    print(f"dashboard: medval dashboard {a.out}")
    return result.exit_code


def _stream(a) -> int:
    from monitoring.stream import generate_stream

    r = generate_stream(
        a.out,
        model=a.model,
        weeks=a.weeks,
        shift_from_week=None if a.no_shift else a.shift_from_week,
        patients_per_week=a.patients_per_week,
        seed=a.seed,
    )
    print(f"wrote {r.n_cases} log records over {r.weeks} weeks to {r.logs_dir}; {r.n_labelled} labels to {r.labels_path}")
    return 0


def _profile(a) -> int:
    from monitoring.profile import build_reference_profile

    prof = build_reference_profile(a.run_dir, cohort_dir=a.cohort, model_dir=a.model)
    print(f"reference profile of {prof.meta['n_cases']} cases written to {prof.path}")
    return 0


def _report(a) -> int:
    from reports.monitoring import render_monitoring_report

    html, pdf = render_monitoring_report(a.dir)
    print(f"report: {html} {pdf}")
    return 0


def _dashboard(a) -> int:
    from monitoring.dashboard.server import serve

    try:
        serve(a.dir, port=a.port)
    except KeyboardInterrupt:
        pass
    return 0

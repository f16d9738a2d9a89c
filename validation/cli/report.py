"""``medval report RUN_DIR`` renders and issues a run's report; ``medval report verify REPORT`` checks a copy.

Exit codes: 0 rendered and issued / the report verifies; 1 the report was
altered or never issued for that run; 2 it could not be done (no
results.json, a missing field, results.json altered since the run).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

_USAGE = ("medval report RUN_DIR [--out DIR] [--db DB]\n"
          "       medval report verify REPORT [--results RESULTS_JSON] [--db DB]")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="render and issue a run's report (HTML + PDF); 'report verify FILE' checks one",
        usage=_USAGE,
        description="Render RUN_DIR/results.json to report.html and report.pdf and record their sha256 in the "
                    "audit store as report.issue entries; or, with 'verify', check that a report file is "
                    "byte for byte one that was issued for its run (exit 0) or not (exit 1).")
    p.add_argument("target", metavar="RUN_DIR | verify", help="a run directory, or the word 'verify'")
    p.add_argument("report", nargs="?", metavar="REPORT", help="with 'verify': the report file to check")
    p.add_argument("--db", type=Path, help="audit store (default $MEDVAL_AUDIT_DB or .medval/audit.sqlite)")
    p.add_argument("--out", type=Path, help="render: write the report here (default RUN_DIR)")
    p.add_argument("--results", type=Path,
                   help="verify: the run's results.json (default: results.json beside REPORT)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(func=_main)


def _main(args) -> int:
    from validation.errors import InputError

    if args.target == "verify" and args.report is not None:
        return _verify(args)
    if args.report is not None:
        raise InputError(f"medval report: unexpected argument {args.report!r}; usage:\n{_USAGE}")
    if args.results is not None:
        raise InputError("medval report: --results is only for 'medval report verify REPORT'")
    return _issue(args)


def _issue(args) -> int:
    from reports.issuance import issue_report

    issued = issue_report(args.target, out_dir=args.out, audit_db=args.db)
    if args.json:
        print(json.dumps(issued.to_dict(), indent=2))
    else:
        for (name, sha), seq in zip(issued.files.sha256s.items(), issued.entries):
            path = issued.files.html if name.endswith(".html") else issued.files.pdf
            print(f"{path}  sha256 {sha}  (audit entry {seq})")
        print(f"issued for run {issued.files.run_id}, results digest {issued.files.results_digest}")
    return 0


def _verify(args) -> int:
    from reports.issuance import verify_report

    result = verify_report(args.report, audit_db=args.db, results=args.results)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.summary())
    return 0 if result.ok else 1

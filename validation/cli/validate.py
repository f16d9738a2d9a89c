"""``medval validate PROTOCOL``: run a locked protocol and set the exit code from its verdict."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="run a locked validation protocol (exit 0 PASS, 1 FAIL, 2 cannot run)",
        description="Verify model and cohort against the locked protocol, run the data-quality gate, "
                    "score, compute the pre-specified statistics and judge each acceptance criterion.",
    )
    p.add_argument("protocol", type=Path, help="protocol YAML (must be locked unless --exploratory)")
    p.add_argument("--model", type=Path, help="locked model directory (default: as the protocol names it)")
    p.add_argument("--cohort", type=Path, help="cohort directory (default: as the protocol names it)")
    p.add_argument("--out", type=Path, help="run directory (default: medval-runs/<protocol id>.v<version>)")
    p.add_argument("--db", type=Path, help="audit store (default $MEDVAL_AUDIT_DB or .medval/audit.sqlite)")
    p.add_argument("--operator", help="who runs it (default $MEDVAL_OPERATOR or the OS user)")
    p.add_argument("--cache", type=Path, help="prediction cache directory (default .medval/cache)")
    p.add_argument("--exploratory", action="store_true",
                   help="do not enforce lock and pinning; every output is marked EXPLORATORY")
    p.add_argument("--no-report", action="store_true", help="write results.json only")
    p.set_defaults(func=_validate)


def print_summary(outcome) -> None:
    results = outcome.results
    inputs, out = results["inputs"], results["outcome"]
    print(f"protocol  {inputs['protocol']['id']} v{inputs['protocol']['version']}  ({inputs['mode']})")
    print(f"model     {inputs['model']['id']} v{inputs['model']['version']}  sha256 {inputs['model']['sha256'][:16]}…")
    print(f"cohort    {inputs['cohort']['id']} v{inputs['cohort']['version']}  digest {inputs['cohort']['digest'][:16]}…"
          f"  n={inputs['cohort']['n_cases']}")
    for c in out["criteria"]:
        mark = {True: "PASS", False: "FAIL", None: "info"}[c["passed"]]
        rule = c["criterion"] or "report only"
        print(f"  [{mark}] {c['role']:<9} {c['endpoint']:<28} {c['estimate']:.4f} "
              f"({c['confidence_level']:.0%} CI {c['lower']:.4f}–{c['upper']:.4f}, {c['method']})  {rule}")
    exposure = results["context"]["exposure"]
    print(f"test-set exposure: this cohort has been scored {exposure['count']} time(s)"
          + (f" — {exposure['warning']}" if exposure.get("warning") else ""))
    print(f"verdict   {out['verdict']}")
    print(f"results   {outcome.run_dir / 'results.json'}  (digest {results['results_digest'][:16]}…)")
    for name in ("report.html", "report.pdf"):
        if (outcome.run_dir / name).exists():
            print(f"report    {outcome.run_dir / name}")


def _validate(args) -> int:
    from validation.protocols import load_protocol
    from validation.runner import run_validation

    out = args.out
    if out is None:
        protocol = load_protocol(args.protocol)
        out = Path("medval-runs") / f"{protocol.id}.v{protocol.version}"
    outcome = run_validation(args.protocol, out_dir=out, model_dir=args.model, cohort_dir=args.cohort,
                             exploratory=args.exploratory, audit_db=args.db, operator=args.operator,
                             cache_dir=args.cache, report=not args.no_report)
    print_summary(outcome)
    return outcome.exit_code

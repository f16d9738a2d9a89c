"""``medval audit verify|log``: check the hash chain, list entries."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="verify and list the hash-chained audit store",
                       description="The audit store records locks, registrations, runs, reports and alerts "
                                   "as a hash chain; verify names the first entry that was edited, deleted, "
                                   "inserted or reordered.")
    asub = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    v = asub.add_parser("verify", help="verify the chain (exit 0 valid, 1 broken)")
    v.add_argument("--db", type=Path, help="audit store (default $MEDVAL_AUDIT_DB or .medval/audit.sqlite)")
    v.add_argument("--anchor", help="hash of an entry recorded elsewhere (e.g. a results.json) that must exist")
    v.add_argument("--json", action="store_true", help="print the verification as JSON")
    v.set_defaults(func=_verify)

    lg = asub.add_parser("log", help="list entries in chain order")
    lg.add_argument("--db", type=Path, help="audit store (default $MEDVAL_AUDIT_DB or .medval/audit.sqlite)")
    lg.add_argument("--kind", help="only entries of this kind (e.g. protocol.lock, run)")
    lg.add_argument("--json", action="store_true", help="one JSON object per line")
    lg.set_defaults(func=_log)


def _store(db):
    from validation.audit import AuditStore, default_path
    from validation.errors import AuditError

    path = Path(db) if db is not None else default_path()
    if not path.exists():
        raise AuditError(f"{path}: no audit store here (pass --db or set MEDVAL_AUDIT_DB)")
    return AuditStore(path)


def _verify(args) -> int:
    result = _store(args.db).verify(anchor=args.anchor)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.summary())
        for p in result.problems:
            print(f"  entry {p['seq']}: {p['problem']}")
    return 0 if result.ok else 1


def _log(args) -> int:
    entries = _store(args.db).entries(args.kind)
    for e in entries:
        if args.json:
            print(json.dumps(e.to_dict(), sort_keys=True, ensure_ascii=False))
        else:
            payload = json.dumps(e.payload, sort_keys=True, ensure_ascii=False)
            if len(payload) > 120:
                payload = payload[:117] + "..."
            print(f"{e.seq:>6}  {e.timestamp}  {e.actor:<12} {e.kind:<15} {payload}")
    return 0

"""``medval protocol check|lock|show FILE``: schema-check, lock (audit entry) and display a protocol."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("protocol", help="check, lock and show validation protocols",
                       description="Validation protocols are pre-registered: check the schema, then lock "
                                   "(record the file's sha256 in the audit store) before any scoring.")
    psub = p.add_subparsers(dest="protocol_command", metavar="ACTION", required=True)

    c = psub.add_parser("check", help="schema-check a protocol (exit 0 valid, 2 invalid)")
    c.add_argument("file", type=Path)
    c.set_defaults(func=_check)

    lk = psub.add_parser("lock", help="lock a protocol: record its sha256, who and when in the audit store")
    lk.add_argument("file", type=Path)
    lk.add_argument("--db", type=Path, help="audit store (default $MEDVAL_AUDIT_DB or .medval/audit.sqlite)")
    lk.add_argument("--operator", help="who locks it (default $MEDVAL_OPERATOR or the OS user)")
    lk.set_defaults(func=_lock)

    s = psub.add_parser("show", help="summarise a protocol and its lock status")
    s.add_argument("file", type=Path)
    s.add_argument("--db", type=Path, help="audit store (default $MEDVAL_AUDIT_DB or .medval/audit.sqlite)")
    s.add_argument("--json", action="store_true", help="print the parsed protocol as JSON")
    s.set_defaults(func=_show)


def _check(args) -> int:
    from validation.protocols import PLACEHOLDER, load_protocol

    proto = load_protocol(args.file)
    print(f"OK {args.file}: protocol {proto.id} v{proto.version}, {len(proto.endpoints)} endpoint(s), "
          f"{len(proto.subgroups)} subgroup analysis(es); sha256 {proto.sha256}")
    pins = [name for name, v in (("device.sha256", proto.device.sha256), ("cohort.digest", proto.cohort.digest))
            if v == PLACEHOLDER]
    if pins:
        print(f"note: {', '.join(pins)} still {PLACEHOLDER!r}: a regulatory run will refuse it until pinned")
    return 0


def _lock(args) -> int:
    from validation.audit import AuditStore
    from validation.protocols import find_lock, load_protocol, lock_protocol

    proto = load_protocol(args.file)
    store = AuditStore(args.db)
    before = find_lock(proto, store)
    entry = lock_protocol(proto, store, actor=args.operator)
    state = "already locked" if before is not None and before.seq == entry.seq else "locked"
    print(f"{state}: {proto.id} v{proto.version} sha256 {proto.sha256}")
    print(f"audit entry {entry.seq} ({entry.kind}) by {entry.actor} at {entry.timestamp}; hash {entry.hash}")
    print(f"store: {store.path}")
    return 0


def _show(args) -> int:
    from validation.audit import AuditStore
    from validation.protocols import find_lock, load_protocol

    proto = load_protocol(args.file)
    store = AuditStore(args.db) if (args.db or _default_exists()) else None
    lock = find_lock(proto, store) if store is not None else None
    if args.json:
        d = proto.to_dict()
        d["lock"] = None if lock is None else {**lock.to_dict(), "matches_file": lock.payload.get("sha256") == proto.sha256}
        print(json.dumps(d, indent=2, sort_keys=True))
        return 0
    print(f"{proto.title}")
    print(f"  protocol  {proto.id} v{proto.version}  sha256 {proto.sha256}  mode {proto.mode}")
    if lock is None:
        print("  lock      NOT LOCKED")
    elif lock.payload.get("sha256") == proto.sha256:
        print(f"  lock      locked by {lock.actor} at {lock.timestamp} (audit entry {lock.seq})")
    else:
        print(f"  lock      CHANGED SINCE LOCKED: locked sha256 {lock.payload.get('sha256')} (entry {lock.seq})")
    d = proto.device
    print(f"  device    {d.model_id} v{d.model_version}  sha256 {d.sha256}")
    if d.comparator is not None:
        print(f"  comparator {d.comparator.model_id} v{d.comparator.model_version}  sha256 {d.comparator.sha256}")
    print(f"  cohort    {proto.cohort.id} v{proto.cohort.version}  digest {proto.cohort.digest}")
    print(f"  task      {proto.task}; unit {proto.unit_of_analysis}; cluster {proto.cluster_column or '-'}; "
          f"threshold {proto.operating_point.threshold}; {proto.confidence_level:.0%} CIs; seed {proto.seed}")
    print("  endpoints")
    for e in proto.endpoints:
        rule = e.acceptance()
        print(f"    {e.role:<9} {e.id:<28} {e.metric} ({e.ci_method})  {rule if rule is not None else 'report only'}")
    if proto.subgroups:
        print("  subgroups")
        for s in proto.subgroups:
            col = s.column or f"{s.derived.source} bands {s.derived.labels()}"
            print(f"    {s.role:<12} {s.id:<14} {col}; {', '.join(s.metrics)}; min n {s.min_n}; "
                  f"multiplicity {s.multiplicity}; {s.criterion or 'report only'}")
    print(f"  exposure  limit {proto.exposure.limit} scorings of the cohort")
    return 0


def _default_exists() -> bool:
    from validation.audit import default_path

    return default_path().exists()

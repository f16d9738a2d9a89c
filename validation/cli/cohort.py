"""``medval cohort``: generate, register, verify and describe versioned cohorts.

    medval cohort synth OUT --patients N --seed S --id ID [--version V]
                           [--format dicom|npy|png] [--vendor-override NAME] [--image-size 128]
    medval cohort register DIR [--headers] [--id ID --version V ...]
    medval cohort verify DIR     exit 0 if every file matches, 2 naming the first that differs
    medval cohort info DIR       identity and composition (or --json)

``synth`` and ``register`` record a ``cohort.register`` entry in the audit
store unless ``--no-audit``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("cohort", help="generate, register, verify and describe versioned cohorts")
    sub = p.add_subparsers(dest="cohort_command", metavar="ACTION")

    sy = sub.add_parser("synth", help="generate an in-silico cohort and register it")
    sy.add_argument("out", type=Path, help="output cohort directory (must not hold a manifest yet)")
    sy.add_argument("--patients", type=int, required=True, help="number of patients (1-3 images each)")
    sy.add_argument("--seed", type=int, required=True, help="generator seed (test/demo cohorts: >= 2000)")
    sy.add_argument("--id", dest="cohort_id", required=True, help="cohort id")
    sy.add_argument("--version", type=int, default=1, help="positive integer version (default 1)")
    sy.add_argument("--format", dest="fmt", choices=["dicom", "npy", "png"], default="dicom")
    sy.add_argument("--vendor-override", default=None, help="acquire every image on this vendor")
    sy.add_argument("--image-size", type=int, default=128)
    sy.add_argument("--not-sequestered", action="store_true", help="mark the cohort as not sequestered")
    _audit_args(sy)
    sy.set_defaults(func=_synth)

    rg = sub.add_parser("register", help="hash a cohort directory's files and record its digest")
    rg.add_argument("dir", type=Path, help="cohort directory with manifest.csv (and cohort.yaml)")
    rg.add_argument("--headers", action="store_true",
                    help="fill manufacturer, sex, age, pixel spacing and patient id from DICOM headers")
    rg.add_argument("--id", dest="cohort_id", default=None, help="cohort id (overrides cohort.yaml)")
    rg.add_argument("--version", type=int, default=None, help="version (overrides cohort.yaml)")
    rg.add_argument("--modality", default=None)
    rg.add_argument("--task", default=None)
    rg.add_argument("--label-definition", default=None)
    rg.add_argument("--reference-standard", default=None)
    _audit_args(rg)
    rg.set_defaults(func=_register)

    vf = sub.add_parser("verify", help="re-hash every file (exit 0 ok, 2 naming the first that differs)")
    vf.add_argument("dir", type=Path)
    vf.set_defaults(func=_verify)

    inf = sub.add_parser("info", help="describe a cohort (verified)")
    inf.add_argument("dir", type=Path)
    inf.add_argument("--json", action="store_true", help="print as JSON")
    inf.add_argument("--no-verify", action="store_true", help="skip re-hashing the files")
    inf.set_defaults(func=_info)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _audit_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-audit", action="store_true", help="do not record a cohort.register audit entry")
    parser.add_argument("--audit-db", default=None,
                        help="audit store path (default $MEDVAL_AUDIT_DB or ./.medval/audit.sqlite)")


def _record(args, cohort) -> None:
    if args.no_audit:
        return
    try:
        from validation.audit import AuditStore
    except ModuleNotFoundError as exc:  # audit store not built yet
        print(f"  audit: not recorded ({exc})", file=sys.stderr)
        return
    entry = AuditStore(args.audit_db).append(
        "cohort.register",
        {
            "cohort_id": cohort.id,
            "cohort_version": cohort.version,
            "digest": cohort.digest,
            "manifest_sha256": cohort.meta["manifest_sha256"],
            "n_cases": cohort.n_cases,
            "sequestered": bool(cohort.meta.get("sequestered")),
            "path": str(cohort.root),
        },
    )
    print(f"  audit entry {entry.seq} (cohort.register)")


def _synth(args) -> int:
    from validation.cohorts import load_cohort
    from validation.synth import generate_cohort

    out = generate_cohort(
        args.out,
        n_patients=args.patients,
        seed=args.seed,
        cohort_id=args.cohort_id,
        version=args.version,
        fmt=args.fmt,
        image_size=args.image_size,
        sequestered=not args.not_sequestered,
        vendor_override=args.vendor_override,
    )
    cohort = load_cohort(out, verify=False)
    print(f"generated {cohort.id} v{cohort.version} -> {out}: {cohort.n_cases} images, "
          f"{cohort.manifest['patient_id'].nunique()} patients, {int(cohort.manifest['label'].sum())} positive")
    print(f"  digest {cohort.digest}")
    _record(args, cohort)
    return 0


def _register(args) -> int:
    from validation.cohorts import register_cohort

    meta = {
        k: v
        for k, v in {
            "id": args.cohort_id,
            "version": args.version,
            "modality": args.modality,
            "task": args.task,
            "label_definition": args.label_definition,
            "reference_standard": args.reference_standard,
        }.items()
        if v is not None
    }
    cohort = register_cohort(args.dir, meta=meta or None, header_columns=True if args.headers else None)
    print(f"registered {cohort.id} v{cohort.version} ({args.dir}): {cohort.n_cases} cases")
    print(f"  digest {cohort.digest}")
    _record(args, cohort)
    return 0


def _verify(args) -> int:
    from validation.cohorts import verify_cohort

    cohort = verify_cohort(args.dir)  # IntegrityError/InputError -> exit 2 naming the file
    n_files = int((cohort.manifest["image_path"] != "").sum() + (cohort.manifest["mask_path"] != "").sum())
    print(f"OK {cohort.id} v{cohort.version} ({args.dir}): manifest and {n_files} files match digest {cohort.digest}")
    return 0


def _info(args) -> int:
    from validation.cohorts import load_cohort

    cohort = load_cohort(args.dir, verify=not args.no_verify)
    d = cohort.to_dict()
    if args.json:
        print(json.dumps(d, indent=2, sort_keys=True, ensure_ascii=False))
        return 0
    meta = cohort.meta
    m = cohort.manifest
    ages = m["age"].dropna()
    lines = [
        f"{cohort.id} v{cohort.version}  ({meta.get('modality')}; {meta.get('task')})",
        f"  root         {cohort.root}",
        f"  digest       {cohort.digest} ({'not ' if args.no_verify else ''}verified)",
        f"  sequestered  {bool(meta.get('sequestered'))}",
        f"  cases        {d['n_cases']} images, {d['n_patients']} patients, {d['n_positive']} positive "
        f"({d['n_positive'] / max(d['n_cases'], 1):.1%})",
        f"  label        {meta.get('label_definition')}",
        f"  reference    {meta.get('reference_standard')}",
    ]
    if len(ages):
        lines.append(f"  age          median {float(ages.median()):g} (range {int(ages.min())}-{int(ages.max())})")
    for col in ("site", "manufacturer", "sex"):
        if d[f"by_{col}"]:
            lines.append(f"  {col:<12} " + ", ".join(f"{k}: {v}" for k, v in d[f"by_{col}"].items()))
    src = meta.get("source")
    if src:
        lines.append(f"  source       {json.dumps(src, ensure_ascii=False) if isinstance(src, dict) else src}")
    print("\n".join(lines))
    return 0

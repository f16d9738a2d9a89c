"""``medval model``: lock, verify and describe locked models.

    medval model lock MODEL.onnx --id ID --version N --task TASK --threshold T \\
        --preprocessing PRE.json --intended-use TEXT [--training TRAIN.json]
    medval model verify DIR      exit 0 if the bytes match the lock, 2 naming the file otherwise
    medval model info DIR        the lock as text (or --json)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("model", help="lock, verify and describe locked ONNX models")
    sub = p.add_subparsers(dest="model_command", metavar="ACTION")

    lk = sub.add_parser("lock", help="hash an ONNX model and write model.lock.json beside it")
    lk.add_argument("model", type=Path, help="the ONNX file")
    lk.add_argument("--id", dest="model_id", required=True, help="model id, e.g. lesion-classifier")
    lk.add_argument("--version", type=int, required=True, help="positive integer version")
    lk.add_argument("--task", required=True, choices=["binary-classification", "segmentation"])
    lk.add_argument("--threshold", type=float, required=True, help="locked operating threshold in [0, 1]")
    lk.add_argument(
        "--preprocessing",
        required=True,
        help="JSON object or path to a JSON file: intensity_scale, mean, std, image_size [H, W], ...",
    )
    lk.add_argument("--intended-use", required=True, help="intended-use statement")
    lk.add_argument("--training", default="{}", help="JSON object or path to a JSON file: training provenance")
    lk.add_argument("--no-audit", action="store_true", help="do not record a model.lock entry in the audit store")
    lk.add_argument("--audit-db", default=None, help="audit store path (default $MEDVAL_AUDIT_DB or ./.medval/audit.sqlite)")
    lk.set_defaults(func=_lock)

    vf = sub.add_parser("verify", help="check a locked model's bytes against its lock (exit 0 ok, 2 mismatch)")
    vf.add_argument("model_dir", type=Path, help="directory with model.lock.json (or the lock file)")
    vf.set_defaults(func=_verify)

    inf = sub.add_parser("info", help="describe a locked model")
    inf.add_argument("model_dir", type=Path)
    inf.add_argument("--json", action="store_true", help="print the lock as JSON")
    inf.set_defaults(func=_info)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _json_arg(text: str, what: str) -> dict:
    from validation.errors import InputError

    path = Path(text)
    source = f"--{what}"
    try:
        if not text.lstrip().startswith("{") and path.is_file():
            source = str(path)
            text = path.read_text(encoding="utf-8")
        value = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{source}: expected a JSON object or a JSON file; got {text[:80]!r} ({exc})") from exc
    if not isinstance(value, dict):
        raise InputError(f"{source}: expected a JSON object; got {type(value).__name__}")
    return value


def _lock(args) -> int:
    from validation.models import lock_model

    lock = lock_model(
        args.model,
        model_id=args.model_id,
        version=args.version,
        task=args.task,
        threshold=args.threshold,
        preprocessing=_json_arg(args.preprocessing, "preprocessing"),
        intended_use=args.intended_use,
        training=_json_arg(args.training, "training"),
    )
    lock_path = args.model.parent / "model.lock.json"
    print(f"locked {args.model} -> {lock_path}")
    print(f"  sha256 {lock.sha256}  opset {lock.opset}  threshold {lock.operating_threshold}")
    if not args.no_audit:
        try:
            from validation.audit import AuditStore
        except ModuleNotFoundError as exc:  # audit store not built yet
            print(f"  audit: not recorded ({exc})", file=sys.stderr)
        else:
            entry = AuditStore(args.audit_db).append(
                "model.lock",
                {
                    "model_id": lock.model_id,
                    "version": lock.version,
                    "sha256": lock.sha256,
                    "task": lock.task,
                    "operating_threshold": lock.operating_threshold,
                    "lock_digest": lock.lock_digest,
                    "path": str(lock_path),
                },
            )
            print(f"  audit entry {entry.seq} (model.lock)")
    return 0


def _verify(args) -> int:
    from validation.models import load_locked_model

    model = load_locked_model(args.model_dir)  # IntegrityError/InputError -> exit 2 with the message
    print(f"OK {model.path}: sha256 {model.lock.sha256} matches {model.path.parent / 'model.lock.json'}")
    return 0


def _info(args) -> int:
    from validation.models import load_locked_model

    model = load_locked_model(args.model_dir)
    lock = model.lock
    if args.json:
        print(json.dumps(lock.to_dict(), indent=2, sort_keys=True))
        return 0
    pre = lock.preprocessing
    lines = [
        f"{lock.model_id} v{lock.version} ({lock.task})",
        f"  file        {model.path}",
        f"  sha256      {lock.sha256} (verified)",
        f"  onnx        opset {lock.opset}, IR {lock.onnx_ir_version}, producer {lock.producer}",
        f"  threshold   {lock.operating_threshold}",
        f"  locked at   {lock.locked_at}",
        "  inputs      " + "; ".join(f"{i['name']} {i['shape']} {i['dtype']}" for i in lock.inputs),
        "  outputs     " + "; ".join(f"{o['name']} {o['shape']} {o['dtype']}" for o in lock.outputs),
        f"  preprocess  (raw * {pre['intensity_scale']:.6g} - {pre['mean']}) / {pre['std']}, size {pre['image_size']}",
        f"  intended    {lock.intended_use}",
    ]
    t = lock.training
    if t:
        lines.append(
            f"  training    {t.get('recipe', '?')}; seeds {t.get('seeds', '?')}; n_cases {t.get('n_cases', '?')}; "
            f"epochs {t.get('epochs', '?')}; torch {t.get('torch_version', '?')}, monai {t.get('monai_version', '?')}"
        )
    runtime = model.runtime
    lines.append(
        f"  runtime     onnxruntime {runtime['version']}, {runtime['intra_op_num_threads']} intra-op thread(s), "
        f"{runtime['execution_mode']}, graph optimisation {runtime['graph_optimization_level']}, deterministic"
    )
    print("\n".join(lines))
    return 0

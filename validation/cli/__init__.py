"""The ``medval`` command line: parse, call the library, write outputs, set the exit code.

Each command group lives in its own module with a ``register(subparsers)``
function that adds its parser and sets ``func`` to a callable taking the parsed
``argparse.Namespace`` and returning the exit code. Heavy imports happen inside
those callables, so ``medval --help`` stays fast.

Exit codes: 0 all acceptance criteria met (or the command succeeded), 1 a
criterion failed (or a verification found a problem), 2 the run could not be
made (bad input, tampering) — with a message naming what and where.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Keep onnxruntime from writing telemetry (it would otherwise write under ~/.cache).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

# Command-group modules, in the order `medval --help` lists them.
_GROUPS = (
    "validation.cli.cohort",
    "validation.cli.model",
    "validation.cli.protocol",
    "validation.cli.validate",
    "validation.cli.audit",
    "validation.cli.report",
    "validation.cli.monitor",
    "validation.cli.demo",
)


def build_parser() -> argparse.ArgumentParser:
    from validation import __version__

    parser = argparse.ArgumentParser(
        prog="medval",
        description="Validation and monitoring of medical-imaging AI.",
    )
    parser.add_argument("--version", action="version", version=f"medval {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _GROUPS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # group not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from validation.errors import MedvalError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except MedvalError as exc:
        print(f"medval: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("medval: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

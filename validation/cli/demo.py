"""``medval demo``: the whole story with no arguments.

Generate the in-silico test cohort, lock the shipped protocols, validate the
locked reference models against them (classification, segmentation,
detection), render the reports, then monitor eight weeks of in-silico
production traffic in which a new scanner vendor appears in week five.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole demo (cohort, validations, reports, monitoring)",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--out", type=Path, default=Path("medval-demo"), help="demo folder (default: medval-demo)")
    p.add_argument("--skip-monitoring", action="store_true", help="validations and reports only")
    p.set_defaults(func=_demo)


def _demo(args) -> int:
    from validation.demo import run_demo

    return run_demo(args.out, monitoring=not args.skip_monitoring)

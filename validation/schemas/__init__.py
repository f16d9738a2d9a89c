"""JSON Schemas of the files medval writes (draft 2020-12), and a validator for results.json."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from validation.errors import InputError

SCHEMA_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def load_schema(name: str = "results") -> dict:
    """The schema ``<name>.schema.json`` as a dict."""
    path = SCHEMA_DIR / f"{name}.schema.json"
    if not path.is_file():
        raise InputError(f"{path}: no such schema")
    return json.loads(path.read_text(encoding="utf-8"))


def validate_results(obj: Any, *, where: str = "results.json") -> None:
    """Raise :class:`InputError` naming the JSON path of every violation of the results schema."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema("results"))
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"{where}: {'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors[:20]]
        more = f"\n... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise InputError("\n".join(lines) + more)

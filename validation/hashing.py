"""Content hashing: files, bytes and canonical JSON.

One canonical JSON form (sorted keys, no whitespace, UTF-8, floats by ``repr``)
is used for every digest medval records, so that the same content always gives
the same sha256 whatever dict order or platform produced it.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _normalise(obj: Any) -> Any:
    """Turn numpy scalars/arrays, tuples and paths into JSON-native values."""
    if isinstance(obj, dict):
        return {str(k): _normalise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_normalise(v) for v in obj]
    if isinstance(obj, Path):
        return obj.as_posix()
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy
        return _normalise(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        # JSON has no NaN/inf; record them as strings so they are never lost.
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def canonical_json(obj: Any) -> bytes:
    """Canonical UTF-8 JSON bytes of ``obj`` (sorted keys, compact separators)."""
    return json.dumps(
        _normalise(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def digest(obj: Any) -> str:
    """sha256 of :func:`canonical_json` of ``obj``."""
    return sha256_bytes(canonical_json(obj))


def to_jsonable(obj: Any) -> Any:
    """The JSON-native form that :func:`canonical_json` hashes (for writing files)."""
    return _normalise(obj)

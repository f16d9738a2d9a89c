"""Atomic writes: whole files or none, with the permissions a plain open() would give."""

from __future__ import annotations

import json
import os
import stat

import pytest

from validation.fileio import atomic_write_bytes, atomic_write_json


def test_atomic_write_gives_umask_permissions_and_leaves_no_temp(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = atomic_write_bytes(tmp_path / "sub" / "a.bin", b"abc")
    assert path.read_bytes() == b"abc"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["a.bin"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = atomic_write_json(tmp_path / "r.json", {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"a": object()})  # not JSON: refused before anything is replaced
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]

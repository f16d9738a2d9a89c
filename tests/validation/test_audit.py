"""Audit store: hash chain, tamper detection naming the entry, concurrent writers, CLI.

Tampering is done the way an attacker with file access would: open the SQLite
file with the ``sqlite3`` module, drop the append-only triggers, then edit,
delete, insert or swap rows. Verification must name the exact entry.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import sqlite3
from pathlib import Path

import pytest

from validation.audit import GENESIS, AuditStore, default_actor, default_path
from validation.cli import main
from validation.errors import AuditError

N_PROCESSES = 8
N_APPENDS = 25


def _fill(path: Path, n: int = 6) -> AuditStore:
    store = AuditStore(path)
    for i in range(1, n + 1):
        store.append("run" if i % 2 else "protocol.lock", {"i": i, "note": f"entry {i}", "x": [1.5, None]},
                     actor=f"user{i}")
    return store


def _tamper(path: Path, *statements: str, params: tuple = ()) -> None:
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER IF EXISTS entries_no_update")
    con.execute("DROP TRIGGER IF EXISTS entries_no_delete")
    for i, s in enumerate(statements):
        con.execute(s, params if i == 0 else ())
    con.commit()
    con.close()


@pytest.fixture()
def store(tmp_path) -> AuditStore:
    return _fill(tmp_path / "audit.sqlite")


def test_chain_links_and_hashes_are_recomputable_independently(store):
    entries = store.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].prev_hash == GENESIS
    for prev, e in zip([None, *entries], entries):
        if prev is not None:
            assert e.prev_hash == prev.hash
        # independent derivation: sha256 of sorted-key, compact, UTF-8 JSON of the six fields
        body = {"seq": e.seq, "kind": e.kind, "actor": e.actor, "timestamp": e.timestamp,
                "payload": e.payload, "prev_hash": e.prev_hash}
        raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert e.hash == hashlib.sha256(raw).hexdigest()
        assert e.timestamp.endswith("Z") and e.timestamp[10] == "T"
    result = store.verify()
    assert result.ok and result.n_entries == 6 and result.problems == ()
    assert result.head_hash == entries[-1].hash


def test_entries_find_and_head(store):
    assert [e.seq for e in store.entries("run")] == [1, 3, 5]
    assert [e.seq for e in store.find("run", i=3)] == [3]
    assert store.find("run", i=3, note="nope") == []
    assert store.head().seq == 6 and len(store) == 6
    assert store.entries()[0].to_dict()["payload"] == {"i": 1, "note": "entry 1", "x": [1.5, None]}


def test_append_unique(store):
    first, created = store.append_unique("model.lock", {"model_id": "m", "version": 1, "sha256": "a"},
                                         unique_on=("model_id", "version"))
    again, created2 = store.append_unique("model.lock", {"model_id": "m", "version": 1, "sha256": "b"},
                                          unique_on=("model_id", "version"))
    assert created and not created2 and again.seq == first.seq == 7 and len(store) == 7
    with pytest.raises(ValueError, match="'unique_on' must name at least one payload key"):
        store.append_unique("x", {}, unique_on=())
    assert store.verify().ok


def test_nan_in_payload_is_kept_as_text(tmp_path):
    e = AuditStore(tmp_path / "a.sqlite").append("run", {"auc": float("nan")}, actor="x")
    assert e.payload == {"auc": "nan"}


def test_bad_arguments(tmp_path):
    s = AuditStore(tmp_path / "a.sqlite")
    with pytest.raises(ValueError, match="'kind' must be a non-empty string"):
        s.append("", {})
    with pytest.raises(TypeError, match="'payload' must be a dict; got list"):
        s.append("run", [1])  # type: ignore[arg-type]
    with pytest.raises(AuditError, match="is a directory"):
        AuditStore(tmp_path)


def test_default_path_and_actor(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDVAL_AUDIT_DB", str(tmp_path / "env.sqlite"))
    assert default_path() == tmp_path / "env.sqlite"
    assert AuditStore().path == tmp_path / "env.sqlite"
    monkeypatch.delenv("MEDVAL_AUDIT_DB")
    monkeypatch.chdir(tmp_path)
    assert default_path() == tmp_path / ".medval" / "audit.sqlite"
    monkeypatch.setenv("MEDVAL_OPERATOR", "qa.lead")
    assert default_actor() == "qa.lead"


def test_triggers_refuse_update_and_delete(store):
    con = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only: UPDATE refused"):
        con.execute("UPDATE entries SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only: DELETE refused"):
        con.execute("DELETE FROM entries WHERE seq = 2")
    con.close()
    assert store.verify().ok


def test_edited_row_is_named(store):
    _tamper(store.path, "UPDATE entries SET payload = ? WHERE seq = 3", params=('{"i":333,"note":"entry 3","x":[1.5,null]}',))
    result = store.verify()
    assert not result.ok
    assert result.problems[0]["seq"] == 3
    assert "the entry was altered" in result.problems[0]["problem"]
    assert {p["seq"] for p in result.problems} == {3}, result.problems
    assert result.summary().startswith("audit chain BROKEN at entry 3:")


def test_edited_actor_with_recomputed_hash_breaks_the_next_link(store):
    # A smarter attacker recomputes entry 4's hash; entry 5's prev_hash then no longer matches.
    e = store.entries()[3]
    from validation.audit import entry_hash

    forged = entry_hash(e.seq, e.kind, "mallory", e.timestamp, e.payload, e.prev_hash)
    _tamper(store.path, "UPDATE entries SET actor = 'mallory', hash = ? WHERE seq = 4", params=(forged,))
    result = store.verify()
    assert [p["seq"] for p in result.problems] == [4]
    assert "link from entry 4 to entry 5 is broken" in result.problems[0]["problem"]


def test_deleted_row_is_named(store):
    _tamper(store.path, "DELETE FROM entries WHERE seq = 4")
    result = store.verify()
    assert not result.ok
    assert result.problems[0]["seq"] == 4
    assert "entry 4 missing (deleted)" in result.problems[0]["problem"]


def test_deleted_tail_is_named(store):
    _tamper(store.path, "DELETE FROM entries WHERE seq >= 5")
    result = store.verify()
    assert not result.ok and result.problems[0]["seq"] == 5
    assert "tail deleted" in result.problems[0]["problem"]


def test_tail_deleted_and_head_forged_is_caught_by_an_anchor(store):
    anchor = store.head().hash
    _tamper(store.path, "DELETE FROM entries WHERE seq = 6",
            "UPDATE head SET seq = 5, hash = (SELECT hash FROM entries WHERE seq = 5)")
    assert store.verify().ok  # without an outside anchor the cut is invisible (documented limit)
    result = store.verify(anchor=anchor)
    assert not result.ok and "anchor" in result.problems[0]["problem"]


def test_swapped_rows_are_named(store):
    # swap the content (everything but seq) of entries 2 and 3
    cols = "kind, actor, timestamp, payload, prev_hash, hash"
    _tamper(
        store.path,
        f"CREATE TEMP TABLE t AS SELECT seq, {cols} FROM entries WHERE seq IN (2, 3)",
        *[f"UPDATE entries SET {c} = (SELECT {c} FROM t WHERE t.seq = 5 - entries.seq) WHERE seq IN (2, 3)"
          for c in cols.split(", ")],
    )
    result = store.verify()
    assert not result.ok
    assert result.problems[0]["seq"] == 2
    assert "its content is entry 3's (rows reordered" in result.problems[0]["problem"]
    assert any(p["seq"] == 3 and "entry 2's" in p["problem"] for p in result.problems)


def test_inserted_row_is_named(store):
    # make room after entry 3 (renumber 4..6 -> 5..7) and insert a forged entry 4 that links to entry 3
    from validation.audit import entry_hash

    e3 = store.entries()[2]
    payload = {"forged": True}
    ts = e3.timestamp
    h = entry_hash(4, "run", "mallory", ts, payload, e3.hash)
    _tamper(store.path,
            "UPDATE entries SET seq = seq + 100 WHERE seq >= 4",
            "UPDATE entries SET seq = seq - 99 WHERE seq >= 100",
            "INSERT INTO entries(seq, kind, actor, timestamp, payload, prev_hash, hash) VALUES "
            f"(4, 'run', 'mallory', '{ts}', '{{\"forged\":true}}', '{e3.hash}', '{h}')")
    result = store.verify()
    assert not result.ok
    # entry 4 itself is self-consistent, but it and the renumbered old entry 4 claim the same predecessor
    assert result.problems[0]["seq"] == 4
    assert "entry 4 was inserted" in result.problems[0]["problem"]


def _worker(args: tuple[str, int, int]) -> list[int]:
    path, worker, n = args
    store = AuditStore(path)
    return [store.append("run", {"worker": worker, "k": k}, actor=f"w{worker}").seq for k in range(n)]


def test_eight_processes_appending_concurrently_leave_a_valid_chain(tmp_path):
    path = tmp_path / "concurrent.sqlite"
    AuditStore(path)
    ctx = mp.get_context("fork")
    with ctx.Pool(N_PROCESSES) as pool:
        seqs = pool.map(_worker, [(str(path), w, N_APPENDS) for w in range(N_PROCESSES)])
    store = AuditStore(path)
    total = N_PROCESSES * N_APPENDS
    assert sorted(s for chunk in seqs for s in chunk) == list(range(1, total + 1))
    result = store.verify()
    assert result.ok, result.problems
    assert result.n_entries == total
    for w in range(N_PROCESSES):
        assert [e.payload["k"] for e in store.find("run", worker=w)] == list(range(N_APPENDS))


def test_cli_verify_and_log(store, capsys):
    db = str(store.path)
    assert main(["audit", "verify", "--db", db]) == 0
    assert "audit chain OK: 6 entries" in capsys.readouterr().out
    assert main(["audit", "log", "--db", db, "--kind", "run", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(x)["seq"] for x in lines] == [1, 3, 5]
    _tamper(store.path, "UPDATE entries SET actor = 'mallory' WHERE seq = 2")
    assert main(["audit", "verify", "--db", db]) == 1
    out = capsys.readouterr().out
    assert "BROKEN at entry 2" in out and "entry 2:" in out


def test_cli_verify_without_store_exits_2(tmp_path, capsys):
    assert main(["audit", "verify", "--db", str(tmp_path / "none.sqlite")]) == 2
    assert "no audit store here" in capsys.readouterr().err

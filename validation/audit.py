"""The audit store: an append-only, hash-chained log in SQLite.

Every event that matters for the file — a protocol locked, a model locked, a
cohort registered, a validation run, a report issued, a monitoring alert — is
an entry. Entry ``seq`` carries ``prev_hash`` (the hash of entry ``seq - 1``;
64 zeros for the first) and its own ``hash``::

    hash = sha256(canonical_json({"seq", "kind", "actor", "timestamp", "payload", "prev_hash"}))

so that editing, deleting, inserting or reordering any entry breaks the chain
at a point :meth:`AuditStore.verify` names. SQL triggers refuse ``UPDATE`` and
``DELETE`` as a first guard against accidents, but verification never relies
on them: it recomputes every hash from the stored content.

Concurrent writers (several processes on one machine) are serialised by
SQLite's ``BEGIN IMMEDIATE`` write lock with a busy timeout, and the sequence
number and previous hash are read inside that transaction, so the chain stays
linear.

Limits: a chain alone cannot show that its *last* entries were cut off. The
store keeps its head (last seq and hash) in a separate row, which catches
truncation that did not also forge the head; an external anchor (the hash of
an entry recorded elsewhere, e.g. a run's ``results.json``) catches the rest:
``verify(anchor=...)``.

References
----------
.. [1] 21 CFR Part 11 §11.10(e): secure, computer-generated, time-stamped audit
   trails that record the date and time of operator entries and actions; record
   changes shall not obscure previously recorded information.
.. [2] Haber S, Stornetta WS, "How to time-stamp a digital document", J.
   Cryptology 3:99-111, 1991. doi:10.1007/BF00196791 (hash-linked logs).
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from validation.errors import AuditError
from validation.hashing import canonical_json, sha256_bytes

GENESIS = "0" * 64
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 120.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_kind ON entries(kind);
CREATE TABLE IF NOT EXISTS head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: DELETE refused'); END;
"""


def default_path() -> Path:
    """``$MEDVAL_AUDIT_DB``, else ``./.medval/audit.sqlite``."""
    env = os.environ.get("MEDVAL_AUDIT_DB")
    return Path(env) if env else Path.cwd() / ".medval" / "audit.sqlite"


def default_actor() -> str:
    """``$MEDVAL_OPERATOR``, else the OS user name."""
    op = os.environ.get("MEDVAL_OPERATOR")
    if op:
        return op
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def utc_now() -> str:
    """ISO-8601 UTC timestamp with microseconds, e.g. ``2026-01-01T12:00:00.000001Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(seq: int, kind: str, actor: str, timestamp: str, payload: Any, prev_hash: str) -> str:
    """sha256 of the canonical JSON of an entry's fields (everything but the hash)."""
    return sha256_bytes(canonical_json({
        "seq": seq, "kind": kind, "actor": actor, "timestamp": timestamp,
        "payload": payload, "prev_hash": prev_hash,
    }))


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry of the chain."""

    seq: int
    kind: str
    actor: str
    timestamp: str
    payload: dict
    prev_hash: str
    hash: str

    def to_dict(self) -> dict:
        return asdict(self)

    def recomputed_hash(self) -> str:
        return entry_hash(self.seq, self.kind, self.actor, self.timestamp, self.payload, self.prev_hash)


@dataclass(frozen=True, slots=True)
class ChainVerification:
    """The result of :meth:`AuditStore.verify`.

    Attributes
    ----------
    ok : bool
        True when no problem was found.
    n_entries : int
        Rows read.
    problems : tuple of dict
        ``{"seq": int, "problem": str}`` in chain order; ``seq`` names the entry.
    head_hash : str
        The hash of the last entry (the value to keep as an external anchor).
    path : str
        The database verified.
    """

    ok: bool
    n_entries: int
    problems: tuple[dict, ...]
    head_hash: str
    path: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["problems"] = list(self.problems)
        return d

    def summary(self) -> str:
        if self.ok:
            return f"audit chain OK: {self.n_entries} entries, head {self.head_hash[:16]}… ({self.path})"
        first = self.problems[0]
        more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"audit chain BROKEN at entry {first['seq']}: {first['problem']}{more} ({self.path})"


class AuditStore:
    """Append-only, hash-chained audit log in a SQLite file.

    Parameters
    ----------
    path : str or Path, optional
        The database; ``None`` means ``$MEDVAL_AUDIT_DB`` or
        ``./.medval/audit.sqlite``. Created (with its folder) on first use.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> store = AuditStore(pathlib.Path(tempfile.mkdtemp()) / "audit.sqlite")
    >>> e = store.append("protocol.lock", {"protocol_id": "x", "version": 1}, actor="qa")
    >>> e.seq, e.prev_hash == GENESIS, store.verify().ok
    (1, True, True)
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._init()

    def __repr__(self) -> str:
        return f"AuditStore({str(self.path)!r})"

    # -- connection -------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: cannot open the audit store: {exc}") from None
        try:
            con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            yield con
        except sqlite3.DatabaseError as exc:
            raise AuditError(f"{self.path}: audit store error: {exc}") from None
        finally:
            con.close()

    def _init(self) -> None:
        if self.path.exists() and self.path.is_dir():
            raise AuditError(f"{self.path}: is a directory; expected an audit store file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            for stmt in _split_sql(_SCHEMA):
                con.execute(stmt)
            con.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),))
            con.execute("COMMIT")
            mode = con.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                try:
                    con.execute("PRAGMA journal_mode=WAL")
                except sqlite3.OperationalError:
                    pass  # another process holds the database; it will have set WAL already

    # -- writing ----------------------------------------------------------------

    def append(self, kind: str, payload: dict, *, actor: str | None = None) -> AuditEntry:
        """Append one entry and return it.

        The sequence number, previous hash and timestamp are taken inside a
        ``BEGIN IMMEDIATE`` transaction, so concurrent appends from several
        processes form one linear chain.

        Parameters
        ----------
        kind : str
            e.g. ``'protocol.lock'``, ``'run'``, ``'report.issue'``.
        payload : dict
            JSON-able; stored as canonical JSON.
        actor : str, optional
            Who did it; default :func:`default_actor`.
        """
        entry, _ = self._append(kind, payload, actor=actor, unique_on=None)
        return entry

    def append_unique(self, kind: str, payload: dict, *, unique_on: tuple[str, ...],
                      actor: str | None = None) -> tuple[AuditEntry, bool]:
        """Append unless an entry of ``kind`` with the same ``payload[k]`` for ``k in unique_on`` exists.

        The check and the append happen in one write transaction, so two
        processes racing to record the same thing (e.g. locking one protocol
        version) cannot both succeed.

        Returns
        -------
        (AuditEntry, bool)
            The new entry and True, or the first existing match and False.
        """
        if not unique_on:
            raise ValueError("'unique_on' must name at least one payload key")
        return self._append(kind, payload, actor=actor, unique_on=tuple(unique_on))

    def _append(self, kind: str, payload: dict, *, actor: str | None,
                unique_on: tuple[str, ...] | None) -> tuple[AuditEntry, bool]:
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"'kind' must be a non-empty string; got {kind!r}")
        if not isinstance(payload, dict):
            raise TypeError(f"'payload' must be a dict; got {type(payload).__name__}")
        actor = actor or default_actor()
        try:
            payload_text = canonical_json(payload).decode("utf-8")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"'payload' of a {kind!r} entry is not JSON-serialisable: {exc}") from None
        payload_norm = json.loads(payload_text)
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                if unique_on is not None:
                    for row in con.execute("SELECT seq, kind, actor, timestamp, payload, prev_hash, hash "
                                           "FROM entries WHERE kind = ? ORDER BY seq", (kind,)):
                        existing = self._entry(row)
                        if all(existing.payload.get(k) == payload_norm.get(k) for k in unique_on):
                            con.execute("ROLLBACK")
                            return existing, False
                row = con.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
                seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
                ts = utc_now()
                h = entry_hash(seq, kind, actor, ts, payload_norm, prev)
                con.execute(
                    "INSERT INTO entries(seq, kind, actor, timestamp, payload, prev_hash, hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", (seq, kind, actor, ts, payload_text, prev, h))
                con.execute("INSERT INTO head(id, seq, hash) VALUES (1, ?, ?) "
                            "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash", (seq, h))
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        return AuditEntry(seq, kind, actor, ts, payload_norm, prev, h), True

    # -- reading ----------------------------------------------------------------

    def _rows(self, kind: str | None = None) -> list[tuple]:
        with self._connect() as con:
            if kind is None:
                return con.execute("SELECT seq, kind, actor, timestamp, payload, prev_hash, hash "
                                   "FROM entries ORDER BY seq").fetchall()
            return con.execute("SELECT seq, kind, actor, timestamp, payload, prev_hash, hash "
                               "FROM entries WHERE kind = ? ORDER BY seq", (kind,)).fetchall()

    def _entry(self, row: tuple) -> AuditEntry:
        seq, kind, actor, ts, payload, prev, h = row
        try:
            data = json.loads(payload)
        except (TypeError, json.JSONDecodeError) as exc:
            raise AuditError(f"{self.path}: entry {seq}: payload is not JSON ({exc})") from None
        return AuditEntry(seq, kind, actor, ts, data, prev, h)

    def entries(self, kind: str | None = None) -> list[AuditEntry]:
        """All entries in chain order, optionally only those of one ``kind``."""
        return [self._entry(r) for r in self._rows(kind)]

    def find(self, kind: str, **match: Any) -> list[AuditEntry]:
        """Entries of ``kind`` whose ``payload[k] == v`` for every ``k=v`` given."""
        return [e for e in self.entries(kind) if all(e.payload.get(k) == v for k, v in match.items())]

    def head(self) -> AuditEntry | None:
        """The last entry, or None for an empty store."""
        with self._connect() as con:
            row = con.execute("SELECT seq, kind, actor, timestamp, payload, prev_hash, hash "
                              "FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else self._entry(row)

    def __len__(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    # -- verification -----------------------------------------------------------

    def verify(self, *, anchor: str | None = None) -> ChainVerification:
        """Recompute the chain and name every entry that does not verify.

        Checks, for each row in ``seq`` order: the sequence has no gap (a gap
        is a deleted entry), the payload is the canonical JSON the hash covers,
        the stored hash equals the hash recomputed from the row (an edited or
        moved row), and ``prev_hash`` equals the previous row's hash (an
        inserted, deleted or reordered row). Then the recorded head must be
        the last row, and ``anchor`` (if given, a hash known from elsewhere)
        must be the hash of some entry.

        Does not rely on the SQL triggers: a row changed with the triggers
        dropped is found the same way.

        Returns
        -------
        ChainVerification
        """
        problems: list[dict] = []
        with self._connect() as con:
            rows = con.execute("SELECT seq, kind, actor, timestamp, payload, prev_hash, hash "
                               "FROM entries ORDER BY seq").fetchall()
            try:
                head = con.execute("SELECT seq, hash FROM head WHERE id = 1").fetchone()
            except sqlite3.OperationalError:
                head = None
                problems.append({"seq": 0, "problem": "the head record is missing (table dropped)"})
        expected_seq = 1
        prev_hash = GENESIS
        hashes: dict[str, int] = {}
        rows_seen = False
        prev_seq = 0
        prev_ok = False
        prev_stored_prev = None
        for seq, kind, actor, ts, payload_text, stored_prev, stored_hash in rows:
            if seq != expected_seq:
                if seq > expected_seq:
                    missing = (f"entry {expected_seq}" if seq == expected_seq + 1
                               else f"entries {expected_seq}-{seq - 1}")
                    problems.append({"seq": expected_seq,
                                     "problem": f"{missing} missing (deleted): the chain jumps from "
                                                f"entry {expected_seq - 1} to entry {seq}"})
                else:  # pragma: no cover - seq is the primary key, so it cannot repeat
                    problems.append({"seq": seq, "problem": "duplicate sequence number"})
            try:
                payload = json.loads(payload_text)
                canonical = canonical_json(payload).decode("utf-8")
            except (TypeError, ValueError) as exc:
                problems.append({"seq": seq, "problem": f"payload is not valid JSON ({exc}): the row was edited"})
                payload, canonical = payload_text, None
            if canonical is not None and canonical != payload_text:
                problems.append({"seq": seq, "problem": "payload is not in canonical form: the row was edited"})
            recomputed = entry_hash(seq, kind, actor, ts, payload, stored_prev)
            if recomputed != stored_hash:
                moved = ""
                for other in (seq - 1, seq + 1):
                    if other > 0 and entry_hash(other, kind, actor, ts, payload, stored_prev) == stored_hash:
                        moved = f"; its content is entry {other}'s (rows reordered or renumbered)"
                        if other == seq - 1 and prev_ok and stored_prev == prev_stored_prev:
                            # this row and the one before both claim the same predecessor: the one
                            # before was inserted, and the rows after it renumbered
                            problems.append({"seq": prev_seq,
                                             "problem": f"entry {prev_seq} was inserted: it claims the same "
                                                        f"predecessor as the renumbered entry {seq} "
                                                        f"(originally entry {prev_seq})"})
                problems.append({"seq": seq,
                                 "problem": f"content does not match its hash (stored {stored_hash[:16]}…, "
                                            f"recomputed {recomputed[:16]}…): the entry was altered{moved}"})
            gap = seq != expected_seq
            # A gap, or the row's own altered content, already explains a broken link.
            if stored_prev != prev_hash and not (gap and rows_seen) and recomputed == stored_hash:
                if seq == 1 or not rows_seen:
                    problems.append({"seq": seq, "problem": f"prev_hash {stored_prev[:16]}… of the first entry is "
                                                            f"not the genesis value: entries before it were removed"})
                else:
                    # Both rows may be self-consistent (an attacker re-hashed one): the break is the link.
                    problems.append({"seq": prev_seq,
                                     "problem": f"the link from entry {prev_seq} to entry {seq} is broken: entry {seq} "
                                                f"records prev_hash {stored_prev[:16]}… but entry {prev_seq} hashes to "
                                                f"{prev_hash[:16]}… (entry {prev_seq} was altered and re-hashed or "
                                                f"inserted, or entry {seq}'s prev_hash was rewritten)"})
            hashes[stored_hash] = seq
            prev_ok = recomputed == stored_hash
            prev_stored_prev = stored_prev
            rows_seen = True
            prev_seq = seq
            prev_hash = stored_hash
            expected_seq = seq + 1
        last_seq = rows[-1][0] if rows else 0
        if head is not None:
            hseq, hhash = head
            if hseq > last_seq:
                problems.append({"seq": last_seq + 1,
                                 "problem": f"entries {last_seq + 1}-{hseq} missing: the recorded head is entry "
                                            f"{hseq} but the chain ends at entry {last_seq} (tail deleted)"})
            elif hseq < last_seq or hhash != prev_hash:
                problems.append({"seq": hseq,
                                 "problem": f"the recorded head (entry {hseq}, {hhash[:16]}…) is not the last "
                                            f"entry (entry {last_seq}, {prev_hash[:16]}…)"})
        elif rows and not any(p["seq"] == 0 for p in problems):
            problems.append({"seq": last_seq, "problem": "entries exist but no head was recorded"})
        if anchor is not None and anchor not in hashes:
            problems.append({"seq": last_seq + 1 if not rows else last_seq,
                             "problem": f"anchor {anchor[:16]}… is not the hash of any entry "
                                        f"(the entry it names was deleted or altered)"})
        problems.sort(key=lambda p: p["seq"])
        return ChainVerification(ok=not problems, n_entries=len(rows), problems=tuple(problems),
                                 head_hash=prev_hash, path=str(self.path))


def _split_sql(script: str) -> list[str]:
    """Split the schema into statements (trigger bodies contain ';')."""
    out, buf, in_trigger = [], [], False
    for line in script.strip().splitlines():
        if not line.strip():
            continue
        buf.append(line)
        if line.lstrip().upper().startswith("CREATE TRIGGER"):
            in_trigger = True
        if (in_trigger and line.rstrip().upper().endswith("END;")) or (not in_trigger and line.rstrip().endswith(";")):
            out.append("\n".join(buf))
            buf, in_trigger = [], False
    return out

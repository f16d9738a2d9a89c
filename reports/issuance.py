"""Issuing a report (render + audit entry) and verifying a report file later.

Issuing renders ``report.html`` and ``report.pdf`` and appends one
``report.issue`` entry per file to the audit store, with payload
``{"run_id", "results_digest", "file", "sha256"}`` (docs/contracts.md).

Verifying a report file answers one question: *is this exactly a file that
was issued for this run?* It holds when

1. the file's sha256 is the ``sha256`` of some ``report.issue`` entry;
2. the run's ``results.json`` (beside the report unless given) carries that
   entry's ``run_id`` and ``results_digest``, and its ``inputs`` and
   ``outcome`` still hash to that digest (results.json was not edited);
3. the audit chain itself verifies (the entry was not forged into it).

A one-byte change to a report changes its sha256, so (1) fails and the
message says the file was altered or never issued.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from validation.errors import InputError
from validation.hashing import digest, sha256_file

from reports.render import ReportFiles, render_report

ISSUE_KIND = "report.issue"


@dataclass(frozen=True, slots=True)
class Issuance:
    """A rendered report and the audit entries that record its issue.

    Attributes
    ----------
    files : ReportFiles
        The HTML and PDF written, with their sha256s.
    entries : tuple of int
        ``seq`` of each ``report.issue`` entry appended (one per file).
    db : str
        The audit store written to.
    """

    files: ReportFiles
    entries: tuple[int, ...]
    db: str

    def to_dict(self) -> dict:
        return {"files": self.files.to_dict(), "entries": list(self.entries), "db": self.db}


@dataclass(frozen=True, slots=True)
class ReportVerification:
    """The outcome of :func:`verify_report`.

    Attributes
    ----------
    ok : bool
        The file was issued for the run whose results.json is given, and
        nothing (file, results.json, audit chain) changed since.
    report : str
        The file checked.
    sha256 : str
        Its sha256 now.
    run_id, results_digest : str or None
        From the matching ``report.issue`` entry (None if there is none).
    issued_entry : int or None
        ``seq`` of the matching entry.
    results_path : str or None
        The results.json compared.
    problems : tuple of str
        Why verification failed (empty when ``ok``).
    """

    ok: bool
    report: str
    sha256: str
    run_id: str | None
    results_digest: str | None
    issued_entry: int | None
    results_path: str | None
    problems: tuple[str, ...]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["problems"] = list(self.problems)
        return d

    def summary(self) -> str:
        if self.ok:
            return (f"{self.report}: OK — issued for run {self.run_id} (audit entry {self.issued_entry}); "
                    f"sha256 {self.sha256}; results digest {self.results_digest} matches {self.results_path}")
        return f"{self.report}: NOT VERIFIED — " + "; ".join(self.problems)


def issue_report(run_dir: str | Path, *, out_dir: str | Path | None = None, audit_db: str | Path | None = None,
                 actor: str | None = None) -> Issuance:
    """Render a run's report and record its issue in the audit store.

    Parameters
    ----------
    run_dir : path
        The run directory (its ``results.json`` is read).
    out_dir : path, optional
        Where to write the report (default ``run_dir``).
    audit_db : path, optional
        The audit store (default ``$MEDVAL_AUDIT_DB`` or ``./.medval/audit.sqlite``).
    actor : str, optional
        Who issued it (default ``$MEDVAL_OPERATOR`` or the OS user).
    """
    from validation.audit import AuditStore

    files = render_report(run_dir, out_dir=out_dir)
    store = AuditStore(audit_db)
    seqs = []
    for name, sha in files.sha256s.items():
        entry = store.append(ISSUE_KIND, {"run_id": files.run_id, "results_digest": files.results_digest,
                                          "file": name, "sha256": sha}, actor=actor)
        seqs.append(entry.seq)
    return Issuance(files=files, entries=tuple(seqs), db=str(store.path))


def _read_results(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read results.json ({exc})") from None
    for key in ("results_digest", "inputs", "outcome", "context"):
        if key not in data:
            raise InputError(f"{path}: field '{key}' is missing")
    if "run_id" not in data["context"]:
        raise InputError(f"{path}: field 'context.run_id' is missing")
    return data


def verify_report(report: str | Path, *, audit_db: str | Path | None = None,
                  results: str | Path | None = None) -> ReportVerification:
    """Check that ``report`` is byte for byte a file issued for its run (see the module docstring).

    Parameters
    ----------
    report : path
        ``report.pdf`` or ``report.html`` (or a copy of one).
    audit_db : path, optional
        The audit store holding the ``report.issue`` entries.
    results : path, optional
        The run's results.json (default: ``results.json`` beside ``report``).

    Returns
    -------
    ReportVerification
        ``ok`` False with the reasons in ``problems`` when anything differs.

    Raises
    ------
    InputError
        ``report`` does not exist, or results.json is unreadable.
    """
    from validation.audit import AuditStore

    report = Path(report)
    if not report.is_file():
        raise InputError(f"{report}: report file not found")
    sha = sha256_file(report)
    results_path = Path(results) if results is not None else report.parent / "results.json"
    store = AuditStore(audit_db)
    problems: list[str] = []
    run_id = results_digest = None
    seq = None

    data = _read_results(results_path) if results_path.is_file() else None
    issued = store.find(ISSUE_KIND, sha256=sha)
    if not issued:
        msg = (f"sha256 {sha} was never issued (audit store {store.path}): "
               "the file was altered after issue, or it was never issued")
        if data is not None:
            same = [e for e in store.find(ISSUE_KIND, run_id=data["context"]["run_id"], file=report.name)]
            if same:
                msg += (f"; run {data['context']['run_id']} has an issued {report.name} with sha256 "
                        f"{same[-1].payload['sha256']} (audit entry {same[-1].seq}), and this file differs from it")
        problems.append(msg)
    elif data is None:
        e = issued[-1]
        run_id, results_digest, seq = e.payload["run_id"], e.payload["results_digest"], e.seq
        problems.append(f"{results_path}: results.json of run {run_id} not found; pass --results PATH "
                        "to compare the run's results digest")
    else:
        match = [e for e in issued if e.payload.get("run_id") == data["context"]["run_id"]]
        e = (match or issued)[-1]
        run_id, results_digest, seq = e.payload["run_id"], e.payload["results_digest"], e.seq
        if e.payload.get("run_id") != data["context"]["run_id"]:
            problems.append(f"the file was issued for run {run_id} (audit entry {seq}) but {results_path} is "
                            f"run {data['context']['run_id']}")
        if data["results_digest"] != results_digest:
            problems.append(f"{results_path}: field 'results_digest' is {data['results_digest']} but the report "
                            f"was issued for results digest {results_digest} (audit entry {seq})")
        recomputed = digest({"inputs": data["inputs"], "outcome": data["outcome"]})
        if recomputed != data["results_digest"]:
            problems.append(f"{results_path}: inputs+outcome hash to {recomputed}, not the recorded "
                            f"results_digest {data['results_digest']}: results.json was altered")
    chain = store.verify()
    if not chain.ok:
        problems.append(chain.summary())
    return ReportVerification(ok=not problems, report=str(report), sha256=sha, run_id=run_id,
                              results_digest=results_digest, issued_entry=seq,
                              results_path=str(results_path), problems=tuple(problems))

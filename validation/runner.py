"""One validation run: protocol + locked model + versioned cohort → results.json.

The order is the regulatory one: the protocol is checked and must be locked
before anything is scored; the model and cohort must be the ones it names,
byte for byte; the data-quality gate runs before any result is computed;
only then are cases scored, statistics computed and criteria judged. A run
that cannot be made raises a :class:`~validation.errors.MedvalError` (exit 2)
and leaves no output directory behind; a run that was made writes its whole
directory at once (built beside the target, then renamed into place).
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from validation.errors import InputError
from validation.fileio import atomic_write_json
from validation.hashing import digest, to_jsonable
from validation.schemas import validate_results

RESULTS_SCHEMA_VERSION = "1.0"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """Where a run wrote its results, its verdict and the CLI exit code."""

    run_dir: Path
    results: dict
    verdict: str
    exit_code: int


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _model_dir(protocol, protocol_path: Path, override) -> Path:
    if override:
        return Path(override)
    device = protocol.device
    default = None
    for base in (Path.cwd(), REPO_ROOT):
        candidate = base / "reference_models" / device.model_id / str(device.model_version)
        if candidate.exists():
            default = candidate
            break
    resolved = protocol.resolve(device.path) if device.path else default
    if resolved is None:
        raise InputError(f"{protocol_path}: device: cannot find model '{device.model_id}' version "
                         f"{device.model_version} (looked in reference_models/); pass --model DIR")
    return resolved


def _cohort_dir(protocol, protocol_path: Path, override) -> Path:
    if override:
        return Path(override)
    resolved = protocol.resolve(protocol.cohort.path) if protocol.cohort.path else None
    if resolved is None:
        raise InputError(f"{protocol_path}: cohort: no 'path' given for cohort '{protocol.cohort.id}'; "
                         "pass --cohort DIR")
    return resolved


def _cases_frame(cohort, predictions) -> pd.DataFrame:
    """Manifest joined to predictions, one row per case, in manifest order."""
    return cohort.manifest.merge(predictions.table[["case_id", "score"]], on="case_id", how="left",
                                 validate="one_to_one")


def _stage_dir(out_dir: Path) -> Path:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))


def _promote(stage: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` by ``stage`` so a reader sees the old run or the new one, never half."""
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(out_dir, old)
        os.replace(stage, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(stage, out_dir)


def run_validation(
    protocol_path: str | Path,
    *,
    out_dir: str | Path,
    model_dir: str | Path | None = None,
    cohort_dir: str | Path | None = None,
    exploratory: bool = False,
    audit_db: str | Path | None = None,
    operator: str | None = None,
    cache_dir: str | Path | None = None,
    report: bool = True,
    batch_size: int = 64,
) -> RunOutcome:
    """Run a locked protocol end to end and write its run directory.

    Parameters
    ----------
    protocol_path : path
        The protocol YAML. In regulatory mode (the default) it must be locked
        in the audit store and unchanged since.
    out_dir : path
        The run directory to write (replaced whole if it exists).
    model_dir, cohort_dir : path, optional
        Override where the protocol says the model and cohort are.
    exploratory : bool
        Skip the lock and pinning checks; everything produced is marked
        exploratory and the verdict cannot support a claim.
    audit_db : path, optional
        The audit store (default ``$MEDVAL_AUDIT_DB`` or ``./.medval/audit.sqlite``).
    operator : str, optional
        Who ran it (default ``$MEDVAL_OPERATOR`` or the OS user).
    cache_dir : path, optional
        Prediction cache (default ``./.medval/cache``).

    Returns
    -------
    RunOutcome
        ``exit_code`` 0 when every acceptance criterion is met, 1 when one fails.

    Raises
    ------
    MedvalError
        Any reason the run cannot be made (exit code 2); nothing is written.
    """
    from validation.analysis.tasks import analyse
    from validation.audit import AuditStore, default_actor
    from validation.cohorts import load_cohort
    from validation.environment import environment
    from validation.exposure import exposure as cohort_exposure
    from validation.inference import run_inference
    from validation.models import load_locked_model
    from validation.protocols import check_inputs, load_protocol, require_locked
    from validation.quality import raise_if_failed, run_quality_gate

    started = _now()
    protocol_path = Path(protocol_path)
    out_dir = Path(out_dir)
    mode = "exploratory" if exploratory else "regulatory"
    store = AuditStore(audit_db)
    operator = operator or default_actor()

    # 1. The protocol, locked before anything is scored.
    protocol = load_protocol(protocol_path)
    lock_entry = None if exploratory else require_locked(protocol, store)

    # 2. The locked model and the versioned cohort, byte for byte.
    model = load_locked_model(_model_dir(protocol, protocol_path, model_dir))
    cohort_path = _cohort_dir(protocol, protocol_path, cohort_dir)
    cohort = load_cohort(cohort_path, verify=True)
    if not exploratory:
        check_inputs(protocol, model_sha256=model.lock.sha256, cohort_id=cohort.meta["id"],
                     cohort_version=cohort.meta["version"], cohort_digest=cohort.digest)

    # 3. The data-quality gate, before any result.
    quality = run_quality_gate(cohort, protocol.data_quality)
    if not exploratory:
        raise_if_failed(quality, cohort_path)

    # 4. Score (cached by model sha256 and cohort digest).
    cache = Path(cache_dir) if cache_dir else Path(".medval") / "cache"
    predictions = run_inference(model, cohort, cache_dir=cache, batch_size=batch_size)

    stage = _stage_dir(out_dir)
    try:
        cases = _cases_frame(cohort, predictions)
        outcome, case_listing = analyse(protocol, model=model, cohort=cohort, cases=cases,
                                        predictions=predictions, out_dir=stage)
        outcome["data_quality"] = quality.to_dict()
        outcome["deviations"] = [] if not exploratory else [
            {"kind": "mode", "text": "Exploratory run: protocol lock and input pinning were not enforced."}]

        inputs = {
            "protocol": {"id": protocol.id, "version": protocol.version, "title": protocol.title,
                         "sha256": protocol.sha256, "path": protocol_path.name},
            "model": {"id": model.lock.model_id, "version": model.lock.version, "sha256": model.lock.sha256,
                      "opset": model.lock.opset, "task": model.lock.task,
                      "threshold": outcome.get("confusion", {}).get("threshold", model.lock.operating_threshold),
                      "runtime": f"onnxruntime {_pkg_version('onnxruntime')}",
                      "preprocessing": model.lock.preprocessing},
            "cohort": {"id": cohort.meta["id"], "version": cohort.meta["version"], "digest": cohort.digest,
                       "n_cases": int(len(cohort.manifest))},
            "seed": protocol.seed,
            "mode": mode,
        }
        results_digest = digest({"inputs": inputs, "outcome": outcome})
        run_id = f"run-{started[:10].replace('-', '')}-{uuid.uuid4().hex[:8]}"

        before = cohort_exposure(store, cohort.digest, limit=_exposure_limit(protocol))
        run_entry = store.append("run", {
            "run_id": run_id, "mode": mode, "protocol_id": protocol.id, "protocol_version": protocol.version,
            "protocol_sha256": protocol.sha256, "model_id": model.lock.model_id,
            "model_version": model.lock.version, "model_sha256": model.lock.sha256,
            "cohort_id": cohort.meta["id"], "cohort_version": cohort.meta["version"],
            "cohort_digest": cohort.digest, "sequestered": bool(cohort.meta.get("sequestered", True)),
            "results_digest": results_digest, "verdict": outcome["verdict"],
        }, actor=operator)
        after = cohort_exposure(store, cohort.digest, limit=_exposure_limit(protocol))
        chain = store.verify()

        context = {
            "run_id": run_id,
            "operator": operator,
            "started_at": started,
            "finished_at": _now(),
            "environment": environment(),
            "protocol_lock": None if lock_entry is None else {
                "locked_at": lock_entry.timestamp, "locked_by": lock_entry.actor, "audit_entry": lock_entry.seq},
            "cohort_description": cohort.meta,
            "cohort_path": str(Path(cohort_path).resolve()),
            "model_path": str(Path(model.path).resolve().parent),
            "model_card": _model_card(model),
            "model_lock": _lock_dict(model.lock),
            "exposure": {**after.to_dict(), "before_this_run": before.count},
            "audit": {"db": str(store.path), "run_entry": run_entry.seq, "run_entry_hash": run_entry.hash,
                      "chain_verified": chain.ok, "n_entries": chain.n_entries,
                      "problems": list(chain.problems)},
            "protocol_text": protocol.text,
            "predictions_cached": bool(predictions.cached),
        }
        results = to_jsonable({"schema_version": RESULTS_SCHEMA_VERSION, "results_digest": results_digest,
                               "inputs": inputs, "outcome": outcome, "context": context})
        validate_results(results, where=str(out_dir / "results.json"))  # the published schema, before writing
        atomic_write_json(stage / "results.json", results)
        case_listing.to_csv(stage / "cases.csv", index=False)
        case_listing.to_parquet(stage / "predictions.parquet", index=False)
        _promote(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise

    if report:
        from reports.render import issue_report

        issue_report(out_dir, audit_db=store.path)

    exit_code = 0 if outcome["verdict"] == "PASS" else 1
    return RunOutcome(run_dir=out_dir, results=results, verdict=outcome["verdict"], exit_code=exit_code)


def _exposure_limit(protocol):
    exposure = getattr(protocol, "exposure", None)
    return getattr(exposure, "limit", None) if exposure is not None else None


def _pkg_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _model_card(model) -> str:
    card = Path(model.path).parent / "MODEL_CARD.md"
    return card.read_text(encoding="utf-8") if card.exists() else ""


def _lock_dict(lock) -> dict:
    return lock.to_dict() if hasattr(lock, "to_dict") else dict(vars(lock))

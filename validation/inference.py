"""Batched, cached inference of a locked model over a versioned cohort.

:func:`run_inference` streams the cohort in batches (the whole cohort is never
held in memory), decodes images on a reader thread that feeds a bounded queue
while the main thread runs onnxruntime (which releases the GIL), and writes the
case-level predictions to parquet — plus, for a segmenter, the probability
maps to an ``.npy`` file that is opened as a memory map.

Results are cached under ``cache_dir/<model_sha[:16]>-<digest[:16]>/``: the key
is the pair (model sha256, cohort digest), so the same locked model on the same
cohort bytes is never scored twice. A cache entry is trusted only if its
``cache.json`` (written last) names the full model sha256 and cohort digest,
the sha256 of every file it lists matches, and its case ids are the cohort's;
anything else — a truncated parquet, an edited score, a missing file — is
detected, discarded and rebuilt.
"""

from __future__ import annotations

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import datetime as _dt  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import queue  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Iterator  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from validation.errors import InputError  # noqa: E402
from validation.fileio import atomic_write_json  # noqa: E402
from validation.hashing import sha256_file  # noqa: E402

__all__ = ["CACHE_SCHEMA_VERSION", "Predictions", "cache_key", "run_inference"]

log = logging.getLogger(__name__)

CACHE_SCHEMA_VERSION = "1.0"
_PARQUET = "predictions.parquet"
_MASKS = "masks.npy"
_META = "cache.json"
_QUEUE_DEPTH = 3


@dataclass(frozen=True)
class Predictions:
    """Case-level predictions of one locked model on one cohort.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per case in manifest order: ``case_id``, ``score`` and, for a
        classifier with an embedding, ``emb_0 … emb_{K-1}``. For a segmenter
        ``score`` is the maximum pixel probability of the image.
    masks : numpy.ndarray or None
        Segmenter only: (N,H,W) float32 probability maps, a read-only memmap
        of ``masks.npy`` in manifest order.
    path : Path
        The cache entry directory holding ``predictions.parquet`` (and ``masks.npy``).
    cached : bool
        True if the predictions were read from a verified cache entry, False if
        they were computed by this call.
    model_sha256, cohort_digest : str
        The cache key in full.
    runtime : dict
        onnxruntime version and the pinned session options used.
    seconds : float
        Wall time of this call.
    """

    table: pd.DataFrame
    masks: np.ndarray | None
    path: Path
    cached: bool
    model_sha256: str = ""
    cohort_digest: str = ""
    runtime: dict | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """Summary for results.json (not the predictions themselves)."""
        return {
            "path": str(self.path),
            "cached": self.cached,
            "n_cases": int(len(self.table)),
            "columns": list(self.table.columns),
            "has_masks": self.masks is not None,
            "model_sha256": self.model_sha256,
            "cohort_digest": self.cohort_digest,
            "runtime": dict(self.runtime or {}),
        }


def cache_key(model_sha256: str, cohort_digest: str) -> str:
    """Directory name of a cache entry: ``<model_sha[:16]>-<digest[:16]>``."""
    return f"{model_sha256[:16]}-{cohort_digest[:16]}"


# ------------------------------------------------------------------ cache checks


def _read_cache(entry: Path, *, model_sha: str, cohort_digest: str, case_ids: list[str], task: str):
    """Return (table, masks) from a verified cache entry, or None with the reason logged."""
    meta_path = entry / _META
    if not meta_path.is_file():
        return None, "no cache.json (entry missing or incomplete)"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"cache.json unreadable ({exc})"
    if not isinstance(meta, dict):
        return None, "cache.json is not an object"
    expected = {
        "schema_version": CACHE_SCHEMA_VERSION,
        "model_sha256": model_sha,
        "cohort_digest": cohort_digest,
        "n_cases": len(case_ids),
    }
    for key, want in expected.items():
        if meta.get(key) != want:
            return None, f"cache.json field '{key}' is {meta.get(key)!r}, expected {want!r}"
    files = meta.get("files")
    want_files = {_PARQUET} | ({_MASKS} if task == "segmentation" else set())
    if not isinstance(files, dict) or set(files) != want_files:
        return None, f"cache.json field 'files' lists {files!r}, expected {sorted(want_files)}"
    for name, sha in files.items():
        path = entry / name
        if not path.is_file():
            return None, f"{path} missing"
        actual = sha256_file(path)
        if actual != sha:
            return None, f"{path}: sha256 {actual} differs from cache.json's {sha}"
    try:
        table = pd.read_parquet(entry / _PARQUET)
    except Exception as exc:  # pyarrow raises several types on corrupt files
        return None, f"{entry / _PARQUET} unreadable ({exc})"
    if table["case_id"].tolist() != case_ids:
        return None, "case ids differ from the cohort manifest"
    masks = None
    if task == "segmentation":
        try:
            masks = np.load(entry / _MASKS, mmap_mode="r")
        except Exception as exc:
            return None, f"{entry / _MASKS} unreadable ({exc})"
        if masks.shape[0] != len(case_ids) or masks.dtype != np.float32:
            return None, f"{entry / _MASKS}: shape {masks.shape} dtype {masks.dtype} do not fit {len(case_ids)} cases"
    return (table, masks), ""


# ------------------------------------------------------------------ reader thread


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


def _reader(batches: Iterator[Any], model, out: queue.Queue, stop: threading.Event) -> None:
    """Decode and preprocess batches ahead of the model; stop early when asked."""

    def _put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for batch in batches:
            x = model.preprocess(batch.images)
            if not _put((list(batch.case_ids), x)):
                return
        _put(_DONE)
    except BaseException as exc:  # handed to the consumer, re-raised there
        _put(_Failure(exc))


def _prefetched(cohort, model, batch_size: int) -> Iterator[tuple[list[str], np.ndarray]]:
    from validation.cohorts import iter_batches

    q: queue.Queue = queue.Queue(maxsize=_QUEUE_DEPTH)
    stop = threading.Event()
    batches = iter_batches(cohort, batch_size=batch_size, with_masks=False)
    thread = threading.Thread(target=_reader, args=(batches, model, q, stop), name="medval-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)


# ------------------------------------------------------------------ scoring


def _score_into(entry_tmp: Path, model, cohort, case_ids: list[str], batch_size: int) -> dict[str, str]:
    """Score the cohort into ``entry_tmp``; return {file name: sha256}."""
    task = model.lock.task
    n = len(case_ids)
    h, w = model.image_size
    writer = None
    masks = None
    mask_sha = None
    if task == "segmentation":
        masks = np.lib.format.open_memmap(entry_tmp / _MASKS, mode="w+", dtype=np.float32, shape=(n, h, w))
        # Hash the .npy as it is written (header, then each batch in order) instead of re-reading it.
        with open(entry_tmp / _MASKS, "rb") as fh:
            mask_sha = hashlib.sha256(fh.read(masks.offset))
    pos = 0
    try:
        for ids, x in _prefetched(cohort, model, batch_size):
            if ids != case_ids[pos : pos + len(ids)]:
                raise InputError(
                    f"{cohort.root}: iter_batches returned case ids {ids[:3]}… at position {pos}, "
                    f"expected the manifest order {case_ids[pos:pos + 3]}…"
                )
            out = model.run(x)
            cols: dict[str, Any] = {"case_id": pa.array(ids, type=pa.string())}
            if task == "segmentation":
                prob = np.ascontiguousarray(out["probability"], dtype=np.float32)
                if prob.shape != (len(ids), h, w):
                    raise InputError(
                        f"{model.path}: output 'probability' has shape {prob.shape}; expected {(len(ids), h, w)}"
                    )
                masks[pos : pos + len(ids)] = prob
                mask_sha.update(memoryview(prob).cast("B"))
                cols["score"] = pa.array(prob.reshape(len(ids), -1).max(axis=1).astype(np.float64))
            else:
                cols["score"] = pa.array(np.asarray(out["score"], dtype=np.float32).reshape(-1).astype(np.float64))
                if "embedding" in out:
                    emb = np.asarray(out["embedding"], dtype=np.float32).reshape(len(ids), -1)
                    for k in range(emb.shape[1]):
                        cols[f"emb_{k}"] = pa.array(emb[:, k])
            table = pa.table(cols)
            if writer is None:
                writer = pq.ParquetWriter(entry_tmp / _PARQUET, table.schema, compression="zstd")
            writer.write_table(table)
            pos += len(ids)
    finally:
        if writer is not None:
            writer.close()
        if masks is not None:
            masks.flush()
            del masks
    if pos != n:
        raise InputError(f"{cohort.root}: iter_batches yielded {pos} cases; the manifest lists {n}")
    if writer is None:  # empty cohort
        raise InputError(f"{cohort.root}: the cohort manifest has no cases to score")
    files = {_PARQUET: sha256_file(entry_tmp / _PARQUET)}
    if task == "segmentation":
        files[_MASKS] = mask_sha.hexdigest()
    return files


def run_inference(model, cohort, *, cache_dir: str | Path, batch_size: int = 64) -> Predictions:
    """Score every case of a cohort with a locked model, cached by (model sha256, cohort digest).

    Parameters
    ----------
    model : LockedModel or path
        A model from :func:`validation.models.load_locked_model`, or its directory.
    cohort : Cohort or path
        A cohort from :func:`validation.cohorts.load_cohort`, or its directory
        (loaded with ``verify=True``).
    cache_dir : path
        Root of the prediction cache.
    batch_size : int
        Images per onnxruntime call.

    Returns
    -------
    Predictions
        ``cached=True`` if a verified cache entry was reused.

    Raises
    ------
    InputError
        Bad ``batch_size``, an image that does not fit the model, or a cohort
        whose batches disagree with its manifest.

    Notes
    -----
    A cache entry is written into a temporary sibling directory and moved into
    place with one ``os.replace``; its ``cache.json`` (the commit record,
    holding the full key and every file's sha256) is the last file written.
    A reader therefore sees a complete entry or none. A corrupt or partial
    entry fails verification and is rebuilt, never trusted.
    """
    from validation.models import LockedModel, load_locked_model

    t0 = time.perf_counter()
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"'batch_size' must be a positive integer; got {batch_size!r}")
    if not isinstance(model, LockedModel):
        model = load_locked_model(model)
    if isinstance(cohort, (str, Path)):
        from validation.cohorts import load_cohort

        cohort = load_cohort(cohort, verify=True)

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    model_sha = model.lock.sha256
    cohort_digest = str(cohort.digest)
    case_ids = [str(c) for c in cohort.manifest["case_id"].tolist()]
    if len(set(case_ids)) != len(case_ids):
        raise InputError(f"{cohort.root}: manifest column 'case_id' has duplicate values")
    entry = cache_dir / cache_key(model_sha, cohort_digest)
    task = model.lock.task

    if entry.exists():
        hit, reason = _read_cache(entry, model_sha=model_sha, cohort_digest=cohort_digest, case_ids=case_ids, task=task)
        if hit is not None:
            table, masks = hit
            return Predictions(
                table=table,
                masks=masks,
                path=entry,
                cached=True,
                model_sha256=model_sha,
                cohort_digest=cohort_digest,
                runtime=model.runtime,
                seconds=time.perf_counter() - t0,
            )
        log.warning("prediction cache %s not trusted (%s); rebuilding", entry, reason)

    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.partial-", dir=cache_dir))
    try:
        files = _score_into(tmp, model, cohort, case_ids, batch_size)
        atomic_write_json(
            tmp / _META,
            {
                "schema_version": CACHE_SCHEMA_VERSION,
                "model_sha256": model_sha,
                "model_id": model.lock.model_id,
                "model_version": model.lock.version,
                "cohort_digest": cohort_digest,
                "n_cases": len(case_ids),
                "files": files,
                "runtime": model.runtime,
                "batch_size": batch_size,
                "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            },
        )
        if entry.exists():  # a rejected entry: move it aside, then swap in the new one
            old = cache_dir / f".{entry.name}.rejected-{os.getpid()}-{time.time_ns()}"
            try:
                os.replace(entry, old)
            except FileNotFoundError:  # another process moved it first
                pass
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, entry)
        except OSError:
            # Another process committed the same entry meanwhile (a non-empty
            # directory cannot be replaced); both scored the same bytes with the
            # same pinned session, so keep theirs if it verifies.
            hit, reason = _read_cache(
                entry, model_sha=model_sha, cohort_digest=cohort_digest, case_ids=case_ids, task=task
            )
            if hit is None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    table = pd.read_parquet(entry / _PARQUET)
    masks = np.load(entry / _MASKS, mmap_mode="r") if task == "segmentation" else None
    return Predictions(
        table=table,
        masks=masks,
        path=entry,
        cached=False,
        model_sha256=model_sha,
        cohort_digest=cohort_digest,
        runtime=model.runtime,
        seconds=time.perf_counter() - t0,
    )

"""Production inference logs: the record schema, capture beside inference, reading and validation.

One record per inference. A deployment calls :func:`capture` (one image) or
:func:`capture_batch` (a batch) beside its own inference; each batch is
appended as one parquet *part file* in a log directory, so a writer never
rewrites what is already there and a reader never sees half a file (parts are
written atomically). :func:`read_logs` reads a set of part files back and
validates them: structural problems (missing columns, wrong types, mixed
embedding widths) are refused with an :class:`~validation.errors.InputError`
naming the file and the column; row-level problems (NaN scores, a model sha256
other than the reference's) are either refused or excluded, and every
exclusion is counted and reported — never silently dropped.

Image statistics (:func:`image_statistics`) are computed by the same function
for production images and for the reference cohort (``monitoring.profile``),
so both sides of every drift test measure the same thing.
"""

from __future__ import annotations

import glob as _glob
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from validation.errors import InputError
from validation.fileio import atomic_write_bytes
from validation.hashing import sha256_bytes

LOG_SCHEMA_VERSION = "1.0"

#: Image-statistic columns, in order (see :func:`image_statistics`).
IMAGE_STAT_COLUMNS: tuple[str, ...] = (
    "img_mean",
    "img_std",
    "img_p05",
    "img_p50",
    "img_p95",
    "img_noise",
    "img_sharpness",
    "img_rows",
    "img_cols",
    "spacing_row",
    "spacing_col",
)

#: Required columns and the dtype family each must have ("datetime", "string",
#: "float", "integer"). Embedding columns ``emb_0 .. emb_{K-1}`` are required
#: too (K >= 1) and must be float.
REQUIRED_COLUMNS: dict[str, str] = {
    "timestamp": "datetime",
    "case_id": "string",
    "site": "string",
    "manufacturer": "string",
    "model_id": "string",
    "model_version": "string",
    "model_sha256": "string",
    "threshold": "float",
    "score": "float",
    "decision": "integer",
    **{c: ("integer" if c in ("img_rows", "img_cols") else "float") for c in IMAGE_STAT_COLUMNS},
}

# Noise of white Gaussian noise through the 4-neighbour Laplacian
# [[0,1,0],[1,-4,1],[0,1,0]]: variance (16 + 4 * 1) sigma^2 = 20 sigma^2.
_LAPLACIAN_NOISE_GAIN = math.sqrt(20.0)
# MAD -> sigma for a normal distribution: 1 / Phi^{-1}(3/4).
_MAD_TO_SIGMA = 1.482602218505602


def _laplacian(images: np.ndarray) -> np.ndarray:
    """4-neighbour Laplacian of a (B, H, W) stack over the interior pixels, (B, H-2, W-2)."""
    c = images[:, 1:-1, 1:-1]
    return (
        images[:, :-2, 1:-1] + images[:, 2:, 1:-1] + images[:, 1:-1, :-2] + images[:, 1:-1, 2:] - 4.0 * c
    )


def image_statistics(images: np.ndarray, *, spacing: np.ndarray | Sequence[float] | None = None) -> pd.DataFrame:
    """Per-image intensity, noise and sharpness statistics, vectorised over a batch.

    Parameters
    ----------
    images : array_like, shape (B, H, W) or (H, W)
        Raw pixel values (e.g. 12-bit detector values as stored); not normalised,
        so that acquisition changes (gain, noise, blur) stay visible.
    spacing : array_like, shape (B, 2) or (2,), optional
        Pixel spacing (row, column) in mm; NaN when not given.

    Returns
    -------
    pandas.DataFrame
        One row per image with the columns :data:`IMAGE_STAT_COLUMNS`:
        ``img_mean``, ``img_std``, ``img_p05``, ``img_p50``, ``img_p95``
        (intensity percentiles, linear interpolation), ``img_noise`` (robust
        noise sigma), ``img_sharpness`` (variance of the Laplacian),
        ``img_rows``, ``img_cols``, ``spacing_row``, ``spacing_col``.

    Raises
    ------
    InputError
        If ``images`` is not 2-D/3-D, smaller than 3x3, or not finite.

    Notes
    -----
    Noise: the residual of the 4-neighbour Laplacian removes smooth anatomy;
    its median absolute deviation, scaled by 1.4826 (normal consistency) and
    divided by sqrt(20) (the Laplacian's gain on white noise: 4^2 + 4 * 1^2),
    estimates the per-pixel noise sigma robustly against edges and lesions
    (the MAD-of-a-high-pass-residual idea of Donoho [1]_; a Laplacian-mask
    noise estimator in the spirit of Immerkaer [2]_).

    Sharpness: the variance of the Laplacian, a standard focus measure [3]_;
    blur lowers it, noise raises it — read it together with ``img_noise``.

    References
    ----------
    .. [1] Donoho DL, Johnstone IM. Ideal spatial adaptation by wavelet
       shrinkage. Biometrika 1994;81(3):425-455. doi:10.1093/biomet/81.3.425
    .. [2] Immerkaer J. Fast noise variance estimation. Computer Vision and
       Image Understanding 1996;64(2):300-302. doi:10.1006/cviu.1996.0060
    .. [3] Pech-Pacheco JL, Cristobal G, Chamorro-Martinez J, Fernandez-Valdivia J.
       Diatom autofocusing in brightfield microscopy: a comparative study.
       ICPR 2000;3:314-317. doi:10.1109/ICPR.2000.903548

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> img = 1000.0 + rng.normal(0.0, 10.0, size=(1, 256, 256))
    >>> round(float(image_statistics(img)["img_noise"][0]))
    10
    """
    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise InputError(f"image_statistics: 'images' must have shape (B, H, W); got shape {arr.shape}")
    b, h, w = arr.shape
    if h < 3 or w < 3:
        raise InputError(f"image_statistics: images must be at least 3x3; got {h}x{w}")
    x = arr.astype(np.float64, copy=False)
    if b and not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x).reshape(b, -1).all(axis=1))[0])
        raise InputError(f"image_statistics: image {bad} has non-finite pixel values")
    flat = x.reshape(b, -1)
    pct = np.percentile(flat, [5.0, 50.0, 95.0], axis=1) if b else np.zeros((3, 0))
    lap = _laplacian(x).reshape(b, -1)
    med = np.median(lap, axis=1, keepdims=True) if b else np.zeros((0, 1))
    mad = np.median(np.abs(lap - med), axis=1) if b else np.zeros(0)
    if spacing is None:
        sp = np.full((b, 2), np.nan)
    else:
        sp = np.asarray(spacing, dtype=np.float64)
        if sp.ndim == 1:
            sp = np.broadcast_to(sp, (b, 2))
        if sp.shape != (b, 2):
            raise InputError(f"image_statistics: 'spacing' must have shape ({b}, 2); got {sp.shape}")
    return pd.DataFrame(
        {
            "img_mean": flat.mean(axis=1),
            "img_std": flat.std(axis=1),
            "img_p05": pct[0],
            "img_p50": pct[1],
            "img_p95": pct[2],
            "img_noise": _MAD_TO_SIGMA * mad / _LAPLACIAN_NOISE_GAIN,
            "img_sharpness": lap.var(axis=1) if b else np.zeros(0),
            "img_rows": np.full(b, h, dtype=np.int64),
            "img_cols": np.full(b, w, dtype=np.int64),
            "spacing_row": sp[:, 0].astype(np.float64),
            "spacing_col": sp[:, 1].astype(np.float64),
        }
    )


def _model_identity(model: Any) -> tuple[str, str, str, float]:
    """(model_id, version, sha256, operating threshold) of a locked model."""
    lock = getattr(model, "lock", None)
    if lock is None:
        raise InputError(f"capture: 'model' must be a locked model with a .lock; got {type(model).__name__}")
    try:
        return (str(lock.model_id), str(lock.version), str(lock.sha256), float(lock.operating_threshold))
    except AttributeError as exc:
        raise InputError(f"capture: the model's lock lacks a field: {exc}") from None


def _as_utc(ts: Any, *, what: str) -> pd.Timestamp:
    try:
        t = pd.Timestamp(ts)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{what}: 'timestamp' must be a date-time; got {ts!r}") from exc
    if t is pd.NaT:
        raise InputError(f"{what}: 'timestamp' must be a date-time; got {ts!r}")
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def capture_batch(
    images: np.ndarray,
    *,
    model: Any,
    case_ids: Sequence[str],
    sites: Sequence[str] | str,
    manufacturers: Sequence[str] | str,
    timestamps: Sequence[Any] | Any,
    spacing: np.ndarray | None = None,
    acquisition: Mapping[str, Sequence[Any]] | None = None,
    out_dir: str | Path | None = None,
    part_name: str | None = None,
) -> pd.DataFrame:
    """Score a batch with the locked model and return (and optionally append) its log records.

    Parameters
    ----------
    images : ndarray, shape (B, H, W)
        Raw images as acquired (the model does its own preprocessing).
    model : LockedModel
        ``validation.models.LockedModel`` (``.predict`` -> ``{"score", "embedding"}``,
        ``.lock`` with ``model_id``, ``version``, ``sha256``, ``operating_threshold``).
    case_ids, sites, manufacturers, timestamps
        One per image (a scalar is repeated).
    spacing : ndarray, shape (B, 2), optional
        Pixel spacing in mm (row, column).
    acquisition : mapping of str to sequence, optional
        Further acquisition tags (e.g. ``{"kvp": [...]}``), written as ``acq_<name>`` columns.
    out_dir : path, optional
        Log directory; the batch is written there as one part file.
    part_name : str, optional
        File name of the part (default: ``part-<first timestamp>-<content hash>.parquet``).

    Returns
    -------
    pandas.DataFrame
        The records, in the log schema (:data:`REQUIRED_COLUMNS` + ``emb_*`` + ``acq_*``).
    """
    arr = np.asarray(images)
    if arr.ndim != 3:
        raise InputError(f"capture_batch: 'images' must have shape (B, H, W); got shape {arr.shape}")
    b = arr.shape[0]

    def _per_image(name: str, value: Any) -> list:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | np.ndarray | pd.Series | pd.Index):
            return [value] * b
        values = list(value)
        if len(values) != b:
            raise InputError(f"capture_batch: '{name}' has {len(values)} values for {b} images")
        return values

    ids = [str(c) for c in _per_image("case_ids", case_ids)]
    if len(set(ids)) != len(ids):
        raise InputError("capture_batch: 'case_ids' must be unique within a batch")
    ts = [_as_utc(t, what="capture_batch") for t in _per_image("timestamps", timestamps)]
    model_id, version, sha, threshold = _model_identity(model)
    out = model.predict(arr)
    scores = np.asarray(out["score"], dtype=np.float64).reshape(-1)
    emb = np.asarray(out["embedding"], dtype=np.float32)
    if scores.shape[0] != b or emb.ndim != 2 or emb.shape[0] != b:
        raise InputError(
            f"capture_batch: model returned score {scores.shape} / embedding {emb.shape} for {b} images"
        )
    frame = pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(ts).as_unit("us"),
            "case_id": ids,
            "site": [str(s) for s in _per_image("sites", sites)],
            "manufacturer": [str(m) for m in _per_image("manufacturers", manufacturers)],
            "model_id": model_id,
            "model_version": version,
            "model_sha256": sha,
            "threshold": threshold,
            "score": scores,
            # NaN scores are logged as such (decision -1) so read_logs can count them.
            "decision": np.where(np.isnan(scores), -1, scores >= threshold).astype(np.int8),
        }
    )
    for k, col in enumerate(emb.T):
        frame[f"emb_{k}"] = col
    stats = image_statistics(arr, spacing=spacing)
    for col in IMAGE_STAT_COLUMNS:
        frame[col] = stats[col].to_numpy()
    for name, values in (acquisition or {}).items():
        frame[f"acq_{name}"] = _per_image(f"acquisition[{name!r}]", values)
    frame["log_schema_version"] = LOG_SCHEMA_VERSION
    if out_dir is not None:
        write_log_part(frame, out_dir, part_name=part_name)
    return frame


def capture(
    image: np.ndarray,
    *,
    model: Any,
    case_id: str,
    site: str,
    manufacturer: str,
    timestamp: Any,
    spacing: Sequence[float] | None = None,
    acquisition: Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
) -> dict:
    """Score one image and return its log record (a dict); see :func:`capture_batch`.

    With ``out_dir`` the record is appended as its own part file; a deployment
    that scores in batches should call :func:`capture_batch` instead (one part
    file per batch).
    """
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise InputError(f"capture: 'image' must have shape (H, W); got shape {arr.shape}")
    frame = capture_batch(
        arr[None],
        model=model,
        case_ids=[case_id],
        sites=[site],
        manufacturers=[manufacturer],
        timestamps=[timestamp],
        spacing=None if spacing is None else np.asarray(spacing, dtype=np.float64)[None],
        acquisition={k: [v] for k, v in (acquisition or {}).items()},
        out_dir=out_dir,
    )
    return frame.iloc[0].to_dict()


def write_log_part(frame: pd.DataFrame, out_dir: str | Path, *, part_name: str | None = None) -> Path:
    """Append ``frame`` to the log directory ``out_dir`` as one parquet part file (atomically)."""
    out_dir = Path(out_dir)
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, engine="pyarrow")
    data = buf.getvalue()
    if part_name is None:
        first = pd.Timestamp(frame["timestamp"].min()).strftime("%Y%m%dT%H%M%S") if len(frame) else "empty"
        part_name = f"part-{first}-{sha256_bytes(data)[:12]}.parquet"
    path = out_dir / part_name
    if path.exists():
        raise InputError(f"{path}: log part already exists; log parts are append-only")
    return atomic_write_bytes(path, data)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Rows left out of monitoring, with the reason (counted, reported, never silent)."""

    file: str
    column: str
    reason: str
    n: int
    example_case_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "column": self.column,
            "reason": self.reason,
            "n": self.n,
            "example_case_ids": list(self.example_case_ids),
        }


@dataclass(frozen=True, slots=True)
class ProductionLogs:
    """Validated production logs.

    Attributes
    ----------
    frame : pandas.DataFrame
        The records kept, sorted by (timestamp, case_id), with a ``source_file`` column.
    files : tuple of str
        The part files read, sorted.
    n_read : int
        Rows read before exclusions.
    exclusions : tuple of Exclusion
        Every row-level exclusion with its count.
    embedding_dim : int
        Number of ``emb_*`` columns.
    """

    frame: pd.DataFrame = field(repr=False)
    files: tuple[str, ...]
    n_read: int
    exclusions: tuple[Exclusion, ...]
    embedding_dim: int

    @property
    def n_excluded(self) -> int:
        return sum(e.n for e in self.exclusions)

    @property
    def n_kept(self) -> int:
        return len(self.frame)

    def to_dict(self) -> dict:
        return {
            "files": list(self.files),
            "n_read": self.n_read,
            "n_kept": self.n_kept,
            "n_excluded": self.n_excluded,
            "exclusions": [e.to_dict() for e in self.exclusions],
            "embedding_dim": self.embedding_dim,
        }


def resolve_log_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Expand a directory (its ``*.parquet``), a glob, a file, or a list of them, sorted."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(p.glob("*.parquet")))
        elif any(ch in str(item) for ch in "*?["):
            out.extend(Path(m) for m in sorted(_glob.glob(str(item))))
        elif p.is_file():
            out.append(p)
        else:
            raise InputError(f"{p}: no such log file or directory")
    unique = sorted(dict.fromkeys(out))
    if not unique:
        raise InputError(f"{paths}: no parquet log files found")
    return unique


def _dtype_family(series: pd.Series) -> str:
    dt = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dt):
        return "datetime"
    if pd.api.types.is_bool_dtype(dt):
        return "bool"
    if pd.api.types.is_integer_dtype(dt):
        return "integer"
    if pd.api.types.is_float_dtype(dt):
        return "float"
    if pd.api.types.is_string_dtype(dt) or dt == object:
        return "string"
    return str(dt)


def _check_types(frame: pd.DataFrame, path: Path) -> list[str]:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    emb = sorted((c for c in frame.columns if c.startswith("emb_")), key=lambda c: int(c[4:]) if c[4:].isdigit() else -1)
    if not emb:
        missing.append("emb_0")
    if missing:
        raise InputError(f"{path}: missing required column(s) {', '.join(repr(c) for c in missing)}")
    bad_names = [c for c in emb if not c[4:].isdigit()]
    if bad_names or [int(c[4:]) for c in emb] != list(range(len(emb))):
        raise InputError(f"{path}: embedding columns must be emb_0..emb_K-1; got {emb}")
    expected = dict(REQUIRED_COLUMNS) | {c: "float" for c in emb}
    for col, fam in expected.items():
        got = _dtype_family(frame[col])
        ok = got == fam or (fam == "float" and got == "integer")
        if fam == "string" and got == "string":
            non_str = frame[col].map(lambda v: not isinstance(v, str)).to_numpy()
            if non_str.any():
                v = frame[col].to_numpy()[int(np.flatnonzero(non_str)[0])]
                raise InputError(f"{path}: column '{col}': expected strings; got {type(v).__name__} value {v!r}")
        if not ok:
            raise InputError(f"{path}: column '{col}': expected {fam} values; got dtype {frame[col].dtype}")
    return emb


def read_logs(
    paths: str | Path | Iterable[str | Path],
    *,
    reference_sha256: str | None = None,
    on_invalid: Literal["exclude", "raise"] = "exclude",
) -> ProductionLogs:
    """Read and validate production log part files.

    Parameters
    ----------
    paths : path, glob, directory, or a list of them
        Parquet part files written by :func:`capture_batch`.
    reference_sha256 : str, optional
        The validated model's sha256; rows scored by another model are invalid.
    on_invalid : {"exclude", "raise"}
        Row-level problems (NaN scores, NaN image statistics or embeddings,
        unknown model sha256, duplicate case ids): ``"exclude"`` drops them and
        records an :class:`Exclusion` per file and reason; ``"raise"`` refuses.

    Returns
    -------
    ProductionLogs

    Raises
    ------
    InputError
        Unreadable file, missing required column, a column of the wrong type,
        embedding widths differing between files (always refused, naming the
        file and the column); any row-level problem with ``on_invalid="raise"``.
    """
    if on_invalid not in ("exclude", "raise"):
        raise InputError(f"read_logs: 'on_invalid' must be 'exclude' or 'raise'; got {on_invalid!r}")
    files = resolve_log_paths(paths)
    frames: list[pd.DataFrame] = []
    exclusions: list[Exclusion] = []
    emb_dim: int | None = None
    n_read = 0
    seen: set[str] = set()
    for path in files:
        try:
            frame = pd.read_parquet(path, engine="pyarrow")
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise InputError(f"{path}: not a readable parquet log file ({type(exc).__name__}: {exc})") from None
        emb = _check_types(frame, path)
        if emb_dim is None:
            emb_dim = len(emb)
        elif len(emb) != emb_dim:
            raise InputError(f"{path}: {len(emb)} embedding columns; earlier files have {emb_dim}")
        n_read += len(frame)
        ts = frame["timestamp"]
        frame = frame.assign(
            timestamp=(ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")).dt.as_unit("us"),
            source_file=path.name,
        )
        checks: list[tuple[str, str, np.ndarray]] = [
            ("timestamp", "missing timestamp", frame["timestamp"].isna().to_numpy()),
            ("score", "score is NaN", ~np.isfinite(frame["score"].to_numpy(dtype=np.float64))),
            ("score", "score outside [0, 1]", ~frame["score"].between(0.0, 1.0).to_numpy() & np.isfinite(frame["score"].to_numpy(dtype=np.float64))),
            (
                "emb_*",
                "embedding has NaN",
                ~np.isfinite(frame[emb].to_numpy(dtype=np.float64)).all(axis=1),
            ),
            (
                "img_*",
                "image statistics have NaN",
                ~np.isfinite(frame[[c for c in IMAGE_STAT_COLUMNS if not c.startswith("spacing")]].to_numpy(dtype=np.float64)).all(axis=1),
            ),
        ]
        if reference_sha256 is not None:
            checks.append(
                (
                    "model_sha256",
                    f"model sha256 differs from the reference {reference_sha256[:12]}",
                    (frame["model_sha256"] != reference_sha256).to_numpy(),
                )
            )
        dup = frame["case_id"].isin(seen).to_numpy() | frame["case_id"].duplicated().to_numpy()
        checks.append(("case_id", "duplicate case_id", dup))
        drop = np.zeros(len(frame), dtype=bool)
        for column, reason, mask in checks:
            mask = mask & ~drop
            n = int(mask.sum())
            if not n:
                continue
            examples = tuple(frame["case_id"].to_numpy()[mask][:3].tolist())
            if on_invalid == "raise":
                detail = ""
                if column == "model_sha256":
                    detail = f" (got {frame['model_sha256'].to_numpy()[mask][0]!r})"
                raise InputError(f"{path}: column '{column}': {reason} in {n} row(s){detail}, e.g. case {examples[0]!r}")
            exclusions.append(Exclusion(file=path.name, column=column, reason=reason, n=n, example_case_ids=examples))
            drop |= mask
        kept = frame.loc[~drop]
        seen.update(kept["case_id"].tolist())
        frames.append(kept)
    combined = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    combined = combined.sort_values(["timestamp", "case_id"], kind="mergesort").reset_index(drop=True)
    return ProductionLogs(
        frame=combined,
        files=tuple(str(p) for p in files),
        n_read=n_read,
        exclusions=tuple(exclusions),
        embedding_dim=int(emb_dim or 0),
    )


@dataclass(frozen=True, slots=True)
class LabelJoin:
    """Logs with delayed ground truth joined by case_id.

    ``frame`` has a nullable ``label`` column (``<NA>`` where no label arrived yet);
    ``n_labelled`` counts logged cases with a label; ``n_unmatched_labels``
    counts labels whose case_id is not in the logs (reported, not used).
    """

    frame: pd.DataFrame = field(repr=False)
    n_labelled: int
    n_unlabelled: int
    n_unmatched_labels: int
    unmatched_examples: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "n_labelled": self.n_labelled,
            "n_unlabelled": self.n_unlabelled,
            "n_unmatched_labels": self.n_unmatched_labels,
            "unmatched_examples": list(self.unmatched_examples),
        }


def read_labels(path: str | Path) -> pd.DataFrame:
    """Read a delayed-ground-truth file (CSV or parquet with ``case_id`` and ``label``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such labels file")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype={"case_id": str})
    except Exception as exc:
        raise InputError(f"{path}: unreadable labels file ({type(exc).__name__}: {exc})") from None
    frame.attrs["source"] = str(path)
    return frame


def join_labels(logs: ProductionLogs | pd.DataFrame, labels: pd.DataFrame) -> LabelJoin:
    """Join delayed ground truth to logs by ``case_id``.

    Parameters
    ----------
    logs : ProductionLogs or DataFrame
        Validated logs (a ``label`` column already present is replaced).
    labels : DataFrame
        Columns ``case_id`` and ``label`` (0/1); one row per case.

    Raises
    ------
    InputError
        Missing columns, labels other than 0/1, or a case_id labelled twice.
    """
    src = labels.attrs.get("source", "labels")
    for col in ("case_id", "label"):
        if col not in labels.columns:
            raise InputError(f"{src}: missing required column '{col}'")
    lab = labels[["case_id", "label"]].copy()
    lab["case_id"] = lab["case_id"].astype(str)
    raw = pd.to_numeric(lab["label"], errors="coerce")
    bad = raw.isna() | ~raw.isin([0, 1])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{src}: column 'label': expected 0 or 1; got {str(labels['label'].iloc[i])!r} for case {lab['case_id'].iloc[i]!r}"
        )
    dup = lab["case_id"].duplicated()
    if dup.any():
        raise InputError(f"{src}: column 'case_id': case {lab['case_id'][dup].iloc[0]!r} is labelled more than once")
    lab["label"] = raw.astype("Int8")
    frame = logs.frame if isinstance(logs, ProductionLogs) else logs
    base = frame.drop(columns=["label"], errors="ignore")
    merged = base.merge(lab, on="case_id", how="left", validate="many_to_one")
    unmatched = ~lab["case_id"].isin(base["case_id"])
    n_lab = int(merged["label"].notna().sum())
    return LabelJoin(
        frame=merged,
        n_labelled=n_lab,
        n_unlabelled=len(merged) - n_lab,
        n_unmatched_labels=int(unmatched.sum()),
        unmatched_examples=tuple(lab["case_id"][unmatched].head(3).tolist()),
    )

"""Versioned cohorts: ``cohort.yaml`` + ``manifest.csv`` + image/mask files, hashed.

A cohort is a directory::

    cohort.yaml     id, version, modality, task, description, label_definition,
                    reference_standard, inclusion_criteria, sequestered, source,
                    manifest, manifest_sha256, meta_sha256, digest
    manifest.csv    one row per case (see MANIFEST_COLUMNS), paths relative to the directory
    images/ masks/  the files the manifest names

:func:`register_cohort` hashes every file named by the manifest, writes the
``image_sha256``/``mask_sha256`` columns, then records ``manifest_sha256`` and
the cohort ``digest`` in ``cohort.yaml``. The digest is the sha256 of the
canonical JSON of ``{"manifest_sha256": ..., "files": [[path, sha256], ...]}``
(files sorted by path), so changing one byte of any file, or of the manifest,
gives a different cohort. ``meta_sha256`` (an addition to the contract) is the
digest of the descriptive fields of ``cohort.yaml`` so that an edited label
definition or sequestration flag is detected too.

:func:`load_cohort` validates the manifest (columns, labels, ids, paths,
lesions, ages, spacings) and, with ``verify=True``, re-hashes everything and
raises :class:`~validation.errors.IntegrityError` naming the first file that
differs.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from validation.errors import InputError, IntegrityError
from validation.fileio import atomic_write_bytes, atomic_write_text
from validation.hashing import digest as _digest
from validation.hashing import sha256_bytes, sha256_file, to_jsonable

__all__ = [
    "Cohort",
    "ImageBatch",
    "MANIFEST_COLUMNS",
    "HEADER_COLUMNS",
    "register_cohort",
    "load_cohort",
    "verify_cohort",
    "iter_batches",
    "cohort_digest",
]

COHORT_YAML = "cohort.yaml"
MANIFEST_COLUMNS = (
    "case_id", "patient_id", "image_path", "image_sha256", "mask_path", "mask_sha256",
    "label", "lesions", "site", "manufacturer", "sex", "age",
    "pixel_spacing_row", "pixel_spacing_col", "acquired_at",
)
REQUIRED_COLUMNS = ("case_id", "patient_id", "image_path", "label")
REQUIRED_META = ("id", "version", "modality", "task", "label_definition", "reference_standard")
META_DEFAULTS: dict[str, Any] = {
    "description": "",
    "inclusion_criteria": [],
    "sequestered": False,
    "source": "",
    "manifest": "manifest.csv",
}
# Fields recorded by registration (not covered by meta_sha256).
_HASH_FIELDS = ("manifest_sha256", "meta_sha256", "digest")

# Manifest column -> how it is read from a DICOM header (validation.imageio.dicom_header keys).
HEADER_COLUMNS = ("manufacturer", "sex", "age", "pixel_spacing_row", "pixel_spacing_col", "patient_id")
_SEXES = ("F", "M", "O", "")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Cohort:
    """A loaded cohort.

    Attributes
    ----------
    root : pathlib.Path
        The cohort directory.
    meta : dict
        ``cohort.yaml`` as a dict.
    manifest : pandas.DataFrame
        One row per case: string columns, except ``label`` (int64), ``age``
        (nullable Int64) and ``pixel_spacing_row``/``pixel_spacing_col``
        (float64, NaN when unknown).
    digest : str
        The cohort digest (sha256 hex).
    """

    root: Path
    meta: dict
    manifest: pd.DataFrame
    digest: str

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    @property
    def version(self) -> int:
        return int(self.meta["version"])

    @property
    def n_cases(self) -> int:
        return int(len(self.manifest))

    def to_dict(self) -> dict[str, Any]:
        """Identity and composition (what a results file or report records)."""
        m = self.manifest
        out: dict[str, Any] = {
            "id": self.id,
            "version": self.version,
            "digest": self.digest,
            "root": str(self.root),
            "n_cases": self.n_cases,
            "n_patients": int(m["patient_id"].nunique()),
            "n_positive": int(m["label"].sum()),
            "meta": to_jsonable(self.meta),
        }
        for col in ("site", "manufacturer", "sex"):
            counts = m[col][m[col] != ""].value_counts().sort_index()
            out[f"by_{col}"] = {str(k): int(v) for k, v in counts.items()}
        return out


@dataclass(frozen=True, slots=True)
class ImageBatch:
    """A batch of same-size images streamed from a cohort.

    Attributes
    ----------
    case_ids : list[str]
    images : numpy.ndarray
        ``float32`` (B, H, W) (or (B, D, H, W) for 3D) raw values as
        :func:`validation.imageio.read_image` returns them.
    masks : numpy.ndarray or None
        ``uint8`` 0/1, same shape as ``images``, when requested.
    spacing : numpy.ndarray
        (B, 2) pixel spacing in mm (row, col): the manifest's columns, else the
        image header's, else NaN.
    """

    case_ids: list[str]
    images: np.ndarray
    masks: np.ndarray | None
    spacing: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_ids": list(self.case_ids),
            "shape": list(self.images.shape),
            "has_masks": self.masks is not None,
        }


# --------------------------------------------------------------------------- reading/writing pieces


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise InputError(f"{path}: cohort description not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping at the top level; got {type(data).__name__}")
    return data


_YAML_ORDER = ("id", "version", "modality", "task", "description", "label_definition", "reference_standard",
               "inclusion_criteria", "sequestered", "source", "manifest", "manifest_sha256", "meta_sha256", "digest")


def _write_yaml(path: Path, data: dict[str, Any]) -> None:
    """Write ``cohort.yaml`` with the contract's fields first, in the contract's order, then any others."""
    import yaml

    ordered = {k: data[k] for k in _YAML_ORDER if k in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    atomic_write_text(path, yaml.safe_dump(to_jsonable(ordered), sort_keys=False, allow_unicode=True))


def _check_meta(meta: dict[str, Any], where: Path) -> dict[str, Any]:
    for key in REQUIRED_META:
        if key not in meta or meta[key] is None or (isinstance(meta[key], str) and not meta[key].strip()):
            raise InputError(f"{where}: field '{key}': required; got {meta.get(key)!r}")
    out = {**META_DEFAULTS, **meta}
    if not isinstance(out["id"], str) or not _ID_RE.match(out["id"]):
        raise InputError(
            f"{where}: field 'id': expected letters, digits, '.', '_' or '-'; got {out['id']!r}"
        )
    v = out["version"]
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise InputError(f"{where}: field 'version': expected a positive integer; got {v!r}")
    if not isinstance(out["sequestered"], bool):
        raise InputError(f"{where}: field 'sequestered': expected true or false; got {out['sequestered']!r}")
    crit = out["inclusion_criteria"]
    if not isinstance(crit, list) or not all(isinstance(c, str) for c in crit):
        raise InputError(f"{where}: field 'inclusion_criteria': expected a list of strings; got {crit!r}")
    man = out["manifest"]
    if not isinstance(man, str) or "/" in man or "\\" in man or not man.endswith(".csv"):
        raise InputError(f"{where}: field 'manifest': expected a .csv file name in the cohort directory; got {man!r}")
    return out


def _meta_sha256(meta: dict[str, Any]) -> str:
    return _digest({k: v for k, v in meta.items() if k not in _HASH_FIELDS})


def _read_manifest_bytes(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: manifest not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV manifest ({exc})") from None
    return df


def _manifest_csv_bytes(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def _safe_relpath(root: Path, rel: str, *, where: str) -> Path:
    """Resolve a manifest path, refusing absolute paths and escapes from the cohort dir."""
    if not rel:
        raise InputError(f"{where}: empty path")
    pp = PurePosixPath(rel.replace("\\", "/"))
    if pp.is_absolute() or ".." in pp.parts:
        raise InputError(f"{where}: expected a path relative to the cohort directory, inside it; got {rel!r}")
    return root / Path(*pp.parts)


def _row_where(manifest: Path, i: int, col: str) -> str:
    # Row numbers as a spreadsheet shows them: the header is line 1.
    return f"{manifest}: line {i + 2}, column '{col}'"


def _validate_manifest(df: pd.DataFrame, root: Path, manifest: Path, *, require_all: bool,
                       check_files: bool = True) -> pd.DataFrame:
    """Check columns and values; return the typed frame."""
    needed = MANIFEST_COLUMNS if require_all else REQUIRED_COLUMNS
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise InputError(f"{manifest}: missing column(s) {missing}; expected at least {list(needed)}")
    dupes = [c for c in df.columns if str(c).endswith(".1") and str(c)[:-2] in df.columns]
    if dupes:
        raise InputError(f"{manifest}: duplicate column(s) {[c[:-2] for c in dupes]}")
    if len(df) == 0:
        raise InputError(f"{manifest}: no cases (the manifest has a header only)")
    df = df.copy()
    for c in MANIFEST_COLUMNS:
        if c not in df.columns:
            df[c] = ""
    for i, row in enumerate(df.itertuples(index=False)):
        r = row._asdict()
        for col in ("case_id", "patient_id"):
            if not r[col].strip():
                raise InputError(f"{_row_where(manifest, i, col)}: empty; every case needs one")
        if r["label"] not in ("0", "1"):
            raise InputError(f"{_row_where(manifest, i, 'label')}: expected 0 or 1; got {r['label']!r}")
        if r["sex"] not in _SEXES:
            raise InputError(f"{_row_where(manifest, i, 'sex')}: expected F, M, O or empty; got {r['sex']!r}")
        if r["age"] != "":
            try:
                age = int(r["age"])
            except ValueError:
                age = -1
            if not 0 <= age <= 130:
                raise InputError(f"{_row_where(manifest, i, 'age')}: expected whole years 0..130 or empty; got {r['age']!r}")
        for col in ("pixel_spacing_row", "pixel_spacing_col"):
            if r[col] != "":
                try:
                    sp = float(r[col])
                except ValueError:
                    sp = float("nan")
                if not (math.isfinite(sp) and sp > 0):
                    raise InputError(f"{_row_where(manifest, i, col)}: expected a positive number (mm) or empty; got {r[col]!r}")
        if r["acquired_at"] != "":
            try:
                datetime.fromisoformat(r["acquired_at"])
            except ValueError:
                raise InputError(
                    f"{_row_where(manifest, i, 'acquired_at')}: expected an ISO date or datetime; got {r['acquired_at']!r}"
                ) from None
        if r["lesions"] != "":
            _check_lesions(r["lesions"], _row_where(manifest, i, "lesions"))
        img = _safe_relpath(root, r["image_path"], where=_row_where(manifest, i, "image_path"))
        if check_files and not img.is_file():
            raise InputError(f"{_row_where(manifest, i, 'image_path')}: file not found: {r['image_path']!r}")
        if r["mask_path"]:
            msk = _safe_relpath(root, r["mask_path"], where=_row_where(manifest, i, "mask_path"))
            if check_files and not msk.is_file():
                raise InputError(f"{_row_where(manifest, i, 'mask_path')}: file not found: {r['mask_path']!r}")
    dup = df["case_id"][df["case_id"].duplicated()]
    if len(dup):
        i = int(dup.index[0])
        raise InputError(f"{_row_where(manifest, i, 'case_id')}: duplicate case id {dup.iloc[0]!r}")
    return df


def _check_lesions(text: str, where: str) -> list[dict[str, float]]:
    try:
        les = json.loads(text)
    except json.JSONDecodeError:
        raise InputError(f"{where}: expected a JSON list of {{row, col, radius_px}}; got {text[:60]!r}") from None
    if not isinstance(les, list):
        raise InputError(f"{where}: expected a JSON list; got {type(les).__name__}")
    for k, item in enumerate(les):
        if not isinstance(item, dict) or not all(key in item for key in ("row", "col", "radius_px")):
            raise InputError(f"{where}: lesion {k}: expected keys row, col, radius_px; got {item!r}")
        for key in ("row", "col", "radius_px"):
            v = item[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InputError(f"{where}: lesion {k}: '{key}' must be a finite number; got {v!r}")
        if item["radius_px"] <= 0:
            raise InputError(f"{where}: lesion {k}: 'radius_px' must be > 0; got {item['radius_px']!r}")
    return les


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["label"] = out["label"].astype(np.int64)
    out["age"] = pd.array([int(a) if a != "" else pd.NA for a in out["age"]], dtype="Int64")
    for col in ("pixel_spacing_row", "pixel_spacing_col"):
        out[col] = np.array([float(x) if x != "" else np.nan for x in out[col]], dtype=np.float64)
    return out


def cohort_digest(manifest_sha256: str, files: dict[str, str]) -> str:
    """The cohort digest: sha256 of canonical JSON of ``{"manifest_sha256", "files"}``.

    ``files`` maps each relative path to its sha256; they are listed sorted by path.
    """
    return _digest({"manifest_sha256": manifest_sha256, "files": [[p, files[p]] for p in sorted(files)]})


# --------------------------------------------------------------------------- header columns


def _header_value(header: dict[str, Any], column: str) -> str:
    if column in ("pixel_spacing_row", "pixel_spacing_col"):
        sp = header.get("pixel_spacing")
        return "" if sp is None else f"{float(sp[0 if column.endswith('row') else 1]):g}"
    if column == "age":
        return "" if header.get("age") is None else str(int(header["age"]))
    if column == "sex":
        s = str(header.get("sex") or "").strip().upper()
        return s if s in _SEXES else ""
    return str(header.get(column) or "").strip()


def _resolve_header_columns(header_columns: Any) -> list[str]:
    if header_columns is None or header_columns is False:
        return []
    if header_columns is True or header_columns == "all":
        return list(HEADER_COLUMNS)
    if isinstance(header_columns, str):
        header_columns = [header_columns]
    cols = list(header_columns)
    for c in cols:
        if c not in HEADER_COLUMNS:
            raise InputError(f"'header_columns': unknown column {c!r}; DICOM headers can fill {list(HEADER_COLUMNS)}")
    return cols


def _fill_from_headers(df: pd.DataFrame, root: Path, manifest: Path, columns: list[str]) -> pd.DataFrame:
    from validation.imageio import image_format, read_header

    df = df.copy()
    for c in columns:
        if c not in df.columns:
            df[c] = ""
    for i in range(len(df)):
        rel = df.at[i, "image_path"]
        path = _safe_relpath(root, rel, where=_row_where(manifest, i, "image_path"))
        if image_format(path) != "dicom":
            continue
        header = read_header(path)
        for c in columns:
            value = _header_value(header, c)
            current = df.at[i, c]
            if current == "":
                df.at[i, c] = value
            elif value != "" and current != value:
                raise InputError(
                    f"{_row_where(manifest, i, c)}: manifest says {current!r} but the DICOM header of "
                    f"{rel!r} says {value!r}"
                )
    return df


# --------------------------------------------------------------------------- public API


def register_cohort(root: str | Path, *, meta: dict | None = None, header_columns: Any = None) -> Cohort:
    """Hash every file of a cohort directory and record the digest.

    Parameters
    ----------
    root : path
        Cohort directory holding ``manifest.csv`` (at least the columns
        case_id, patient_id, image_path, label) and, unless ``meta`` gives all
        required fields, ``cohort.yaml``.
    meta : dict, optional
        Fields merged over ``cohort.yaml`` (id, version, modality, task,
        label_definition, reference_standard are required between the two).
    header_columns : None, True, "all" or list of str
        Manifest columns to fill from DICOM headers (any of
        :data:`HEADER_COLUMNS`): Manufacturer → manufacturer, PatientSex → sex,
        PatientAge → age (whole years), PixelSpacing (else ImagerPixelSpacing)
        → pixel_spacing_row/col, PatientID → patient_id. Empty cells are
        filled; a non-empty cell that disagrees with the header is an error.

    Returns
    -------
    Cohort

    Raises
    ------
    InputError
        Missing/invalid fields, columns, values or files (message names file, row, column, value).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: cohort directory not found")
    yaml_path = root / COHORT_YAML
    base = _read_yaml(yaml_path) if yaml_path.is_file() else {}
    merged = {**base, **(meta or {})}
    for k in _HASH_FIELDS:
        merged.pop(k, None)
    merged = _check_meta(merged, yaml_path)
    manifest_path = root / merged["manifest"]
    df = _read_manifest_bytes(manifest_path)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{manifest_path}: missing column(s) {missing}; expected at least {list(REQUIRED_COLUMNS)}")
    cols = _resolve_header_columns(header_columns)
    if cols:
        df = _fill_from_headers(df, root, manifest_path, cols)
    df = _validate_manifest(df, root, manifest_path, require_all=False)
    # Contract columns first, in order; any extra columns after them.
    df = df[list(MANIFEST_COLUMNS) + [c for c in df.columns if c not in MANIFEST_COLUMNS]]

    files: dict[str, str] = {}
    img_sha, msk_sha = [], []
    for i in range(len(df)):
        for col, out in (("image_path", img_sha), ("mask_path", msk_sha)):
            rel = df.at[i, col]
            if not rel:
                out.append("")
                continue
            key = PurePosixPath(rel.replace("\\", "/")).as_posix()
            if key not in files:
                files[key] = sha256_file(_safe_relpath(root, rel, where=_row_where(manifest_path, i, col)))
            out.append(files[key])
    df["image_sha256"] = img_sha
    df["mask_sha256"] = msk_sha
    data = _manifest_csv_bytes(df)
    atomic_write_bytes(manifest_path, data)
    manifest_sha = sha256_bytes(data)
    merged["manifest_sha256"] = manifest_sha
    merged["meta_sha256"] = _meta_sha256(merged)
    merged["digest"] = cohort_digest(manifest_sha, files)
    _write_yaml(yaml_path, merged)
    return Cohort(root=root, meta=merged, manifest=_typed(df), digest=merged["digest"])


def load_cohort(root: str | Path, *, verify: bool = True) -> Cohort:
    """Load a registered cohort, re-hashing every file when ``verify``.

    Parameters
    ----------
    root : path
        Cohort directory.
    verify : bool
        Re-hash ``manifest.csv`` and every image and mask, and recompute the
        digest and the description hash. ``False`` only parses and checks
        the manifest (paths exist, values valid).

    Returns
    -------
    Cohort

    Raises
    ------
    InputError
        Missing files, unregistered cohort, missing columns, bad values.
    IntegrityError
        ``manifest.csv``, ``cohort.yaml`` or a file differs from what was
        registered; the message names the first one that differs.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: cohort directory not found")
    yaml_path = root / COHORT_YAML
    raw = _read_yaml(yaml_path)
    meta = _check_meta(raw, yaml_path)
    for k in _HASH_FIELDS:
        if not isinstance(meta.get(k), str) or not re.fullmatch(r"[0-9a-f]{64}", meta[k]):
            raise InputError(
                f"{yaml_path}: field '{k}': expected a sha256 hex digest (run `medval cohort register`); "
                f"got {meta.get(k)!r}"
            )
    manifest_path = root / meta["manifest"]
    if not manifest_path.is_file():
        raise InputError(f"{manifest_path}: manifest not found")
    if verify:
        if _meta_sha256(meta) != meta["meta_sha256"]:
            raise IntegrityError(
                f"{yaml_path}: the cohort description was edited after registration "
                f"(meta_sha256 recorded {meta['meta_sha256'][:12]}…, now {_meta_sha256(meta)[:12]}…)"
            )
        got = sha256_file(manifest_path)
        if got != meta["manifest_sha256"]:
            raise IntegrityError(
                f"{manifest_path}: sha256 {got[:12]}… differs from manifest_sha256 "
                f"{meta['manifest_sha256'][:12]}… recorded in {yaml_path.name}"
            )
    df = _read_manifest_bytes(manifest_path)
    df = _validate_manifest(df, root, manifest_path, require_all=True)
    if verify:
        files: dict[str, str] = {}
        for i in range(len(df)):
            for col, sha_col in (("image_path", "image_sha256"), ("mask_path", "mask_sha256")):
                rel = df.at[i, col]
                if not rel:
                    continue
                key = PurePosixPath(rel.replace("\\", "/")).as_posix()
                recorded = df.at[i, sha_col]
                if key not in files:
                    files[key] = sha256_file(_safe_relpath(root, rel, where=_row_where(manifest_path, i, col)))
                if files[key] != recorded:
                    raise IntegrityError(
                        f"{root / key}: sha256 {files[key][:12]}… differs from {recorded[:12] or '(none)'}… "
                        f"recorded in {manifest_path.name} line {i + 2} ({sha_col})"
                    )
        recomputed = cohort_digest(meta["manifest_sha256"], files)
        if recomputed != meta["digest"]:
            raise IntegrityError(
                f"{yaml_path}: field 'digest' {meta['digest'][:12]}… does not match the files "
                f"(recomputed {recomputed[:12]}…)"
            )
    return Cohort(root=root, meta=meta, manifest=_typed(df), digest=meta["digest"])


def verify_cohort(root: str | Path) -> Cohort:
    """:func:`load_cohort` with ``verify=True``: raises on any difference, else returns the cohort."""
    return load_cohort(root, verify=True)


def iter_batches(cohort: Cohort | str | Path, *, batch_size: int = 64, with_masks: bool = False) -> Iterator[ImageBatch]:
    """Stream a cohort's images in manifest order, ``batch_size`` at a time.

    Only one batch is in memory at a time. Every image must have the shape
    of the first one.

    Parameters
    ----------
    cohort : Cohort or path
        A loaded cohort, or its directory (loaded with ``verify=True``).
    batch_size : int
        Positive.
    with_masks : bool
        Also read masks. A case with an empty ``mask_path`` and label 0 gets an
        all-zero mask (no lesion, by the reference standard); a positive case
        without a mask is an error.

    Yields
    ------
    ImageBatch

    Raises
    ------
    InputError
        An image or mask whose shape differs from the first image's (names the
        file and both shapes); a positive case without a mask; unreadable files.
    """
    from validation.imageio import read_image, read_mask

    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InputError(f"'batch_size' must be a positive integer; got {batch_size!r}")
    if not isinstance(cohort, Cohort):
        cohort = load_cohort(cohort, verify=True)
    m = cohort.manifest
    root = cohort.root
    manifest_name = cohort.meta.get("manifest", "manifest.csv")
    first_shape: tuple[int, ...] | None = None
    case_ids = m["case_id"].tolist()
    image_paths = m["image_path"].tolist()
    mask_paths = m["mask_path"].tolist()
    labels = m["label"].to_numpy()
    sp_r = m["pixel_spacing_row"].to_numpy(dtype=np.float64)
    sp_c = m["pixel_spacing_col"].to_numpy(dtype=np.float64)
    for start in range(0, len(m), int(batch_size)):
        stop = min(start + int(batch_size), len(m))
        images, masks, spacing = [], [], []
        for i in range(start, stop):
            path = root / image_paths[i]
            arr, header = read_image(path, full_header=False)
            if first_shape is None:
                first_shape = arr.shape
            elif arr.shape != first_shape:
                raise InputError(
                    f"{path}: image shape {arr.shape} differs from the cohort's first image {first_shape} "
                    f"({image_paths[0]}); batches need images of one size"
                )
            images.append(arr)
            row, col = sp_r[i], sp_c[i]
            if np.isnan(row) or np.isnan(col):
                hs = header.get("pixel_spacing")
                if hs is not None and len(hs) >= 2:
                    row, col = float(hs[0]), float(hs[1])
            spacing.append((row, col))
            if with_masks:
                if mask_paths[i]:
                    mpath = root / mask_paths[i]
                    mk = read_mask(mpath)
                    if mk.shape != arr.shape:
                        raise InputError(f"{mpath}: mask shape {mk.shape} differs from its image's {arr.shape}")
                elif labels[i] == 0:
                    mk = np.zeros(arr.shape, dtype=np.uint8)
                else:
                    raise InputError(
                        f"{root / manifest_name}: line {i + 2}, column 'mask_path': empty for a positive case "
                        f"({case_ids[i]!r}); masks were requested"
                    )
                masks.append(mk)
        yield ImageBatch(
            case_ids=[str(c) for c in case_ids[start:stop]],
            images=np.stack(images).astype(np.float32, copy=False),
            masks=np.stack(masks) if with_masks else None,
            spacing=np.asarray(spacing, dtype=np.float64).reshape(-1, 2),
        )

"""The data-quality gate: a Great Expectations suite run on a cohort's manifest.

Before any result is computed, the cohort's manifest must satisfy the
protocol's ``data_quality`` section: the required columns exist and are
filled, labels take only the declared values, ages lie in the declared range,
case ids are unique, image dimensions and pixel spacing are as expected
(from manifest columns, or read from the image headers), categorical columns
take only their declared values, and — given the training manifest — no
patient is in both training and test data (GMLP principle 4: training and
test sets independent; FDA AI-enabled device draft guidance 2025, data
management).

The gate is built on Great Expectations 1.x: one ephemeral data context per
process (creating one is slow), one pandas data source and dataframe asset,
and a fresh :class:`great_expectations.ExpectationSuite` per call. Progress
bars and usage analytics are switched off.

References
----------
.. [1] U.S. FDA, Health Canada, MHRA, "Good Machine Learning Practice for
   Medical Device Development: Guiding Principles", 2021 (principles 3-5).
.. [2] Great Expectations 1.x documentation, "Validate data with Expectations",
   https://docs.greatexpectations.io/docs/core/introduction/
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from validation.errors import DataQualityError, InputError

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

N_EXAMPLES = 5
_NUMBER_RE = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"

_lock = threading.Lock()
_GX: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class ExpectationOutcome:
    """One expectation's result, in the form results.json and the report carry."""

    expectation: str
    column: str | None
    success: bool
    unexpected_count: int
    unexpected_examples: tuple
    unexpected_case_ids: tuple
    description: str
    error: str | None = None

    def to_dict(self) -> dict:
        return {
            "expectation": self.expectation,
            "column": self.column,
            "success": self.success,
            "unexpected_count": self.unexpected_count,
            "unexpected_examples": list(self.unexpected_examples),
            "unexpected_case_ids": list(self.unexpected_case_ids),
            "description": self.description,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class QualityResult:
    """Outcome of :func:`run_quality_gate`.

    Attributes
    ----------
    success : bool
        Every expectation met.
    suite : str
        The suite's name.
    results : tuple of ExpectationOutcome
        In the order the suite lists them.
    n_rows : int
        Manifest rows checked.
    derived_columns : tuple of str
        Columns read from image headers rather than the manifest.
    engine : str
        ``great_expectations <version>``.
    """

    success: bool
    suite: str
    results: tuple[ExpectationOutcome, ...]
    n_rows: int
    derived_columns: tuple[str, ...]
    engine: str

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]

    def to_dict(self) -> dict:
        return {
            "success": self.success,
            "suite": self.suite,
            "results": [r.to_dict() for r in self.results],
            "n_rows": self.n_rows,
            "n_expectations": len(self.results),
            "n_failed": len(self.failed),
            "derived_columns": list(self.derived_columns),
            "engine": self.engine,
        }


def _context():
    """The process-wide GX context and batch definition (built once)."""
    with _lock:
        if not _GX:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            ctx = gx.get_context(mode="ephemeral")
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            source = ctx.data_sources.add_pandas("medval-cohort")
            asset = source.add_dataframe_asset(name="manifest")
            _GX["gx"] = gx
            _GX["batch_definition"] = asset.add_batch_definition_whole_dataframe("whole-manifest")
            _GX["version"] = gx.__version__
        return _GX["gx"], _GX["batch_definition"], _GX["version"]


def _config(config: Any):
    from validation.protocols import DataQualityConfig

    if config is None:
        return DataQualityConfig()
    if isinstance(config, DataQualityConfig):
        return config
    if isinstance(config, Mapping):
        try:
            return DataQualityConfig.model_validate(dict(config))
        except Exception as exc:
            raise InputError(f"data_quality: invalid configuration: {exc}") from None
    raise TypeError(f"'config' must be a DataQualityConfig, a mapping or None; got {type(config).__name__}")


def _image_shape(path: Path) -> tuple[float, float, float, float]:
    """(rows, cols, spacing_row, spacing_col) from the header alone; NaN where unknown."""
    nan = float("nan")
    name = path.name.lower()
    try:
        if name.endswith(".npy"):
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            return float(arr.shape[0]), float(arr.shape[1]) if arr.ndim > 1 else nan, nan, nan
        if name.endswith(".png"):
            from PIL import Image

            with Image.open(path) as im:
                w, h = im.size
            return float(h), float(w), nan, nan
        if name.endswith((".nii", ".nii.gz")):
            import nibabel as nib

            img = nib.load(str(path))
            zooms = img.header.get_zooms()
            return (float(img.shape[0]), float(img.shape[1]),
                    float(zooms[0]) if len(zooms) > 0 else nan, float(zooms[1]) if len(zooms) > 1 else nan)
        from validation.imageio import read_header

        h = read_header(path)
        sp = h.get("pixel_spacing") or (nan, nan)
        return float(h.get("rows") or nan), float(h.get("columns") or nan), float(sp[0]), float(sp[1])
    except (OSError, ValueError, InputError):
        return nan, nan, nan, nan


def _derive_from_headers(frame: pd.DataFrame, root: Path, need_dims: bool, need_spacing: bool) -> list[str]:
    """Add image_rows/image_cols (and spacing) read from image headers; returns the columns added."""
    if "image_path" not in frame.columns:
        return []
    shapes = [(_image_shape(root / str(p)) if isinstance(p, str) and p else (np.nan,) * 4)
              for p in frame["image_path"]]
    arr = np.asarray(shapes, dtype=float).reshape(len(frame), 4)
    added = []
    if need_dims:
        for j, col in ((0, "image_rows"), (1, "image_cols")):
            if col not in frame.columns:
                frame[col] = arr[:, j]
                added.append(col)
    if need_spacing:
        for j, col in ((2, "pixel_spacing_row"), (3, "pixel_spacing_col")):
            if col not in frame.columns:
                frame[col] = arr[:, j]
                added.append(col)
    return added


def _training_patients(training_manifest: Any, column: str) -> tuple[set, str]:
    if isinstance(training_manifest, pd.DataFrame):
        df, where = training_manifest, "training manifest"
    else:
        p = Path(training_manifest)
        if p.is_dir():
            p = p / "manifest.csv"
        where = str(p)
        if not p.is_file():
            raise InputError(f"{p}: training manifest not found")
        try:
            df = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p, dtype=str, keep_default_na=False)
        except Exception as exc:
            raise InputError(f"{p}: cannot read the training manifest: {exc}") from None
    if column not in df.columns:
        raise InputError(f"{where}: field {column!r}: column not found; the training manifest has "
                         f"{', '.join(map(str, df.columns))}")
    return {str(v) for v in df[column].dropna()}, where


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def _normalised(manifest: pd.DataFrame) -> pd.DataFrame:
    """A copy GX can check: empty text is missing, nullable numbers are float (NA -> NaN)."""
    frame = manifest.copy()
    frame.index = pd.RangeIndex(len(frame))
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_numeric_dtype(s.dtype):
            frame[col] = s.astype("float64")
        elif s.dtype == object:
            blank = s.map(lambda v: isinstance(v, str) and not v.strip())
            if blank.any():
                frame[col] = s.where(~blank, None)
    return frame


def run_quality_gate(cohort: Any, config: Any = None, *, training_manifest: Any = None) -> QualityResult:
    """Run the protocol's data-quality expectations on a cohort's manifest.

    Parameters
    ----------
    cohort : validation.cohorts.Cohort
        Anything with ``manifest`` (DataFrame) and ``root`` (Path); ``meta``
        (dict with ``id``) names the suite.
    config : validation.protocols.DataQualityConfig or mapping, optional
        The protocol's ``data_quality`` section; defaults apply when None.
    training_manifest : path or DataFrame, optional
        A training manifest (CSV/parquet file, or a cohort directory with
        ``manifest.csv``); overrides ``config.training_manifest`` (a relative
        path there is taken from the working directory, else from the cohort
        directory). When given, the gate expects no test patient among its
        patients.

    Returns
    -------
    QualityResult
        Never raises for a failed expectation; see :func:`raise_if_failed`.

    Notes
    -----
    Expectations, in order: ``expect_table_columns_to_match_set`` (every
    column the gate needs is present; one expectation rather than one per
    column, since GX's per-expectation overhead dominates the gate's time);
    ``expect_column_values_to_not_be_null`` per not-null column (default:
    the required columns); ``expect_column_values_to_match_regex`` (numbers)
    for numeric columns stored as text; ``expect_column_values_to_be_unique``
    (case id); ``expect_column_values_to_be_in_set`` (labels, declared
    categorical values, image rows/cols); ``expect_column_values_to_be_between``
    (age, pixel spacing); ``expect_column_values_to_not_be_in_set`` (patients
    in the training manifest). Expectations on a missing column are not run:
    the table-level column check fails instead, listing the missing columns. The manifest is never
    modified; derived columns are added to a copy.
    """
    cfg = _config(config)
    manifest = getattr(cohort, "manifest", None)
    if not isinstance(manifest, pd.DataFrame):
        raise TypeError(f"'cohort' must have a pandas DataFrame 'manifest'; got {type(manifest).__name__}")
    root = Path(getattr(cohort, "root", "."))
    meta = getattr(cohort, "meta", {}) or {}
    gx, batch_definition, version = _context()

    frame = _normalised(manifest)
    present = set(map(str, frame.columns))
    derived = _derive_from_headers(
        frame, root,
        need_dims=cfg.image_size is not None and not {"image_rows", "image_cols"} <= present,
        need_spacing=cfg.pixel_spacing_mm is not None
        and not {"pixel_spacing_row", "pixel_spacing_col"} <= present)
    present = set(map(str, frame.columns))
    id_col = cfg.case_id_column if cfg.case_id_column in present else None

    plan: list[tuple[Any, str | None, str]] = []  # (expectation, column, description)
    E = gx.expectations

    required = list(dict.fromkeys(cfg.required_columns))
    needed = list(required)  # columns the gate needs; one table-level expectation checks them all
    not_null = cfg.not_null if cfg.not_null is not None else required
    for col in not_null:
        if col in present:
            plan.append((E.ExpectColumnValuesToNotBeNull(column=col), col, f"column {col!r} has no empty values"))

    numeric = [cfg.label_column]
    if cfg.age_range is not None:
        numeric.append(cfg.age_column)
    if cfg.pixel_spacing_mm is not None:
        numeric += ["pixel_spacing_row", "pixel_spacing_col"]
    if cfg.image_size is not None:
        numeric += ["image_rows", "image_cols"]
    for col in numeric:
        if col in present and frame[col].dtype == object:
            plan.append((E.ExpectColumnValuesToMatchRegex(column=col, regex=_NUMBER_RE), col,
                         f"column {col!r} holds numbers"))
            frame[col] = pd.to_numeric(frame[col].astype(str).str.strip().replace("", np.nan), errors="coerce")

    if cfg.case_id_column in present:
        plan.append((E.ExpectColumnValuesToBeUnique(column=cfg.case_id_column), cfg.case_id_column,
                     f"case ids ({cfg.case_id_column!r}) are unique"))
    if cfg.label_column in present:
        plan.append((E.ExpectColumnValuesToBeInSet(column=cfg.label_column, value_set=list(cfg.label_values)),
                     cfg.label_column, f"labels are in {list(cfg.label_values)}"))
    for col, values in cfg.allowed_values.items():
        if col in present:
            plan.append((E.ExpectColumnValuesToBeInSet(column=col, value_set=list(values)), col,
                         f"column {col!r} takes only {list(values)}"))
        else:
            needed.append(col)
    if cfg.age_range is not None:
        col = cfg.age_column
        if col in present:
            plan.append((E.ExpectColumnValuesToBeBetween(column=col, min_value=cfg.age_range.min,
                                                         max_value=cfg.age_range.max), col,
                         f"age in [{cfg.age_range.min:g}, {cfg.age_range.max:g}]"))
        else:
            needed.append(col)
    if cfg.image_size is not None:
        for col, size in (("image_rows", cfg.image_size.rows), ("image_cols", cfg.image_size.cols)):
            if col in present:
                plan.append((E.ExpectColumnValuesToNotBeNull(column=col), col, f"{col} is known"))
                plan.append((E.ExpectColumnValuesToBeInSet(column=col, value_set=[size]), col,
                             f"{col} == {size}"))
            else:
                needed.append(col)
    if cfg.pixel_spacing_mm is not None:
        lo, hi = cfg.pixel_spacing_mm.min, cfg.pixel_spacing_mm.max
        for col in ("pixel_spacing_row", "pixel_spacing_col"):
            if col in present:
                plan.append((E.ExpectColumnValuesToNotBeNull(column=col), col, f"{col} is known"))
                plan.append((E.ExpectColumnValuesToBeBetween(column=col, min_value=lo, max_value=hi), col,
                             f"{col} in [{lo:g}, {hi:g}] mm"))
            else:
                needed.append(col)
    train = training_manifest if training_manifest is not None else cfg.training_manifest
    if train is not None:
        if isinstance(train, str) and not Path(train).is_absolute() and not Path(train).exists():
            train = root / train
        patients, where = _training_patients(train, cfg.patient_column)
        if cfg.patient_column in present:
            frame[cfg.patient_column] = frame[cfg.patient_column].astype(str)
            plan.append((E.ExpectColumnValuesToNotBeInSet(column=cfg.patient_column, value_set=sorted(patients)),
                         cfg.patient_column, f"no patient also in the training data ({where})"))
        else:
            needed.append(cfg.patient_column)

    needed = list(dict.fromkeys(needed))
    plan.insert(0, (E.ExpectTableColumnsToMatchSet(column_set=needed, exact_match=False), None,
                    f"the manifest has the columns {needed}"))
    missing = [c for c in needed if c not in present]

    # GX treats equal expectations as one; keep the first of each.
    unique_plan, seen = [], set()
    for exp, col, desc in plan:
        key = (type(exp).__name__, repr(sorted(exp.configuration.kwargs.items())))
        if key not in seen:
            seen.add(key)
            unique_plan.append((exp, col, desc))
    plan = unique_plan

    suite_name = f"medval-data-quality:{meta.get('id', root.name)}"
    suite = gx.ExpectationSuite(name=suite_name)
    for i, (exp, _col, _desc) in enumerate(plan):
        exp.meta = {"medval_index": i}
        suite.add_expectation(exp)
    result_format: dict[str, Any] = {"result_format": "COMPLETE"}
    if id_col is not None:
        result_format["unexpected_index_column_names"] = [id_col]
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    validation = batch.validate(suite, result_format=result_format)

    by_index: dict[int, Any] = {}
    for r in validation.results:
        by_index[int((r.expectation_config.meta or {}).get("medval_index", -1))] = r
    outcomes = []
    for i, (exp, col, desc) in enumerate(plan):
        r = by_index.get(i)
        if r is None:  # pragma: no cover - GX returns one result per expectation
            outcomes.append(ExpectationOutcome(exp.expectation_type, col, False, 0, (), (), desc,
                                               "no result returned"))
            continue
        res = dict(r.result or {})
        error = None
        info = r.exception_info or {}
        if isinstance(info, dict):
            msgs = [v.get("exception_message") for v in info.values() if isinstance(v, dict)]
            msgs += [info.get("exception_message")] if info.get("raised_exception") else []
            msgs = [m for m in msgs if m]
            error = "; ".join(dict.fromkeys(msgs)) or None
        examples = tuple(_plain(v) for v in (res.get("partial_unexpected_list") or [])[:N_EXAMPLES])
        count = int(res.get("unexpected_count") or 0)
        if r.expectation_config.type == "expect_table_columns_to_match_set" and not r.success:
            examples, count = tuple(missing), len(missing)
        ids = tuple(str(_plain(d.get(id_col))) for d in (res.get("unexpected_index_list") or [])[:N_EXAMPLES]
                    if isinstance(d, dict) and id_col) if id_col else ()
        outcomes.append(ExpectationOutcome(
            expectation=r.expectation_config.type,
            column=col,
            success=bool(r.success),
            unexpected_count=count,
            unexpected_examples=examples,
            unexpected_case_ids=ids,
            description=desc,
            error=error,
        ))
    return QualityResult(
        success=all(o.success for o in outcomes),
        suite=suite_name,
        results=tuple(outcomes),
        n_rows=int(len(frame)),
        derived_columns=tuple(derived),
        engine=f"great_expectations {version}",
    )


def raise_if_failed(result: QualityResult, cohort_path: str | Path) -> None:
    """Raise :class:`DataQualityError` listing each failed expectation with example values.

    Examples of the message::

        medval-demo/cohorts/demo-test: failed its data-quality gate (2 of 14 expectations):
          - expect_column_values_to_be_in_set(label): labels are in [0, 1]: 1 unexpected value(s), e.g. [2] (case ids: C0007)
    """
    if result.success:
        return
    failed = result.failed
    lines = [f"{cohort_path}: failed its data-quality gate ({len(failed)} of {len(result.results)} expectations):"]
    for o in failed:
        line = f"  - {o.expectation}({o.column or ''}): {o.description}"
        if o.expectation == "expect_table_columns_to_match_set" and o.unexpected_examples:
            line = f"  - {o.expectation}: missing from the manifest: {list(o.unexpected_examples)}"
        elif o.error:
            line += f": could not be evaluated ({o.error})"
        elif o.unexpected_count:
            line += f": {o.unexpected_count} unexpected value(s), e.g. {list(o.unexpected_examples)}"
            if o.unexpected_case_ids:
                line += f" (case ids: {', '.join(o.unexpected_case_ids)})"
        lines.append(line)
    raise DataQualityError("\n".join(lines))

"""evidently 0.7 data-drift report, run beside medval's own drift statistics.

evidently is the open-source tool many ops teams already read; medval runs its
``DataDriftPreset`` on the same frames so that its per-column drift scores can
be shown next to medval's (which add multiplicity control, effect sizes and
excluded-value counts). The HTML is written atomically and its sha256 recorded.

Differences to keep in mind when reading the two side by side (evidently
0.7.23, ``evidently.legacy.calculations.stattests``):

- evidently chooses the test per column from the row count when no method is
  forced (reference <= 1000 rows: KS / chi-square / z; > 1000 rows: normed
  Wasserstein / Jensen–Shannon). The method actually used is recorded per column.
- evidently drops missing values before testing; medval counts them
  (``n_missing_reference`` / ``n_missing_current`` here).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from validation.errors import InputError
from validation.hashing import sha256_file

os.environ.setdefault("DO_NOT_TRACK", "1")  # evidently's telemetry switch (evidently/telemetry.py)

__all__ = ["EvidentlyColumn", "EvidentlyOutcome", "evidently_drift_report"]

# evidently method names (as they appear in the snapshot) that are p-values:
# drift when value < threshold. The others are distances: drift when value >= threshold.
_P_VALUE_METHODS = {"K-S p_value", "chi-square p_value", "Z-test p_value", "ks", "chisquare", "z"}


@dataclass(frozen=True, slots=True)
class EvidentlyColumn:
    """evidently's drift result for one column.

    Attributes
    ----------
    column : str
    method : str
        The stattest evidently used (its display name when auto-selected).
    threshold : float
    value : float
        The drift score (a p-value or a distance, see ``value_is_p_value``).
    value_is_p_value : bool
    drifted : bool
        evidently's own decision (its test status FAIL = drift detected).
    n_missing_reference, n_missing_current : int
        Missing values evidently dropped without reporting them.
    """

    column: str
    method: str
    threshold: float
    value: float
    value_is_p_value: bool
    drifted: bool
    n_missing_reference: int
    n_missing_current: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EvidentlyOutcome:
    """Outcome of one evidently ``DataDriftPreset`` run.

    Attributes
    ----------
    columns : tuple of EvidentlyColumn
    n_drifted : int
    share_drifted : float
    drift_share : float
        evidently's dataset-drift threshold on the share of drifted columns.
    dataset_drift : bool
        ``share_drifted >= drift_share`` (evidently's DriftedColumnsCount test).
    html_path : str
    html_sha256 : str
    evidently_version : str
    method_requested : str or None
        The method forced for all columns, or None (evidently's automatic choice).
    """

    columns: tuple[EvidentlyColumn, ...]
    n_drifted: int
    share_drifted: float
    drift_share: float
    dataset_drift: bool
    html_path: str
    html_sha256: str
    evidently_version: str
    method_requested: str | None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["columns"] = [c.to_dict() for c in self.columns]
        return d

    def __getitem__(self, column: str) -> EvidentlyColumn:
        for c in self.columns:
            if c.column == column:
                return c
        raise KeyError(column)


def run_evidently_snapshot(reference: pd.DataFrame, current: pd.DataFrame, *, numeric: Sequence[str],
                           categorical: Sequence[str], method: str | None = None, drift_share: float = 0.5):
    """Run evidently's ``Report([DataDriftPreset(...)])`` and return the snapshot (no files written)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    cols = list(numeric) + list(categorical)
    dd = DataDefinition(numerical_columns=list(numeric), categorical_columns=list(categorical))
    report = Report([DataDriftPreset(columns=cols, method=method, drift_share=drift_share)], include_tests=True)
    return report.run(Dataset.from_pandas(current[cols], data_definition=dd),
                      Dataset.from_pandas(reference[cols], data_definition=dd))


def evidently_drift_report(reference: pd.DataFrame, current: pd.DataFrame, out_html: Path, *,
                           numeric: Sequence[str], categorical: Sequence[str], method: str | None = None,
                           drift_share: float = 0.5) -> EvidentlyOutcome:
    """Run evidently 0.7's ``DataDriftPreset`` and write its HTML report.

    Parameters
    ----------
    reference, current : pandas.DataFrame
        The same frames given to :func:`monitoring.drift.drift_table`.
    out_html : path
        Where to write evidently's HTML (atomically: ``.tmp`` then rename).
    numeric, categorical : sequence of str
        Column roles, passed to evidently's ``DataDefinition``.
    method : str, optional
        Force one stattest for every column (evidently names: ``"ks"``,
        ``"psi"``, ``"wasserstein"``, ``"jensenshannon"``, ``"chisquare"``, ...).
        None lets evidently choose per column (recorded in the outcome).
    drift_share : float, default 0.5
        evidently's dataset-drift threshold.

    Returns
    -------
    EvidentlyOutcome
        Per-column values and decisions as evidently reports them.

    Raises
    ------
    InputError
        If a frame is empty or a column is missing.
    """
    import evidently

    for name, df in (("reference", reference), ("current", current)):
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"'{name}' must be a pandas DataFrame; got {type(df).__name__}")
        if len(df) == 0:
            raise InputError(f"'{name}' window is empty (0 rows)")
        for col in list(numeric) + list(categorical):
            if col not in df.columns:
                raise InputError(f"'{name}': column {col!r} not found; columns are {list(df.columns)}")
    if not list(numeric) + list(categorical):
        raise ValueError("evidently_drift_report needs at least one column in 'numeric' or 'categorical'")
    snap = run_evidently_snapshot(reference, current, numeric=numeric, categorical=categorical,
                                  method=method, drift_share=drift_share)
    d = snap.dict()
    status = {}
    for t in d.get("tests", []):
        params = t.get("metric_config", {}).get("params", {})
        if params.get("type", "").endswith("ValueDrift"):
            status[params["column"]] = t["status"]
    columns = []
    for m in d["metrics"]:
        cfg = m["config"]
        if not cfg.get("type", "").endswith("ValueDrift"):
            continue
        col = cfg["column"]
        meth = str(cfg.get("method"))
        is_p = meth in _P_VALUE_METHODS
        value = float(m["value"])
        thr = float(cfg["threshold"])
        drifted = status[col] == "FAIL" if col in status else (value < thr if is_p else value >= thr)
        columns.append(EvidentlyColumn(
            column=col, method=meth, threshold=thr, value=value, value_is_p_value=is_p, drifted=bool(drifted),
            n_missing_reference=int(reference[col].isna().sum()), n_missing_current=int(current[col].isna().sum())))
    n_drifted = sum(c.drifted for c in columns)
    share = n_drifted / len(columns) if columns else 0.0
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_html.with_suffix(".tmp")
    snap.save_html(str(tmp))
    os.replace(tmp, out_html)
    return EvidentlyOutcome(columns=tuple(columns), n_drifted=int(n_drifted), share_drifted=float(share),
                            drift_share=float(drift_share), dataset_drift=bool(share >= drift_share),
                            html_path=str(out_html), html_sha256=sha256_file(out_html),
                            evidently_version=evidently.__version__, method_requested=method)

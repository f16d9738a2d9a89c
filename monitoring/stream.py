"""A demo production stream: weeks of in-silico traffic scored by the locked classifier.

Traffic comes from the in-silico generator (``validation.synth.iter_cases`` in
production-stream mode: patients spaced evenly through each week). Every batch
is scored by the locked model through :func:`monitoring.logs.capture_batch`
and appended to ``OUT/logs/`` as one parquet part file. Ground truth arrives
later, as it does in a clinic: ``OUT/labels.csv`` holds the labels of the
weeks whose follow-up is complete (all but the last ``label_delay_weeks``).

With ``shift_from_week=k`` one site (default Lakeside Clinic) installs a new
scanner from week ``k``: from then on an extra ``shift_fraction`` of that
week's patients are acquired on :data:`validation.synth.SHIFT_VENDOR`
(heavier electronic and quantum noise). With ``shift_from_week=None`` the
stream is the control: the same traffic, no new scanner.

Determinism: the base traffic of week ``w`` is patients ``w*n .. (w+1)*n-1``
of ``iter_cases(seed=seed)``; the new scanner's patients come from
``seed + 1``. Same arguments, same bytes (part files are named by week and
batch, and parquet writing is deterministic). Seeds are >= 5000, disjoint from
training (< 1000) and test cohorts (2000..4999).
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.logs import capture_batch
from validation.errors import InputError
from validation.fileio import atomic_write_json, atomic_write_text

DEFAULT_START = "2026-01-05T00:00:00"  # a Monday, so weeks are ISO calendar weeks
DEFAULT_SHIFT_SITE = "Lakeside Clinic"
MIN_SEED = 5000


@dataclass(frozen=True, slots=True)
class StreamResult:
    """What :func:`generate_stream` wrote."""

    out_dir: Path
    logs_dir: Path
    labels_path: Path
    weeks: int
    shift_from_week: int | None
    n_cases: int
    n_labelled: int
    per_week: tuple[dict, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "out_dir": str(self.out_dir),
            "logs_dir": str(self.logs_dir),
            "labels_path": str(self.labels_path),
            "weeks": self.weeks,
            "shift_from_week": self.shift_from_week,
            "n_cases": self.n_cases,
            "n_labelled": self.n_labelled,
            "per_week": list(self.per_week),
        }


def _batches(cases: list, size: int):
    for i in range(0, len(cases), size):
        yield cases[i : i + size]


def generate_stream(
    out_dir: str | Path,
    *,
    model: Any,
    weeks: int = 8,
    patients_per_week: int = 150,
    shift_from_week: int | None = 5,
    shift_site: str = DEFAULT_SHIFT_SITE,
    shift_fraction: float = 0.5,
    seed: int = 5000,
    start: str | _dt.datetime = DEFAULT_START,
    label_delay_weeks: int = 2,
    batch_size: int = 64,
) -> StreamResult:
    """Write a demo production stream (parquet logs + delayed labels).

    Parameters
    ----------
    out_dir : path
        Output folder; must not already hold logs.
    model : LockedModel or path
        The locked classifier (a directory is loaded with ``load_locked_model``).
    weeks : int
        Number of calendar weeks.
    patients_per_week : int
        Base traffic (each patient has 1-3 images; ~1.7 on average).
    shift_from_week : int or None
        1-based week from which ``shift_site`` adds the new vendor; None for the control stream.
    shift_site : str
        The site that installs the new scanner.
    shift_fraction : float
        Extra patients on the new scanner, as a fraction of ``patients_per_week``.
    seed : int
        >= 5000.
    start : ISO datetime or datetime
        Start of week 1 (UTC).
    label_delay_weeks : int
        Labels of the last this many weeks have not arrived yet.
    batch_size : int
        Images per log part file.

    Returns
    -------
    StreamResult
    """
    from validation.synth import SHIFT_VENDOR, SITES, iter_cases

    if not isinstance(seed, int) or seed < MIN_SEED:
        raise InputError(f"generate_stream: 'seed' must be an integer >= {MIN_SEED}; got {seed!r}")
    if not isinstance(weeks, int) or weeks < 1:
        raise InputError(f"generate_stream: 'weeks' must be a positive integer; got {weeks!r}")
    if shift_from_week is not None and not (isinstance(shift_from_week, int) and 1 <= shift_from_week <= weeks):
        raise InputError(f"generate_stream: 'shift_from_week' must be in 1..{weeks} or None; got {shift_from_week!r}")
    if shift_site not in SITES:
        raise InputError(f"generate_stream: 'shift_site' must be one of {sorted(SITES)}; got {shift_site!r}")
    if not 0 < shift_fraction <= 2:
        raise InputError(f"generate_stream: 'shift_fraction' must be in (0, 2]; got {shift_fraction!r}")
    if isinstance(model, (str, Path)):
        from validation.models import load_locked_model

        model = load_locked_model(model)
    out_dir = Path(out_dir)
    logs_dir = out_dir / "logs"
    if logs_dir.exists() and any(logs_dir.glob("*.parquet")):
        raise InputError(f"{logs_dir}: already holds log parts; choose an empty output folder")
    logs_dir.mkdir(parents=True, exist_ok=True)
    t0 = _dt.datetime.fromisoformat(start) if isinstance(start, str) else start
    week = _dt.timedelta(days=7)
    n_extra = int(round(shift_fraction * patients_per_week))

    labels: list[dict] = []
    per_week: list[dict] = []
    n_cases = 0
    for w in range(weeks):
        week_start = t0 + w * week
        chunks = [
            iter_cases(
                patients_per_week,
                seed=seed,
                start_time=week_start,
                interval=week / patients_per_week,
                start_patient=w * patients_per_week,
                id_prefix="S",
            )
        ]
        shifted = shift_from_week is not None and w + 1 >= shift_from_week
        if shifted:
            chunks.append(
                iter_cases(
                    n_extra,
                    seed=seed + 1,
                    sites=[shift_site],
                    vendor_override=SHIFT_VENDOR,
                    start_time=week_start + week / (2 * n_extra),
                    interval=week / n_extra,
                    start_patient=(w + 1 - shift_from_week) * n_extra,
                    id_prefix="Z",
                )
            )
        cases = [c for chunk in chunks for c in chunk]
        cases.sort(key=lambda c: (c.record["acquired_at"], c.record["case_id"]))
        for k, batch in enumerate(_batches(cases, batch_size)):
            capture_batch(
                np.stack([c.image for c in batch]),
                model=model,
                case_ids=[c.record["case_id"] for c in batch],
                sites=[c.record["site"] for c in batch],
                manufacturers=[c.record["manufacturer"] for c in batch],
                timestamps=[c.record["acquired_at"] for c in batch],
                spacing=np.array([c.record["pixel_spacing_mm"] for c in batch], dtype=np.float64),
                out_dir=logs_dir,
                part_name=f"part-w{w + 1:02d}-{k:03d}.parquet",
            )
        labelled = w < weeks - label_delay_weeks
        if labelled:
            labels.extend({"case_id": c.record["case_id"], "label": int(c.record["label"])} for c in cases)
        n_new = sum(c.record["manufacturer"] == SHIFT_VENDOR for c in cases)
        per_week.append(
            {
                "week": w + 1,
                "start": week_start.isoformat(),
                "n_cases": len(cases),
                "n_new_vendor": int(n_new),
                "labels_arrived": labelled,
            }
        )
        n_cases += len(cases)

    labels_path = out_dir / "labels.csv"
    frame = pd.DataFrame(labels, columns=["case_id", "label"])
    atomic_write_text(labels_path, frame.to_csv(index=False))
    result = StreamResult(
        out_dir=out_dir,
        logs_dir=logs_dir,
        labels_path=labels_path,
        weeks=weeks,
        shift_from_week=shift_from_week,
        n_cases=n_cases,
        n_labelled=len(labels),
        per_week=tuple(per_week),
    )
    meta = {
        "generator": "validation.synth.iter_cases",
        "seed": seed,
        "shift_seed": seed + 1 if shift_from_week is not None else None,
        "patients_per_week": patients_per_week,
        "shift_site": shift_site if shift_from_week is not None else None,
        "shift_vendor": SHIFT_VENDOR if shift_from_week is not None else None,
        "shift_fraction": shift_fraction if shift_from_week is not None else None,
        "label_delay_weeks": label_delay_weeks,
        "model": {"id": model.lock.model_id, "version": str(model.lock.version), "sha256": model.lock.sha256},
        **{k: v for k, v in result.to_dict().items() if k not in ("out_dir", "logs_dir", "labels_path")},
    }
    atomic_write_json(out_dir / "stream.json", json.loads(json.dumps(meta, default=str)))
    return result

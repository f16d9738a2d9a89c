"""The reference profile: what the validated model saw, as production monitoring will measure it.

Built once from a validation run directory and stored beside it:

``RUN_DIR/reference_profile.parquet``
    one row per validated case: case_id, site, manufacturer, label, score,
    decision, ``emb_*`` and the image statistics of
    :func:`monitoring.logs.image_statistics` (the very function production
    logging uses, so both sides measure features identically).
``RUN_DIR/reference_profile.json``
    model id/version/sha256, cohort id/version/digest, operating threshold,
    the validated lower confidence bounds of sensitivity and specificity from
    ``results.json``, what CBPE is calibrated on, and the profile's own sha256.

The cohort images are streamed batch by batch (``validation.cohorts.iter_batches``)
through the locked model: the embeddings come from that pass, and the scores
are checked against the run's ``predictions.parquet`` so the profile provably
describes the run it claims to.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.logs import IMAGE_STAT_COLUMNS, image_statistics
from validation.errors import InputError, IntegrityError
from validation.fileio import atomic_write_bytes, atomic_write_json
from validation.hashing import sha256_bytes, sha256_file

PROFILE_FILE = "reference_profile.parquet"
PROFILE_META = "reference_profile.json"
PROFILE_SCHEMA_VERSION = "1.0"
# Scores recomputed while profiling must equal the run's to this tolerance
# (the pinned onnxruntime session is deterministic; float32 outputs).
SCORE_TOLERANCE = 1e-5


@dataclass(frozen=True, slots=True)
class ReferenceProfile:
    """A validated model's reference data for monitoring.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per reference case (see module docstring).
    meta : dict
        Identity and validated bounds (see module docstring).
    path : Path or None
        Where the parquet lives.
    """

    frame: pd.DataFrame = field(repr=False)
    meta: dict
    path: Path | None = None

    @property
    def model_sha256(self) -> str:
        return self.meta["model"]["sha256"]

    @property
    def threshold(self) -> float:
        return float(self.meta["threshold"])

    @property
    def embedding_columns(self) -> list[str]:
        return sorted((c for c in self.frame.columns if c.startswith("emb_")), key=lambda c: int(c[4:]))

    def to_dict(self) -> dict:
        return dict(self.meta)


def _read_results(run_dir: Path) -> dict:
    path = run_dir / "results.json"
    if not path.is_file():
        raise InputError(f"{path}: no results.json; is {run_dir} a validation run directory?")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: unreadable results.json ({exc})") from None


def validated_bounds(results: dict) -> dict[str, dict[str, float]]:
    """Validated sensitivity/specificity (estimate, lower, upper, confidence level) from results.json."""
    out: dict[str, dict[str, float]] = {}
    outcome = results.get("outcome", {})
    metrics = outcome.get("metrics", {}) or {}
    for name in ("sensitivity", "specificity"):
        m = metrics.get(name)
        if isinstance(m, dict) and "lower" in m:
            out[name] = {k: m[k] for k in ("estimate", "lower", "upper", "confidence_level") if k in m}
    for crit in outcome.get("criteria", []) or []:
        name = crit.get("metric")
        if name in ("sensitivity", "specificity") and name not in out and "lower" in crit:
            out[name] = {k: crit[k] for k in ("estimate", "lower", "upper", "confidence_level") if k in crit}
    return out


def design_effect(values: np.ndarray, clusters: np.ndarray) -> float:
    """Kish design effect of a mean under clustering (several images per patient), floored at 1.

    DE = Var_cluster(mean) / Var_iid(mean), with the cluster-robust (ratio
    estimator) variance ``n_c / (n_c - 1) * sum_c (Y_c - m_c ybar)^2 / N^2``
    and the i.i.d. variance ``s^2 / N`` [1]_. Monitoring windows of production
    traffic are clustered the same way, so per-window standard errors are
    inflated by sqrt(DE).

    References
    ----------
    .. [1] Kish L. Survey Sampling. Wiley, 1965, section 8.2.
    """
    y = np.asarray(values, dtype=np.float64)
    n = y.size
    if n < 2:
        return 1.0
    codes, inv = np.unique(np.asarray(clusters), return_inverse=True)
    n_c = codes.size
    if n_c < 2:
        return 1.0
    ybar = y.mean()
    tot = np.bincount(inv, weights=y - ybar, minlength=n_c)
    v_cluster = n_c / (n_c - 1) * float((tot**2).sum()) / n**2
    v_iid = float(y.var(ddof=1)) / n
    if v_iid <= 0:
        return 1.0
    return max(1.0, v_cluster / v_iid)


def _find_dir(candidates: list[Any], run_dir: Path) -> Path | None:
    for c in candidates:
        if not c:
            continue
        p = Path(c)
        for base in ([p] if p.is_absolute() else [run_dir / p, Path.cwd() / p, run_dir.parent / p]):
            if base.is_dir():
                return base
    return None


def build_reference_profile(
    run_dir: str | Path,
    *,
    cohort_dir: str | Path | None = None,
    model_dir: str | Path | None = None,
    batch_size: int = 64,
) -> ReferenceProfile:
    """Build and store the reference profile of a validation run.

    Parameters
    ----------
    run_dir : path
        A validation run directory (``results.json`` + ``predictions.parquet``).
    cohort_dir, model_dir : path, optional
        The validated cohort and locked model directories; by default looked up
        from ``results.json`` (``inputs.cohort.path`` / ``inputs.model.path``
        when recorded) or ``reference_models/<id>/<version>``.
    batch_size : int

    Returns
    -------
    ReferenceProfile

    Raises
    ------
    InputError
        Missing run files or directories.
    IntegrityError
        The cohort digest or model sha256 differ from the run's, or a
        recomputed score differs from the run's predictions.
    """
    from validation.cohorts import iter_batches, load_cohort
    from validation.models import load_locked_model

    run_dir = Path(run_dir)
    results = _read_results(run_dir)
    inputs = results.get("inputs", {})
    m_in, c_in = inputs.get("model", {}), inputs.get("cohort", {})
    if model_dir is None:
        model_dir = _find_dir(
            [m_in.get("path"), Path("reference_models") / str(m_in.get("id")) / str(m_in.get("version"))], run_dir
        )
    if cohort_dir is None:
        cohort_dir = _find_dir([c_in.get("path"), (results.get("context", {}) or {}).get("cohort_path")], run_dir)
    if model_dir is None:
        raise InputError(f"{run_dir / 'results.json'}: cannot locate the model directory of {m_in.get('id')!r}; pass model_dir")
    if cohort_dir is None:
        raise InputError(f"{run_dir / 'results.json'}: cannot locate cohort {c_in.get('id')!r}; pass cohort_dir")

    model = load_locked_model(model_dir)
    if m_in.get("sha256") and model.lock.sha256 != m_in["sha256"]:
        raise IntegrityError(
            f"{model_dir}: model sha256 {model.lock.sha256[:12]} differs from the run's {m_in['sha256'][:12]}"
        )
    cohort = load_cohort(cohort_dir, verify=True)
    if c_in.get("digest") and cohort.digest != c_in["digest"]:
        raise IntegrityError(f"{cohort_dir}: cohort digest {cohort.digest[:12]} differs from the run's {c_in['digest'][:12]}")

    pred_path = run_dir / "predictions.parquet"
    if not pred_path.is_file():
        raise InputError(f"{pred_path}: missing; the profile checks its scores against the run's")
    preds = pd.read_parquet(pred_path)
    for col in ("case_id", "score"):
        if col not in preds.columns:
            raise InputError(f"{pred_path}: missing column '{col}'")
    preds = preds.assign(case_id=preds["case_id"].astype(str)).set_index("case_id")

    threshold = float(m_in.get("threshold", model.lock.operating_threshold))
    parts: list[pd.DataFrame] = []
    for batch in iter_batches(cohort, batch_size=batch_size):
        out = model.predict(batch.images)
        stats = image_statistics(batch.images, spacing=batch.spacing)
        emb = np.asarray(out["embedding"], dtype=np.float32)
        part = pd.DataFrame({"case_id": [str(c) for c in batch.case_ids], "score": np.asarray(out["score"], dtype=np.float64)})
        for k in range(emb.shape[1]):
            part[f"emb_{k}"] = emb[:, k]
        parts.append(pd.concat([part, stats], axis=1))
    frame = pd.concat(parts, ignore_index=True)

    manifest = cohort.manifest.assign(case_id=cohort.manifest["case_id"].astype(str)).set_index("case_id")
    frame["site"] = manifest.loc[frame["case_id"], "site"].astype(str).to_numpy()
    frame["manufacturer"] = manifest.loc[frame["case_id"], "manufacturer"].astype(str).to_numpy()
    frame["label"] = manifest.loc[frame["case_id"], "label"].astype("Int8").to_numpy()
    if "patient_id" in manifest.columns:
        frame["patient_id"] = manifest.loc[frame["case_id"], "patient_id"].astype(str).to_numpy()
    else:
        frame["patient_id"] = frame["case_id"]

    missing = ~frame["case_id"].isin(preds.index)
    if missing.any():
        raise IntegrityError(f"{pred_path}: case {frame['case_id'][missing].iloc[0]!r} of the cohort has no prediction")
    run_scores = preds.loc[frame["case_id"], "score"].to_numpy(dtype=np.float64)
    scored = np.isfinite(run_scores)
    diff = np.abs(run_scores[scored] - frame["score"].to_numpy()[scored])
    if diff.size and diff.max() > SCORE_TOLERANCE:
        i = int(np.flatnonzero(scored)[int(diff.argmax())])
        raise IntegrityError(
            f"{pred_path}: case {frame['case_id'].iloc[i]!r}: score {run_scores[i]!r} in the run, "
            f"{frame['score'].iloc[i]!r} recomputed — the profile would not describe this run"
        )
    frame["decision"] = (frame["score"] >= threshold).astype(np.int8)
    emb_cols = [c for c in frame.columns if c.startswith("emb_")]
    frame = frame[["case_id", "patient_id", "site", "manufacturer", "label", "score", "decision", *emb_cols, *IMAGE_STAT_COLUMNS]]
    frame = frame.sort_values("case_id", kind="mergesort").reset_index(drop=True)

    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, engine="pyarrow")
    data = buf.getvalue()
    atomic_write_bytes(run_dir / PROFILE_FILE, data)
    meta = {
        "schema_version": PROFILE_SCHEMA_VERSION,
        "run_id": (results.get("context", {}) or {}).get("run_id"),
        "results_digest": results.get("results_digest"),
        "model": {"id": model.lock.model_id, "version": str(model.lock.version), "sha256": model.lock.sha256},
        "cohort": {"id": cohort.meta.get("id"), "version": cohort.meta.get("version"), "digest": cohort.digest},
        "threshold": threshold,
        "n_cases": int(len(frame)),
        "n_labelled": int(frame["label"].notna().sum()),
        "prevalence": float(frame["label"].dropna().astype(float).mean()) if frame["label"].notna().any() else None,
        "positive_rate": float(frame["decision"].mean()),
        "mean_score": float(frame["score"].mean()),
        "embedding_dim": len(emb_cols),
        "n_patients": int(frame["patient_id"].nunique()),
        "design_effect": {
            "score": design_effect(frame["score"].to_numpy(dtype=np.float64), frame["patient_id"].to_numpy()),
            "decision": design_effect(frame["decision"].to_numpy(dtype=np.float64), frame["patient_id"].to_numpy()),
        },
        "validated": validated_bounds(results),
        "cbpe_calibration": {
            "data": "reference_profile.parquet columns score, label",
            "n": int(frame["label"].notna().sum()),
        },
        "profile_sha256": sha256_bytes(data),
    }
    atomic_write_json(run_dir / PROFILE_META, meta)
    return ReferenceProfile(frame=frame, meta=meta, path=run_dir / PROFILE_FILE)


def load_reference_profile(run_dir: str | Path) -> ReferenceProfile:
    """Load a stored profile, verifying the parquet against the sha256 in its json meta."""
    run_dir = Path(run_dir)
    meta_path, data_path = run_dir / PROFILE_META, run_dir / PROFILE_FILE
    if not meta_path.is_file() or not data_path.is_file():
        raise InputError(
            f"{run_dir}: no reference profile ({PROFILE_FILE} + {PROFILE_META}); build it with build_reference_profile"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{meta_path}: unreadable ({exc})") from None
    sha = sha256_file(data_path)
    if sha != meta.get("profile_sha256"):
        raise IntegrityError(f"{data_path}: sha256 {sha[:12]} differs from {meta_path.name}'s {str(meta.get('profile_sha256'))[:12]}")
    frame = pd.read_parquet(data_path)
    return ReferenceProfile(frame=frame, meta=meta, path=data_path)


def load_or_build_profile(run_dir: str | Path, **kwargs: Any) -> ReferenceProfile:
    """The stored profile if present, else build it (see :func:`build_reference_profile`)."""
    run_dir = Path(run_dir)
    if (run_dir / PROFILE_META).is_file() and (run_dir / PROFILE_FILE).is_file():
        return load_reference_profile(run_dir)
    return build_reference_profile(run_dir, **kwargs)

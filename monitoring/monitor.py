"""One monitoring run: a plan, production logs and a reference profile → windows, alerts, a site.

:func:`run_monitoring` groups the validated logs into windows (calendar weeks
or fixed counts, as the plan says) and, for every window with enough records,
compares it with the reference profile of the validated run:

* drift of each watched feature (``monitoring.drift.drift_table``: per-feature
  tests, multiplicity control across features, a minimum effect size),
* drift of the model's embedding (MMD permutation test) and of its output
  (score distribution, positive rate),
* label-free performance: CBPE sensitivity/specificity with bands, against the
  validated lower confidence bounds (or the plan's limits),
* realised performance with Wilson intervals where delayed labels arrived,

then runs the plan's control charts (CUSUM / EWMA designed for an in-control
ARL) over the per-window statistics, standardised by their reference value
and per-window standard error. Every alarm becomes an :class:`Alert`
(window, family, feature, statistic, value, threshold, severity), is recorded
in the audit store (``monitor.alert``; the run itself as ``monitor.run`` with
the plan hash), and is written to ``monitoring.json`` — deterministic: the
same plan, logs and reference give the same bytes (no wall-clock time in it;
the audit store holds the time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.logs import LabelJoin, ProductionLogs, join_labels, read_labels, read_logs
from monitoring.plan import SEVERITY_RANK, LoadedPlan, load_plan
from monitoring.profile import ReferenceProfile, load_or_build_profile
from validation.errors import InputError
from validation.fileio import atomic_write_json
from validation.hashing import digest, sha256_file, to_jsonable

MONITORING_SCHEMA_VERSION = "1.0"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alarm: which window, which family and feature, the value against its threshold."""

    window: str
    window_index: int
    family: str  # feature_drift | embedding_drift | output_drift | estimated_performance | realised_performance | chart
    # value/threshold: the (adjusted) p-value and the level for tests; the estimate and the
    # limit for performance; the window's value and the reference value for charts.
    feature: str
    statistic: str
    value: float
    threshold: float
    severity: str
    message: str

    def to_dict(self) -> dict:
        return {
            "window": self.window,
            "window_index": self.window_index,
            "family": self.family,
            "feature": self.feature,
            "statistic": self.statistic,
            "value": self.value,
            "threshold": self.threshold,
            "severity": self.severity,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class WindowResult:
    """Everything computed for one window (``details`` holds the to_dict() of each test)."""

    index: int
    id: str
    start: str
    end: str
    n: int
    n_labelled: int
    tested: bool
    stats: dict
    details: dict = field(repr=False)
    alerts: tuple[Alert, ...] = ()

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "id": self.id,
            "start": self.start,
            "end": self.end,
            "n": self.n,
            "n_labelled": self.n_labelled,
            "tested": self.tested,
            "stats": self.stats,
            **self.details,
            "alerts": [a.to_dict() for a in self.alerts],
        }


@dataclass(frozen=True, slots=True)
class MonitoringResult:
    """The outcome of :func:`run_monitoring`.

    ``data`` is exactly what ``monitoring.json`` holds; ``digest`` the sha256 of
    its canonical JSON without the digest field.
    """

    data: dict = field(repr=False)
    windows: tuple[WindowResult, ...]
    alerts: tuple[Alert, ...]
    out_dir: Path | None
    digest: str

    @property
    def n_alerts(self) -> int:
        return len(self.alerts)

    @property
    def exit_code(self) -> int:
        """0 no alert, 1 alerts raised (the CLI's convention)."""
        return 1 if self.alerts else 0

    def to_dict(self) -> dict:
        return dict(self.data)


# --------------------------------------------------------------------------- windows


def assign_windows(frame: pd.DataFrame, *, kind: str, size: int) -> pd.DataFrame:
    """Window id, index, start and end per record.

    ``calendar_week``: ISO weeks starting Monday 00:00 UTC, grouped ``size`` at a
    time from the first record's week; ids like ``2026-W05`` (the first week of
    the window). ``count``: consecutive blocks of ``size`` records in time order;
    ids ``n0001``...
    """
    ts = frame["timestamp"]
    if kind == "calendar_week":
        monday = ts.dt.normalize() - pd.to_timedelta(ts.dt.weekday, unit="D")
        first = monday.min()
        idx = ((monday - first).dt.days // (7 * size)).astype(int)
        start = first + pd.to_timedelta(idx * 7 * size, unit="D")
        end = start + pd.Timedelta(days=7 * size)
        iso = start.dt.isocalendar()
        ids = iso["year"].astype(str) + "-W" + iso["week"].astype(int).map("{:02d}".format)
    elif kind == "count":
        idx = pd.Series(np.arange(len(frame)) // size, index=frame.index)
        ids = idx.map(lambda i: f"n{i + 1:04d}")
        start = ts.groupby(idx).transform("min")
        end = ts.groupby(idx).transform("max")
    else:  # pragma: no cover - the plan schema forbids it
        raise InputError(f"window kind must be 'calendar_week' or 'count'; got {kind!r}")
    return pd.DataFrame({"window_index": idx, "window": ids, "window_start": start, "window_end": end}, index=frame.index)


# --------------------------------------------------------------------------- adapters to the statistics


def _fit_cbpe(profile: ReferenceProfile):
    from monitoring.performance import CBPE

    ref = profile.frame.dropna(subset=["label"])
    return CBPE.fit(ref["score"].to_numpy(dtype=np.float64), ref["label"].to_numpy(dtype=np.int64))


# The CBPE band the alarms use: cases resampled (the window's case mix is a sample of its
# population, as the validation cohort's was), then labels drawn from the calibrated
# probabilities, widened by the reference cohort's design effect for several images per
# patient (the logs carry no patient id to resample clusters). Its variance is the binomial
# variance of the realised metric, so the window band and the Wilson bound it is compared
# with describe the same kind of uncertainty. A labels-only band (these very cases) is far
# too narrow for a population-level comparison: per-vendor weekly estimates alarmed on
# in-control traffic with it.
CBPE_BAND = "case_bootstrap"
CBPE_RESAMPLES = 1000


def _estimate(cbpe, scores: np.ndarray, threshold: float, seed: int, design_effect: float = 1.0) -> dict:
    """CBPE estimate as {metric: {estimate, lower, upper}} plus the raw to_dict()."""
    est = cbpe.estimate(scores, threshold=threshold, seed=seed, band=CBPE_BAND, n_resamples=CBPE_RESAMPLES,
                        design_effect=max(1.0, float(design_effect)))
    d = est.to_dict()
    out = {}
    for m in ("sensitivity", "specificity"):
        v = d.get(m)
        if isinstance(v, dict):
            out[m] = {"estimate": v.get("estimate"), "lower": v.get("lower"), "upper": v.get("upper")}
    return {"metrics": out, "raw": d}


def _realised(y: np.ndarray, scores: np.ndarray, threshold: float, confidence_level: float) -> dict:
    from monitoring.performance import realised_performance

    r = realised_performance(y, scores, threshold=threshold, confidence_level=confidence_level)
    d = r.to_dict()
    out = {}
    for m in ("sensitivity", "specificity"):
        v = d.get(m)
        if isinstance(v, dict):
            out[m] = {k: v.get(k) for k in ("estimate", "lower", "upper", "n")}
    return {"metrics": out, "raw": d}


def _run_chart(spec, values: np.ndarray, sigmas: np.ndarray, target: float) -> dict:
    """Standardise per-window values by their reference target and standard error, then chart them.

    The plotted value of window i is z_i = (x_i - target) / se_i, so one design
    (target 0, sigma 1) serves windows of different sizes; missing values (NaN)
    are excluded by the chart and counted.
    """
    from monitoring import charts

    z = (values - target) / sigmas
    if spec.kind == "cusum":
        design = charts.design_cusum(target=0.0, sigma=1.0, shift=spec.shift, arl0=spec.arl0, side=spec.side)
    else:
        kwargs = {} if spec.lam is None else {"lam": spec.lam}
        design = charts.design_ewma(target=0.0, sigma=1.0, arl0=spec.arl0, side=spec.side, **kwargs)
    result = charts.run_chart(design, z)
    d = result.to_dict()
    if spec.kind == "cusum":
        series = {k: v for k, v in (("C+ (upward)", d["upper"]), ("C- (downward)", d["lower"])) if v is not None}
        limits = {"decision interval H": d["limit_upper"] if d["limit_upper"] is not None else d["limit_lower"]}
    else:
        series = {"EWMA": d["upper"]}
        limits = {"LCL": d["limit_lower"], "UCL": d["limit_upper"]}
    return {
        "design": design.to_dict(),
        "result": d,
        "alarm_indices": [int(i) for i in result.alarms],
        "first_alarm": result.first_alarm,
        "z": [None if not np.isfinite(v) else float(v) for v in z],
        "series": series,
        "limits": limits,
    }


# --------------------------------------------------------------------------- the run


def _as_plan(plan: LoadedPlan | str | Path) -> LoadedPlan:
    return plan if isinstance(plan, LoadedPlan) else load_plan(plan)


def _as_logs(logs: Any, reference_sha: str) -> ProductionLogs:
    if isinstance(logs, ProductionLogs):
        return logs
    return read_logs(logs, reference_sha256=reference_sha, on_invalid="exclude")


def _f(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def run_monitoring(
    plan: LoadedPlan | str | Path,
    logs: ProductionLogs | str | Path | list,
    reference_run_dir: str | Path,
    out_dir: str | Path | None,
    *,
    labels: pd.DataFrame | str | Path | None = None,
    audit_db: str | Path | None | bool = None,
    build_site: bool = True,
    evidently: bool | None = None,
    profile_kwargs: dict | None = None,
) -> MonitoringResult:
    """Monitor production logs against a validated reference, as a plan prescribes.

    Parameters
    ----------
    plan : LoadedPlan or path
        The monitoring plan (YAML).
    logs : ProductionLogs, path, glob, directory or list
        Production log part files (read with :func:`monitoring.logs.read_logs`,
        excluding invalid rows with a counted reason) or already-read logs.
    reference_run_dir : path
        The validation run directory; its reference profile is loaded (or built).
    out_dir : path or None
        Where ``monitoring.json``, the evidently reports and the static site go;
        None computes only.
    labels : DataFrame or path, optional
        Delayed ground truth (``case_id``, ``label``) for realised performance.
    audit_db : path, None or False
        Audit store for ``monitor.alert`` / ``monitor.run`` entries; None: the
        default store (``$MEDVAL_AUDIT_DB`` or ``./.medval/audit.sqlite``);
        False: do not record (exploration only).
    build_site : bool
        Also write the static dashboard into ``out_dir``.
    evidently : bool, optional
        Override the plan's ``evidently`` switch.

    Returns
    -------
    MonitoringResult
    """
    loaded = _as_plan(plan)
    p = loaded.plan
    ref_dir = Path(reference_run_dir)
    profile = load_or_build_profile(ref_dir, **(profile_kwargs or {}))
    if profile.meta["model"]["id"] != p.model.id or str(profile.meta["model"]["version"]) != p.model.version:
        raise InputError(
            f"{loaded.path or 'plan'}: field 'model': the plan monitors {p.model.id} v{p.model.version}; "
            f"the reference run validated {profile.meta['model']['id']} v{profile.meta['model']['version']}"
        )
    plogs = _as_logs(logs, profile.model_sha256)
    frame = plogs.frame
    label_info: dict | None = None
    if labels is not None:
        lab = read_labels(labels) if isinstance(labels, (str, Path)) else labels
        joined: LabelJoin = join_labels(plogs, lab)
        frame = joined.frame
        label_info = joined.to_dict()
    elif "label" not in frame.columns:
        frame = frame.assign(label=pd.array([pd.NA] * len(frame), dtype="Int8"))
    if frame.empty:
        raise InputError(f"{plogs.files[0] if plogs.files else 'logs'}: no valid log records to monitor")

    ref = profile.frame
    numeric = list(p.watch.numeric)
    categorical = list(p.watch.categorical)
    for col in numeric + categorical:
        for name, df in (("reference profile", ref), ("logs", frame)):
            if col not in df.columns:
                where = loaded.path or "plan"
                raise InputError(f"{where}: field 'watch': column {col!r} is not in the {name}")
    threshold = profile.threshold
    emb_cols = profile.embedding_columns
    win = assign_windows(frame, kind=p.window.kind, size=p.window.size)
    frame = pd.concat([frame, win], axis=1)

    cbpe = _fit_cbpe(profile)
    de_band = float((profile.meta.get("design_effect") or {}).get("decision", 1.0) or 1.0)
    ref_est = _estimate(cbpe, ref["score"].to_numpy(dtype=np.float64), threshold, p.seed, de_band)
    validated = profile.meta.get("validated", {})
    limits: dict[str, float] = {}
    for m in ("sensitivity", "specificity"):
        if p.performance.estimated.limit_source == "plan":
            if m in p.performance.estimated.limits:
                limits[m] = float(p.performance.estimated.limits[m])
        elif m in validated and validated[m].get("lower") is not None:
            limits[m] = float(validated[m]["lower"])
        elif m in p.performance.estimated.limits:
            limits[m] = float(p.performance.estimated.limits[m])

    # Per-subgroup limits: a subgroup is held to its own reference level where the validation
    # cohort had it (the lower end of its CBPE band on the reference cohort, the same
    # case-resampling band as the windows': a lower confidence bound of the subgroup's
    # validated level), never to the overall bound alone, since a
    # vendor that validated below the overall bound would otherwise alarm every week. A level
    # the reference never saw (a new vendor) is held to the overall validated limit.
    ref_sub_lower: dict[tuple[str, str, str], float] = {}
    for col in p.performance.estimated.by or []:
        if col not in ref.columns:
            continue
        for level, g in ref.groupby(col):
            if len(g) < p.performance.estimated.min_subgroup_n:
                continue
            e = _estimate(cbpe, g["score"].to_numpy(dtype=np.float64), threshold, p.seed, de_band)
            for m in limits:
                v = e["metrics"].get(m)
                if v and v.get("lower") is not None:
                    ref_sub_lower[(col, str(level), m)] = float(v["lower"])

    do_evidently = p.evidently if evidently is None else evidently
    out_dir = Path(out_dir) if out_dir is not None else None
    windows: list[WindowResult] = []
    ref_scores = ref["score"].to_numpy(dtype=np.float64)
    ref_emb = ref[emb_cols].to_numpy(dtype=np.float64)
    ref_pos_rate = float(profile.meta.get("positive_rate", (ref_scores >= threshold).mean()))
    ref_mean_score = float(ref_scores.mean())
    ref_sd_score = float(ref_scores.std(ddof=1))
    emb_rng_ref = np.random.default_rng(p.seed)
    if len(ref_emb) > p.drift.embedding.max_reference:
        ref_emb = ref_emb[np.sort(emb_rng_ref.choice(len(ref_emb), p.drift.embedding.max_reference, replace=False))]

    for w_idx, cur in frame.groupby("window_index", sort=True):
        w_idx = int(w_idx)
        w_id = str(cur["window"].iloc[0])
        n = len(cur)
        y = cur["label"]
        n_lab = int(y.notna().sum())
        scores = cur["score"].to_numpy(dtype=np.float64)
        stats = {
            "positive_rate": float((scores >= threshold).mean()),
            "mean_score": float(scores.mean()),
            "manufacturers": {k: int(v) for k, v in sorted(cur["manufacturer"].value_counts().items())},
            "sites": {k: int(v) for k, v in sorted(cur["site"].value_counts().items())},
        }
        details: dict[str, Any] = {}
        alerts: list[Alert] = []
        tested = n >= p.window.min_n

        def alert(family: str, feature: str, statistic: str, value: Any, thr: Any, severity: str, message: str) -> None:
            alerts.append(
                Alert(w_id, w_idx, family, feature, statistic, float(value), float(thr), severity, message)
            )

        est = _estimate(cbpe, scores, threshold, p.seed + w_idx, de_band)
        details["estimated_performance"] = est
        stats["estimated_sensitivity"] = _f(est["metrics"].get("sensitivity", {}).get("estimate"))
        stats["estimated_specificity"] = _f(est["metrics"].get("specificity", {}).get("estimate"))
        ep = p.performance.estimated
        if ep.by:
            sub: list[dict] = []
            for col in ep.by:
                if col not in cur.columns:
                    raise InputError(f"{loaded.path or 'plan'}: field 'performance.estimated.by': no column {col!r} in the logs")
                for level, g in sorted(cur.groupby(col), key=lambda kv: str(kv[0])):
                    if len(g) < ep.min_subgroup_n:
                        sub.append({"column": col, "level": str(level), "n": len(g), "estimated": None})
                        continue
                    e = _estimate(cbpe, g["score"].to_numpy(dtype=np.float64), threshold, p.seed + w_idx, de_band)
                    sub.append({"column": col, "level": str(level), "n": len(g), "estimated": e["metrics"]})
            details["estimated_by_subgroup"] = sub
        if tested:
            fd = p.drift.features
            report = drift_table_for(ref, cur, numeric, categorical, fd)
            details["feature_drift"] = report.to_dict()
            for r in report.results:
                if r.drifted:
                    alert(
                        "feature_drift",
                        r.feature,
                        f"{r.method} ({r.effect_size_name} {r.effect_size:.3g}, p_adj {r.p_adjusted:.2g})"
                        if r.p_adjusted is not None
                        else r.method,
                        r.p_adjusted if r.p_adjusted is not None else r.statistic,
                        r.threshold,
                        fd.severity,
                        f"{r.feature} drifted ({r.method}: {r.effect_size_name} = {r.effect_size:.3f}"
                        + (f", adjusted p = {r.p_adjusted:.2g}" if r.p_adjusted is not None else "")
                        + ")",
                    )
            if p.watch.embedding:
                from monitoring.drift import embedding_drift

                ed = p.drift.embedding
                er = embedding_drift(
                    ref_emb,
                    cur[emb_cols].to_numpy(dtype=np.float64),
                    method=ed.method,
                    n_permutations=ed.n_permutations,
                    significance_level=ed.alpha,
                    seed=p.seed + w_idx,
                    feature="embedding",
                )
                details["embedding_drift"] = er.to_dict()
                if er.drifted and er.effect_size >= ed.min_effect:
                    alert(
                        "embedding_drift",
                        "embedding",
                        f"{er.method} ({er.effect_size_name} {er.effect_size:.3g})",
                        er.p_value,
                        ed.alpha,
                        ed.severity,
                        f"embedding drifted ({er.method}: {er.effect_size_name} = {er.effect_size:.3f}, "
                        f"p = {er.p_value:.3g})",
                    )
            if p.watch.output:
                from monitoring.drift import output_drift

                od = p.drift.output
                outs = output_drift(
                    ref_scores, scores, threshold=threshold, significance_level=od.alpha, min_effect=od.min_effect
                )
                details["output_drift"] = [o.to_dict() for o in outs]
                for o in outs:
                    if o.drifted:
                        alert(
                            "output_drift",
                            o.feature,
                            f"{o.method} ({o.effect_size_name} {o.effect_size:.3g})",
                            o.p_adjusted if o.p_adjusted is not None else o.statistic,
                            o.threshold,
                            od.severity,
                            f"model output {o.feature} drifted ({o.method}: {o.effect_size_name} = {o.effect_size:.3f})",
                        )
            for m, lim in limits.items():
                v = est["metrics"].get(m)
                if not v or v.get("upper") is None:
                    continue
                if float(v["upper"]) < lim - ep.margin:
                    alert(
                        "estimated_performance",
                        f"estimated_{m}",
                        "cbpe",
                        v["estimate"],
                        lim - ep.margin,
                        ep.severity,
                        f"estimated {m} {float(v['estimate']):.3f} (band {float(v['lower']):.3f}-{float(v['upper']):.3f}) "
                        f"is below the validated limit {lim - ep.margin:.3f}",
                    )
            for sg in details.get("estimated_by_subgroup", []):
                for m, overall in limits.items():
                    lim = min(overall, ref_sub_lower.get((sg["column"], sg["level"], m), overall))
                    sg.setdefault("limits", {})[m] = lim - ep.margin
                    v = (sg["estimated"] or {}).get(m)
                    if v and v.get("upper") is not None and float(v["upper"]) < lim - ep.margin:
                        alert(
                            "estimated_performance",
                            f"estimated_{m}[{sg['column']}={sg['level']}]",
                            "cbpe",
                            v["estimate"],
                            lim - ep.margin,
                            ep.severity,
                            f"estimated {m} for {sg['column']} = {sg['level']} (n = {sg['n']}): "
                            f"{float(v['estimate']):.3f} (band {float(v['lower']):.3f}-{float(v['upper']):.3f}) "
                            f"is below its limit {lim - ep.margin:.3f} (the lower of the validated bound and "
                            f"this subgroup's reference band)",
                        )
        rp = p.performance.realised
        if n_lab >= rp.min_labelled:
            lab_mask = y.notna().to_numpy()
            yy = y[lab_mask].to_numpy(dtype=np.int64)
            if yy.min() != yy.max():
                real = _realised(yy, scores[lab_mask], threshold, rp.confidence_level)
                details["realised_performance"] = real
                stats["realised_sensitivity"] = _f(real["metrics"].get("sensitivity", {}).get("estimate"))
                stats["realised_specificity"] = _f(real["metrics"].get("specificity", {}).get("estimate"))
                for m, lim in limits.items():
                    v = real["metrics"].get(m)
                    if v and v.get("upper") is not None and float(v["upper"]) < lim:
                        alert(
                            "realised_performance",
                            f"realised_{m}",
                            "wilson",
                            v["estimate"],
                            lim,
                            rp.severity,
                            f"realised {m} {float(v['estimate']):.3f} (CI upper {float(v['upper']):.3f}) "
                            f"is below the validated limit {lim:.3f}",
                        )
        if tested and do_evidently and out_dir is not None:
            details["evidently_report"] = _evidently(ref, cur, out_dir, w_id, numeric, categorical)
        windows.append(
            WindowResult(
                index=w_idx,
                id=w_id,
                start=pd.Timestamp(cur["window_start"].iloc[0]).isoformat(),
                end=pd.Timestamp(cur["window_end"].iloc[0]).isoformat(),
                n=n,
                n_labelled=n_lab,
                tested=tested,
                stats=stats,
                details=details,
                alerts=tuple(alerts),
            )
        )

    # ------------------------------------------------------------------ control charts
    charts_out: list[dict] = []
    tested_w = [w for w in windows if w.tested]
    ref_sens = ref_est["metrics"].get("sensitivity", {}).get("estimate")
    ref_spec = ref_est["metrics"].get("specificity", {}).get("estimate")
    chart_alerts: dict[int, list[Alert]] = {}
    n_ref = float(len(ref))
    de = {"score": 1.0, "decision": 1.0, **(profile.meta.get("design_effect") or {})}
    for spec in p.charts:
        ns = np.array([w.n for w in tested_w], dtype=np.float64)
        if spec.statistic == "positive_rate":
            target = ref_pos_rate
            values = np.array([w.stats["positive_rate"] for w in tested_w])
            sig = _positive_rate_se(target, ns, n_ref, de["decision"])
        elif spec.statistic == "mean_score":
            target = ref_mean_score
            values = np.array([w.stats["mean_score"] for w in tested_w])
            sig = ref_sd_score * np.sqrt(de["score"] * (1 / ns + 1 / n_ref))
        else:
            m = spec.statistic.removeprefix("estimated_")
            target = float(ref_sens if m == "sensitivity" else ref_spec)
            values = np.array([np.nan if w.stats[spec.statistic] is None else w.stats[spec.statistic] for w in tested_w])
            sig = _estimate_se(profile, tested_w, m, target)
        if not len(tested_w):
            continue
        ch = _run_chart(spec, values, sig, target)
        ch.update(
            {
                "name": spec.name,
                "statistic": spec.statistic,
                "kind": spec.kind,
                "target": target,
                "windows": [w.id for w in tested_w],
                "values": values.tolist(),
                "sigma": sig.tolist(),
                "spec": spec.model_dump(),
            }
        )
        charts_out.append(ch)
        for i in ch["alarm_indices"]:
            w = tested_w[i]
            chart_alerts.setdefault(w.index, []).append(
                Alert(
                    w.id,
                    w.index,
                    "chart",
                    spec.statistic,
                    f"{spec.kind} {spec.name}",
                    float(values[i]),
                    float(target),
                    spec.severity,
                    f"{spec.kind.upper()} chart '{spec.name}' signalled: {spec.statistic} = {values[i]:.3f} "
                    f"(reference {target:.3f}, in-control ARL {spec.arl0:g} windows)",
                )
            )
    if chart_alerts:
        windows = [
            WindowResult(**{**{f: getattr(w, f) for f in WindowResult.__dataclass_fields__},
                            "alerts": w.alerts + tuple(chart_alerts.get(w.index, ()))})
            for w in windows
        ]
    all_alerts = tuple(a for w in windows for a in w.alerts)

    # ------------------------------------------------------------------ result
    files = [(Path(f).name, sha256_file(f)) for f in plogs.files]
    data = {
        "schema_version": MONITORING_SCHEMA_VERSION,
        "plan": {**loaded.to_dict(), "window": p.window.model_dump(), "text": loaded.text},
        "reference": {
            "run_dir": ref_dir.name,
            "run_id": profile.meta.get("run_id"),
            "model": profile.meta["model"],
            "cohort": profile.meta.get("cohort"),
            "threshold": threshold,
            "n_cases": profile.meta.get("n_cases"),
            "profile_sha256": profile.meta.get("profile_sha256"),
            "validated": validated,
            "limits": limits,
            "positive_rate": ref_pos_rate,
            "mean_score": ref_mean_score,
            "estimated_performance": ref_est["metrics"],
        },
        "logs": {**plogs.to_dict(), "files": [{"file": n, "sha256": s} for n, s in files], "labels": label_info},
        "period": {
            "start": pd.Timestamp(frame["timestamp"].min()).isoformat(),
            "end": pd.Timestamp(frame["timestamp"].max()).isoformat(),
            "n_windows": len(windows),
        },
        "windows": [w.to_dict() for w in windows],
        "charts": charts_out,
        "alerts": [a.to_dict() for a in all_alerts],
        "summary": _summary(windows, all_alerts),
    }
    data = to_jsonable(data)
    result_digest = digest(data)
    data["monitoring_digest"] = result_digest
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out_dir / "monitoring.json", data)
    if audit_db is not False:
        _record_audit(audit_db, data, all_alerts)
    if out_dir is not None and build_site:
        from monitoring.dashboard.site import build_site as _build

        _build(data, out_dir)
    return MonitoringResult(
        data=data, windows=tuple(windows), alerts=all_alerts, out_dir=out_dir, digest=result_digest
    )


def drift_table_for(ref: pd.DataFrame, cur: pd.DataFrame, numeric: list, categorical: list, fd) -> Any:
    from monitoring.drift import drift_table

    return drift_table(
        ref,
        cur,
        numeric=numeric,
        categorical=categorical,
        method=fd.method,
        categorical_method=fd.categorical_method,
        multiplicity=fd.multiplicity,
        significance_level=fd.alpha,
        min_effect=fd.min_effect,
    )


def _positive_rate_se(target: float, ns: np.ndarray, n_ref: float, design_effect: float) -> np.ndarray:
    """Standard error of a window's positive rate minus the reference rate, under no shift:
    binomial at the reference rate for the window and the reference (in quadrature), inflated
    by the reference cohort's design effect of the decision."""
    ns = np.asarray(ns, dtype=np.float64)
    return np.sqrt(design_effect * target * (1 - target) * (1 / ns + 1 / n_ref))


def _estimate_se(profile: ReferenceProfile, windows: list[WindowResult], metric: str, target: float) -> np.ndarray:
    """Standard error of a window's CBPE estimate minus the reference value, under no shift.

    The estimate is a ratio over the window's expected positives (sensitivity)
    or negatives (specificity); its binomial standard error at the reference
    value t is sqrt(t (1 - t) / n_class), with n_class = n x reference
    prevalence (or 1 - prevalence). The reference value has its own sampling
    error (same formula with the reference's n), added in quadrature; both are
    inflated by the reference's design effect for clustering (several images
    per patient).
    """
    prev = profile.meta.get("prevalence") or 0.5
    share = prev if metric == "sensitivity" else 1 - prev
    ns = np.maximum(np.array([w.n for w in windows], dtype=np.float64) * share, 1.0)
    n_ref = max(len(profile.frame) * share, 1.0)
    de = float((profile.meta.get("design_effect") or {}).get("decision", 1.0))
    return np.sqrt(de * target * (1 - target) * (1 / ns + 1 / n_ref))


def _evidently(ref: pd.DataFrame, cur: pd.DataFrame, out_dir: Path, w_id: str, numeric: list, categorical: list) -> str | None:
    from monitoring.evidently_report import evidently_drift_report

    rel = f"evidently/{w_id}.html"
    evidently_drift_report(
        ref[numeric + categorical].reset_index(drop=True),
        cur[numeric + categorical].reset_index(drop=True),
        out_dir / rel,
        numeric=numeric,
        categorical=categorical,
    )
    return rel


def _summary(windows: list[WindowResult], alerts: tuple[Alert, ...]) -> dict:
    by_family: dict[str, int] = {}
    for a in alerts:
        by_family[a.family] = by_family.get(a.family, 0) + 1
    first = next((w for w in windows if w.alerts), None)
    worst = max((SEVERITY_RANK[a.severity] for a in alerts), default=-1)
    return {
        "n_windows": len(windows),
        "n_tested": sum(w.tested for w in windows),
        "n_alerts": len(alerts),
        "alerts_by_family": dict(sorted(by_family.items())),
        "first_alarm_window": None if first is None else first.id,
        "first_alarm_index": None if first is None else first.index,
        "windows_with_alerts": [w.id for w in windows if w.alerts],
        "worst_severity": None if worst < 0 else [k for k, v in SEVERITY_RANK.items() if v == worst][0],
        "drifted_features": sorted({a.feature for a in alerts if a.family.endswith("drift")}),
    }


def _record_audit(audit_db: Any, data: dict, alerts: tuple[Alert, ...]) -> None:
    from validation.audit import AuditStore

    store = AuditStore(None if audit_db is None else audit_db)
    for a in alerts:
        store.append(
            "monitor.alert",
            {
                **a.to_dict(),
                "plan_id": data["plan"]["id"],
                "plan_sha256": data["plan"]["sha256"],
                "model_sha256": data["reference"]["model"]["sha256"],
                "monitoring_digest": data["monitoring_digest"],
            },
        )
    store.append(
        "monitor.run",
        {
            "plan_id": data["plan"]["id"],
            "plan_version": data["plan"]["version"],
            "plan_sha256": data["plan"]["sha256"],
            "model_sha256": data["reference"]["model"]["sha256"],
            "reference_run_id": data["reference"]["run_id"],
            "profile_sha256": data["reference"]["profile_sha256"],
            "logs_digest": digest(data["logs"]["files"]),
            "period": data["period"],
            "n_alerts": len(alerts),
            "monitoring_digest": data["monitoring_digest"],
        },
    )

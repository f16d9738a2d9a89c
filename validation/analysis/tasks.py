"""The statistics a protocol pre-specifies, computed for each task.

:func:`analyse` dispatches on the protocol's task and returns the run's
``outcome`` (see docs/contracts.md) and the case listing written beside it.
Every number comes from :mod:`validation.stats`; this module only decides
which cases and which function each endpoint uses, as the protocol says.

Conventions, stated once:

* **Indeterminate results** (a case the model gave no finite score) are never
  dropped (FDA 2007 diagnostic-test guidance). Under
  ``count-as-positive-and-negative`` sensitivity and specificity are reported
  both ways in ``outcome["indeterminate"]`` and the acceptance criteria are
  judged on the worse of the two (an indeterminate positive counts as missed,
  an indeterminate negative as a false alarm); ``count-as-incorrect`` does the
  latter directly.
* **Clustering.** With a ``cluster_column`` the bootstrap resamples whole
  clusters (patients) and ``obuchowski`` intervals use the ratio estimator;
  Wilson and DeLong intervals treat images as independent, and the report says so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from validation import stats
from validation.stats import detection as _det
from validation.stats import segmentation as _seg
from validation.stats import subgroups as _sub
from validation.acceptance import judge, parse_criterion
from validation.analysis.common import baseline_characteristics, case_flow
from validation.analysis.gallery import select_errors, write_gallery
from validation.errors import InputError
from validation.protocols import subgroup_levels

PROPORTION_METHODS = ("wilson", "clopper-pearson", "agresti-coull", "jeffreys")
LISTING_COLUMNS = ("case_id", "site", "manufacturer", "sex", "age", "label", "score")


# --------------------------------------------------------------------------- helpers
def _threshold(protocol, model) -> float:
    t = protocol.operating_point.threshold
    return float(model.lock.operating_threshold if t == "locked" else t)


def _interval_dict(result, **extra) -> dict:
    d = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    keep = {k: d[k] for k in ("estimate", "lower", "upper", "confidence_level", "method", "n") if k in d}
    if "n" not in keep:
        keep["n"] = int(d.get("n_pos", 0) or 0) + int(d.get("n_neg", 0) or 0)
    for k in ("n_pos", "n_neg", "variance", "standard_error", "n_clusters", "design_effect", "n_resamples"):
        if k in d and d[k] is not None:
            keep[k] = d[k]
    keep.update(extra)
    return keep


def _boot_method(ci_method: str) -> str:
    return "bca" if ci_method.endswith("bca") else "percentile"


def _clusters_for(ci_method: str, clusters):
    return clusters if ci_method.startswith("cluster-") else None


def _describe_boot(result, ci_method: str, B: int, cluster_column: str | None) -> dict:
    d = _interval_dict(result)
    unit = f", clustered by {cluster_column}" if ci_method.startswith("cluster-") and cluster_column else ""
    d["method"] = f"{_boot_method(ci_method)} bootstrap ({B} resamples{unit})"
    return d


def _proportion(successes: np.ndarray, clusters, ci_method: str, cl: float, B: int, seed: int,
                cluster_column: str | None) -> dict:
    """Interval for the mean of 0/1 outcomes by the protocol's CI method."""
    successes = np.asarray(successes, dtype=float)
    x, n = int(successes.sum()), int(successes.size)
    if ci_method in PROPORTION_METHODS:
        return _interval_dict(stats.proportion_ci(x, n, method=ci_method, confidence_level=cl))
    if ci_method == "obuchowski":
        per_x, per_n = stats.cluster_counts(successes, clusters)
        return _interval_dict(stats.clustered_proportion_ci(per_x, per_n, confidence_level=cl))
    if ci_method in ("bootstrap-percentile", "bootstrap-bca", "cluster-bootstrap-percentile",
                     "cluster-bootstrap-bca"):
        if n == 0:
            return {"estimate": math.nan, "lower": math.nan, "upper": math.nan, "confidence_level": cl,
                    "method": ci_method, "n": 0}
        res = stats.bootstrap(np.mean, successes, n_resamples=B, method=_boot_method(ci_method),
                              confidence_level=cl, clusters=_clusters_for(ci_method, clusters), seed=seed)
        return _describe_boot(res, ci_method, B, cluster_column)
    raise InputError(f"protocol: ci_method {ci_method!r} does not apply to a proportion")


# --------------------------------------------------------------------------- classification
def _decisions(scores: np.ndarray, threshold: float, fill: int) -> np.ndarray:
    finite = np.isfinite(scores)
    dec = np.full(scores.shape, fill, dtype=np.int8)
    dec[finite] = (scores[finite] >= threshold).astype(np.int8)
    return dec


def _confusion(y: np.ndarray, dec: np.ndarray) -> dict:
    return {"tp": int(((y == 1) & (dec == 1)).sum()), "fp": int(((y == 0) & (dec == 1)).sum()),
            "fn": int(((y == 1) & (dec == 0)).sum()), "tn": int(((y == 0) & (dec == 0)).sum())}


def _classification_metric(endpoint, ctx: dict) -> dict:
    m, ci = endpoint.metric, endpoint.ci_method
    y, s, clusters = ctx["y"], ctx["s"], ctx["clusters"]
    dec_sens, dec_spec = ctx["dec_for_sens"], ctx["dec_for_spec"]
    cl, B, seed, cc = ctx["cl"], ctx["B"], ctx["seed"], ctx["cluster_column"]
    pos, neg = y == 1, y == 0
    cpos = None if clusters is None else clusters[pos]
    cneg = None if clusters is None else clusters[neg]
    if m == "sensitivity":
        return _proportion(dec_sens[pos] == 1, cpos, ci, cl, B, seed, cc)
    if m == "specificity":
        return _proportion(dec_spec[neg] == 0, cneg, ci, cl, B, seed, cc)
    if m == "accuracy":
        correct = np.where(pos, dec_sens == 1, dec_spec == 0)
        return _proportion(correct, clusters, ci, cl, B, seed, cc)
    conf = _confusion(y, np.where(pos, dec_sens, dec_spec))
    prevalence = endpoint.parameters.get("prevalence")
    if m in ("ppv", "npv"):
        if ci == "mercaldo-logit":
            pv = stats.predictive_values_at_prevalence(conf["tp"], conf["fp"], conf["fn"], conf["tn"],
                                                        prevalence=float(prevalence if prevalence else
                                                                         pos.mean()), confidence_level=cl)
            iv = pv.ppv if m == "ppv" else pv.npv
            return _interval_dict(iv, method="mercaldo-logit", prevalence=float(pv.prevalence))
        if prevalence:
            raise InputError(f"protocol: endpoint {endpoint.id!r}: a 'prevalence' needs ci_method 'mercaldo-logit'")
        called = dec_sens == 1 if m == "ppv" else dec_spec == 0
        truth = pos if m == "ppv" else neg
        return _proportion(truth[called], None if clusters is None else clusters[called], ci, cl, B, seed, cc)
    if m in ("positive_likelihood_ratio", "negative_likelihood_ratio"):
        if ci != "simel":
            raise InputError(f"protocol: endpoint {endpoint.id!r}: likelihood ratios take ci_method 'simel'")
        lr = stats.likelihood_ratios(conf["tp"], conf["fp"], conf["fn"], conf["tn"], confidence_level=cl)
        return _interval_dict(lr.positive if m.startswith("positive") else lr.negative)
    if m == "balanced_accuracy":
        def bal(yy, dd):
            p, n_ = yy == 1, yy == 0
            return 0.5 * ((dd[p] == 1).mean() + (dd[n_] == 0).mean())
        d = np.where(pos, dec_sens, dec_spec)
        res = stats.bootstrap(bal, y, d, n_resamples=B, method=_boot_method(ci), confidence_level=cl,
                              clusters=_clusters_for(ci, clusters), strata=None if ci.startswith("cluster-") else y,
                              seed=seed, vectorized=False)
        return _describe_boot(res, ci, B, cc)
    if m == "auc":
        finite = np.isfinite(s)
        yf, sf = y[finite], s[finite]
        if ci == "delong":
            if clusters is not None and ctx["unit"] == "patient":
                return _interval_dict(stats.clustered_roc_auc(yf, sf, clusters[finite], confidence_level=cl))
            return _interval_dict(stats.roc_auc(yf, sf, confidence_level=cl))
        from validation.stats.roc import roc_auc as _auc

        res = stats.bootstrap(lambda yy, ss: _auc(yy, ss).estimate, yf, sf, n_resamples=B,
                              method=_boot_method(ci), confidence_level=cl,
                              clusters=_clusters_for(ci, None if clusters is None else clusters[finite]),
                              strata=None if ci.startswith("cluster-") else yf, seed=seed, vectorized=False)
        return _describe_boot(res, ci, B, cc)
    raise InputError(f"protocol: metric {m!r} is not a binary-classification metric")


def _subgroup_rows(protocol, cases: pd.DataFrame, outcome_for: dict[str, tuple[np.ndarray, np.ndarray]],
                   cl: float) -> list[dict]:
    """Pre-specified (and exploratory) subgroup analyses of proportions.

    ``outcome_for[metric] = (case mask, 0/1 outcome per case in the mask)``.
    """
    rows = []
    for sg in protocol.subgroups:
        levels_all = subgroup_levels(cases, sg)
        order = sorted(levels_all.unique(), key=str)
        if sg.derived is not None:
            order = [lv for lv in sg.derived.labels() if lv in set(order)] + \
                    (["missing"] if "missing" in set(order) else [])
        for metric in sg.metrics:
            if metric not in outcome_for:
                raise InputError(f"protocol: subgroup {sg.id!r}: metric {metric!r} has no per-case outcome "
                                 f"for task {protocol.task!r}")
            mask, outcomes = outcome_for[metric]
            goal = parse_criterion(sg.criterion).value if sg.criterion else None
            res = _sub.subgroup_analysis(outcomes.astype(int), levels_all[mask].to_numpy(), levels=order,
                                          method="wilson", confidence_level=cl, min_n=sg.min_n,
                                          multiplicity=sg.multiplicity, performance_goal=goal)
            d = res.to_dict()
            label = metric.replace("_", " ")
            rows.append({
                "id": f"{sg.id}:{metric}",
                "analysis": f"{label[0].upper()}{label[1:]} by {sg.id.replace('-', ' ')}",
                "column": sg.column or (sg.derived.source if sg.derived else sg.id),
                "prespecified": sg.role == "prespecified",
                "role": sg.role,
                "report_only": bool(sg.report_only or not sg.criterion),
                "criterion": sg.criterion,
                "metric": metric,
                **{k: v for k, v in d.items() if k not in ("strata",)},
                "strata": d["strata"],
            })
    return rows


def _gallery_loader(cohort, predictions=None, threshold: float = 0.5):
    from validation.imageio import read_image

    manifest = cohort.manifest.set_index("case_id")
    index = {cid: i for i, cid in enumerate(cohort.manifest["case_id"])}

    def load(case_id):
        row = manifest.loc[case_id]
        image, _ = read_image(cohort.root / row["image_path"])
        true = None
        mp = row.get("mask_path")
        if isinstance(mp, str) and mp:
            true, _ = read_image(cohort.root / mp)
        pred = None
        if predictions is not None and predictions.masks is not None:
            pred = np.asarray(predictions.masks[index[case_id]]) >= threshold
        return image, true, pred

    return load


def _listing(cases: pd.DataFrame, extra: dict[str, np.ndarray]) -> pd.DataFrame:
    cols = [c for c in LISTING_COLUMNS if c in cases.columns]
    out = cases[cols].copy()
    for k, v in extra.items():
        out[k] = v
    return out


def _criteria_and_verdict(protocol, values: dict[str, dict]) -> tuple[list[dict], str]:
    criteria = []
    order = sorted(protocol.endpoints, key=lambda e: 0 if e.role == "primary" else 1)
    for ep in order:
        row = judge(ep, values[ep.id]).to_dict()
        row["endpoint_id"] = ep.id
        row["description"] = ep.description
        criteria.append(row)
    judged = [c for c in criteria if c["passed"] is not None]
    verdict = "PASS" if judged and all(c["passed"] for c in judged) else "FAIL"
    return criteria, verdict


def analyse_classification(protocol, *, model, cohort, cases, predictions, out_dir: Path):
    cl, B, seed = protocol.confidence_level, protocol.bootstrap_resamples, protocol.seed
    threshold = _threshold(protocol, model)
    y = cases["label"].to_numpy(dtype=int)
    s = cases["score"].to_numpy(dtype=float)
    cc = protocol.cluster_column
    clusters = cases[cc].astype(str).to_numpy() if cc else None

    # Indeterminate cases: the worse reading for each of sensitivity and specificity.
    dec_as_pos, dec_as_neg = _decisions(s, threshold, 1), _decisions(s, threshold, 0)
    ctx = {"y": y, "s": s, "clusters": clusters, "cl": cl, "B": B, "seed": seed, "cluster_column": cc,
           "dec_for_sens": dec_as_neg, "dec_for_spec": dec_as_pos, "unit": protocol.unit_of_analysis}

    values = {ep.id: _classification_metric(ep, ctx) for ep in protocol.endpoints}
    criteria, verdict = _criteria_and_verdict(protocol, values)

    pos, neg = y == 1, y == 0
    conf = _confusion(y, np.where(pos, dec_as_neg, dec_as_pos))
    finite = np.isfinite(s)
    metrics = {
        "sensitivity": _interval_dict(stats.sensitivity(conf["tp"], conf["fn"], confidence_level=cl)),
        "specificity": _interval_dict(stats.specificity(conf["tn"], conf["fp"], confidence_level=cl)),
        "ppv": _interval_dict(stats.ppv(conf["tp"], conf["fp"], confidence_level=cl)),
        "npv": _interval_dict(stats.npv(conf["tn"], conf["fn"], confidence_level=cl)),
        "accuracy": _interval_dict(stats.accuracy(conf["tp"], conf["fp"], conf["fn"], conf["tn"],
                                                  confidence_level=cl)),
        "prevalence": _interval_dict(stats.proportion_ci(int(pos.sum()), int(y.size), confidence_level=cl)),
        "auc": _interval_dict(stats.roc_auc(y[finite], s[finite], confidence_level=cl)),
    }
    if cc:
        metrics["sensitivity_clustered"] = _interval_dict(stats.clustered_proportion_ci(
            *stats.cluster_counts((dec_as_neg[pos] == 1).astype(float), clusters[pos]), confidence_level=cl))
        metrics["specificity_clustered"] = _interval_dict(stats.clustered_proportion_ci(
            *stats.cluster_counts((dec_as_pos[neg] == 0).astype(float), clusters[neg]), confidence_level=cl))
        metrics["auc_clustered"] = _interval_dict(stats.clustered_roc_auc(y[finite], s[finite], clusters[finite],
                                                                          confidence_level=cl))
    for ep in protocol.endpoints:
        if ep.metric in ("ppv", "npv") and ep.parameters.get("prevalence"):
            metrics[f"{ep.metric}_at_prevalence"] = values[ep.id]
    lr = stats.likelihood_ratios(conf["tp"], conf["fp"], conf["fn"], conf["tn"], confidence_level=cl)
    metrics["positive_likelihood_ratio"] = _interval_dict(lr.positive)
    metrics["negative_likelihood_ratio"] = _interval_dict(lr.negative)

    n_indet = int((~finite).sum())
    indeterminate = {"n": n_indet, "convention": protocol.undefined_values.indeterminate}
    if n_indet:
        for name, dec in (("as_positive", dec_as_pos), ("as_negative", dec_as_neg)):
            c = _confusion(y, dec)
            indeterminate[name] = {
                "sensitivity": _interval_dict(stats.sensitivity(c["tp"], c["fn"], confidence_level=cl)),
                "specificity": _interval_dict(stats.specificity(c["tn"], c["fp"], confidence_level=cl))}

    roc = stats.roc_curve_band(y[finite], s[finite], confidence_level=cl, n_resamples=min(B, 1000), seed=seed)
    curves = {"roc": {**roc.to_dict(), "operating_point": {
        "threshold": threshold, "fpr": conf["fp"] / max(conf["fp"] + conf["tn"], 1),
        "tpr": conf["tp"] / max(conf["tp"] + conf["fn"], 1)}}}
    curves["calibration"] = _calibration_curve(y[finite], s[finite], cl)

    outcome_for = {"sensitivity": (pos, dec_as_neg[pos] == 1), "specificity": (neg, dec_as_pos[neg] == 0)}
    subgroups = _subgroup_rows(protocol, cases, outcome_for, cl)

    decision = np.where(pos, dec_as_neg, dec_as_pos)
    sel = select_errors(cases.assign(score=np.where(finite, s, np.where(pos, -np.inf, np.inf))),
                        threshold=threshold)
    gallery = write_gallery(sel, load_case=_gallery_loader(cohort), out_dir=out_dir)
    gallery.update({"n_false_negatives": conf["fn"], "n_false_positives": conf["fp"]})

    outcome = {
        "task": protocol.task,
        "verdict": verdict,
        "criteria": criteria,
        "flow": case_flow(cases),
        "confusion": {"threshold": threshold, **conf},
        "metrics": metrics,
        "indeterminate": indeterminate,
        "curves": curves,
        "subgroups": subgroups,
        "error_analysis": gallery,
        "baseline": baseline_characteristics(cases),
        "clustering": _clustering_note(protocol, cases),
    }
    result_col = np.select([pos & (decision == 1), neg & (decision == 1), pos & (decision == 0)],
                           ["TP", "FP", "FN"], "TN")
    listing = _listing(cases, {"decision": decision, "result": result_col})
    return outcome, listing


def _calibration_curve(y: np.ndarray, s: np.ndarray, cl: float) -> dict:
    """Reliability curve (10 equal-width bins, Wilson interval per bin), ECE, Brier, recalibration fit."""
    from validation.stats.calibration import calibration

    res = calibration(y, s, n_bins=10, binning="equal-width", confidence_level=cl)
    curve = res.curve
    out = {"n_bins": res.n_bins, "strategy": "uniform", "binning": res.binning, "n": curve.n.tolist(),
           "mean_predicted": curve.mean_predicted.tolist(), "observed": curve.observed.tolist(),
           "lower": curve.lower.tolist(), "upper": curve.upper.tolist(), "ece": float(res.ece),
           "brier": float(res.brier), "method": curve.method, "confidence_level": cl}
    if res.recalibration is not None:
        out["recalibration"] = res.recalibration.to_dict()
    return out


def _clustering_note(protocol, cases: pd.DataFrame) -> dict:
    cc = protocol.cluster_column
    if not cc or cc not in cases:
        return {"cluster_column": None, "text": "Cases analysed as independent (no cluster column)."}
    per = cases.groupby(cc).size()
    return {"cluster_column": cc, "n_clusters": int(per.size), "max_cases_per_cluster": int(per.max()),
            "multi_case_clusters": int((per > 1).sum()),
            "text": (f"{int((per > 1).sum())} of {int(per.size)} patients contribute more than one image. "
                     "Wilson and DeLong intervals treat images as independent; the *_clustered metrics "
                     "(ratio estimator, Obuchowski) and cluster-bootstrap endpoints account for patients.")}


# --------------------------------------------------------------------------- segmentation
def _spacing(row) -> tuple[float, float]:
    return (float(row["pixel_spacing_row"]), float(row["pixel_spacing_col"]))


def _per_case_segmentation(protocol, cohort, cases, predictions, threshold):
    """Per-case segmentation metrics under the protocol's conventions for empty masks.

    A positive image with an empty prediction scores Dice 0 and, under
    ``one_mask_empty_distance: image-diagonal``, the image diagonal in mm as its
    distances (``empty="score"``); under ``exclude-and-report`` its distances are
    undefined and counted as such (``empty="nan"``).
    """
    from validation.imageio import read_image

    tol = next((float(e.parameters["tolerance_mm"]) for e in protocol.endpoints
                if e.metric == "surface_dice"), None)
    diagonal = protocol.undefined_values.one_mask_empty_distance == "image-diagonal"
    shape = predictions.masks.shape[1:]
    rows = []
    for i, row in enumerate(cases.itertuples(index=False)):
        row = row._asdict()
        mask_path = row.get("mask_path")
        if isinstance(mask_path, str) and mask_path:
            true = np.asarray(read_image(cohort.root / mask_path)[0]) > 0
        else:
            true = np.zeros(shape, dtype=bool)
        pred = np.asarray(predictions.masks[i]) >= threshold
        spacing = _spacing(row)
        worst = float(math.hypot(shape[0] * spacing[0], shape[1] * spacing[1])) if diagonal else None
        rows.append(_seg.segmentation_metrics(pred, true, spacing=spacing, tolerance_mm=tol,
                                               empty="score" if diagonal else "nan", worst_distance_mm=worst))
    return rows


def analyse_segmentation(protocol, *, model, cohort, cases, predictions, out_dir: Path):
    cl, B, seed = protocol.confidence_level, protocol.bootstrap_resamples, protocol.seed
    threshold = _threshold(protocol, model)
    cc = protocol.cluster_column
    per_case = _per_case_segmentation(protocol, cohort, cases, predictions, threshold)
    table = pd.DataFrame([{k: getattr(m, k) for k in ("dice", "iou", "hausdorff", "hd95", "assd", "surface_dice",
                                                       "empty_true", "empty_pred")} for m in per_case])
    pos = ~table["empty_true"].to_numpy(dtype=bool)
    clusters = cases[cc].astype(str).to_numpy() if cc else None

    units = {"dice": "", "iou": "", "surface_dice": "", "hd95": "mm", "hausdorff": "mm", "assd": "mm"}
    summaries, values = {}, {}
    for metric in units:
        v = table.loc[pos, metric].to_numpy(dtype=float)
        defined = np.isfinite(v)
        summaries[metric] = {"n": int(defined.sum()), "n_undefined": int((~defined).sum()), "unit": units[metric]}
        if defined.any():
            q1, med, q3 = np.percentile(v[defined], [25, 50, 75])
            summaries[metric].update({"median": float(med), "q1": float(q1), "q3": float(q3),
                                      "values": [round(float(x), 4) for x in v[defined]]})
    for ep in protocol.endpoints:
        v = table.loc[pos, ep.metric].to_numpy(dtype=float)
        defined = np.isfinite(v)
        cl_pos = None if clusters is None else clusters[pos][defined]
        if not defined.any():
            values[ep.id] = {"estimate": math.nan, "lower": math.nan, "upper": math.nan, "confidence_level": cl,
                             "method": ep.ci_method, "n": 0}
            continue
        res = stats.bootstrap(np.mean, v[defined], n_resamples=B, method=_boot_method(ep.ci_method),
                              confidence_level=cl, clusters=_clusters_for(ep.ci_method, cl_pos), seed=seed)
        values[ep.id] = _describe_boot(res, ep.ci_method, B, cc)
        values[ep.id]["n_undefined"] = int((~defined).sum())
        summaries[ep.metric].update({k: values[ep.id][k] for k in
                                     ("estimate", "lower", "upper", "confidence_level", "method")})
    for metric in list(summaries):
        if "estimate" not in summaries[metric]:
            v = table.loc[pos, metric].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            summaries[metric]["estimate"] = float(v.mean()) if v.size else math.nan
    criteria, verdict = _criteria_and_verdict(protocol, values)

    dice_cut = next((parse_criterion(e.criterion).value for e in protocol.endpoints if e.metric == "dice" and e.criterion), 0.7)
    dice_ok = (table["dice"].fillna(0).to_numpy() >= dice_cut)
    outcome_for = {"dice": (pos, dice_ok[pos])}
    subgroups = []
    if protocol.subgroups:
        subgroups = _subgroup_rows(protocol, cases, outcome_for, cl)
        for row in subgroups:
            row["metric"] = f"proportion dice >= {dice_cut:.2f}"
            row["analysis"] = f"Dice \u2265 {dice_cut:.2f} by {row['column']}"

    # Gallery: the worst-segmented positives, and negatives with a false mask.
    listing = _listing(cases, {"dice": table["dice"].to_numpy(), "hd95_mm": table["hd95"].to_numpy(),
                               "empty_pred": table["empty_pred"].to_numpy()})
    dice_all = table["dice"].fillna(0).to_numpy()
    worst = cases.assign(score=dice_all)[pos & (dice_all < dice_cut)].sort_values(["score", "case_id"]).head(12)
    false_masks = cases.assign(score=table["dice"].fillna(0).to_numpy())[
        (~pos) & ~table["empty_pred"].to_numpy(dtype=bool)].sort_values("case_id").head(12)
    gallery = write_gallery({"false_negatives": worst, "false_positives": false_masks},
                            load_case=_gallery_loader(cohort, predictions, threshold), out_dir=out_dir)
    gallery.update({"n_false_negatives": int((pos & (dice_all < dice_cut)).sum()),
                    "n_false_positives": int(((~pos) & ~table["empty_pred"].to_numpy(dtype=bool)).sum()),
                    "score_meaning": f"Dice; 'false negatives' are lesion images segmented below Dice {dice_cut:.2f}, "
                                     "'false positives' lesion-free images that received a mask"})

    uv = protocol.undefined_values
    outcome = {
        "task": protocol.task,
        "verdict": verdict,
        "criteria": criteria,
        "flow": case_flow(cases.assign(score=np.where(np.isfinite(cases["score"]), 1.0, np.nan))),
        "segmentation": {
            "unit": "case (reference-positive cases)",
            "threshold": threshold,
            "empty_mask_convention": (
                f"empty reference masks: {uv.empty_masks}; one mask empty: {uv.one_mask_empty_distance}. "
                f"{int((~pos).sum())} reference-negative images are not in Dice/HD95; "
                f"{int(((~pos) & ~table['empty_pred'].to_numpy(dtype=bool)).sum())} of them received a false mask. "
                "A positive image with an empty prediction scores Dice 0 and the worst distance "
                "(it is never dropped, so a miss cannot make HD95 look better)."),
            "hd95_definition": per_case[0].hd95_definition if per_case else "max-directed",
            "n_positive": int(pos.sum()), "n_negative": int((~pos).sum()),
            "n_missed": int((pos & table["empty_pred"].to_numpy(dtype=bool)).sum()),
            "metrics": summaries,
        },
        "subgroups": subgroups,
        "error_analysis": gallery,
        "baseline": baseline_characteristics(cases),
        "clustering": _clustering_note(protocol, cases),
    }
    return outcome, listing


# --------------------------------------------------------------------------- detection
MARK_THRESHOLD = 0.02


def detection_marks(probability: np.ndarray, *, floor: float = MARK_THRESHOLD):
    """Marks from a probability map: one per connected component above ``floor``.

    The mark sits at the component's peak and carries the peak probability as
    its score, so a FROC curve can sweep thresholds from ``floor`` upwards.
    """
    from scipy import ndimage

    p = np.asarray(probability, dtype=np.float32)
    labels, n = ndimage.label(p >= floor)
    if n == 0:
        return np.zeros((0, 2)), np.zeros(0)
    idx = np.arange(1, n + 1)
    peaks = np.asarray(ndimage.maximum_position(p, labels, idx), dtype=float).reshape(n, 2)
    scores = np.asarray(ndimage.maximum(p, labels, idx), dtype=float)
    return peaks, scores


def analyse_detection(protocol, *, model, cohort, cases, predictions, out_dir: Path):
    cl, B, seed = protocol.confidence_level, protocol.bootstrap_resamples, protocol.seed
    cc = protocol.cluster_column
    marks, lesions, spacing, clusters = {}, {}, {}, {}
    for i, row in enumerate(cases.itertuples(index=False)):
        row = row._asdict()
        cid = row["case_id"]
        marks[cid] = detection_marks(predictions.masks[i])
        sp = _spacing(row)
        spacing[cid] = sp
        les = json.loads(row["lesions"]) if isinstance(row.get("lesions"), str) and row["lesions"] else []
        centres = np.array([[l["row"], l["col"]] for l in les], dtype=float).reshape(-1, 2)
        radii = np.array([float(l["radius_px"]) * float(np.mean(sp)) for l in les], dtype=float)
        lesions[cid] = (centres, radii)
        if cc:
            clusters[cid] = str(row[cc])
    for ep in protocol.endpoints:
        if ep.ci_method not in ("bootstrap-percentile", "cluster-bootstrap-percentile"):
            raise InputError(f"{protocol.path}: endpoint {ep.id!r}: FROC intervals come from the percentile "
                             f"bootstrap over images or patients; got ci_method {ep.ci_method!r}")
    n_images = len(cases)
    fp_rates = tuple(sorted({0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0} |
                            {float(e.parameters["fp_per_image"]) for e in protocol.endpoints
                             if e.metric == "lesion_sensitivity_at_fp"}))
    use_clusters = any(e.ci_method.startswith("cluster-") for e in protocol.endpoints)
    res = _det.froc(marks, lesions, n_images, spacing=spacing, hit="radius", fp_rates=fp_rates,
                     clusters=clusters if (cc and use_clusters) else None, n_resamples=B,
                     confidence_level=cl, seed=seed)
    at = dict(zip(res.fp_rates, res.sensitivity_at))
    values = {}
    for ep in protocol.endpoints:
        if ep.metric == "lesion_sensitivity_at_fp":
            iv = at[float(ep.parameters["fp_per_image"])]
        else:
            iv = res.cpm
        values[ep.id] = _interval_dict(iv)
        values[ep.id]["method"] = (f"{iv.method}, {B} resamples"
                                   + (f", clusters: {cc}" if (cc and use_clusters) else ""))
    criteria, verdict = _criteria_and_verdict(protocol, values)

    froc = res.to_dict()
    subgroups = _detection_subgroups(protocol, cases, res, marks, lesions, spacing, cl)
    per_image_hits = _lesion_hits(marks, lesions, spacing, threshold=_threshold(protocol, model))
    listing = _listing(cases, {"n_lesions": [len(lesions[c][0]) for c in cases["case_id"]],
                               "n_marks": [int((marks[c][1] >= _threshold(protocol, model)).sum())
                                           for c in cases["case_id"]],
                               "lesions_hit": [per_image_hits[c] for c in cases["case_id"]]})
    missed = listing[(listing["n_lesions"] > listing["lesions_hit"])]
    missed = cases.loc[missed.index].assign(score=cases.loc[missed.index, "score"]).sort_values(
        ["score", "case_id"]).head(12)
    false_marks = cases.assign(score=cases["score"])[(listing["n_lesions"] == 0) & (listing["n_marks"] > 0)] \
        .sort_values(["score", "case_id"], ascending=[False, True]).head(12)
    gallery = write_gallery({"false_negatives": missed, "false_positives": false_marks},
                            load_case=_gallery_loader(cohort, predictions, _threshold(protocol, model)),
                            out_dir=out_dir)
    gallery.update({"n_false_negatives": int((listing["n_lesions"] - listing["lesions_hit"]).sum()),
                    "n_false_positives": int(((listing["n_lesions"] == 0) & (listing["n_marks"] > 0)).sum()),
                    "score_meaning": "peak lesion probability in the image"})
    outcome = {
        "task": protocol.task,
        "verdict": verdict,
        "criteria": criteria,
        "flow": case_flow(cases),
        "curves": {"froc": {k: froc[k] for k in ("thresholds", "fp_per_image", "sensitivity")}},
        "detection": {
            "unit": "lesion",
            "hit_criterion": "mark within the lesion radius (mark-to-lesion, one-to-one, greedy by score)",
            "mark_extraction": (f"one mark per connected component of the segmenter's probability map "
                                f"above {MARK_THRESHOLD}, at its peak, scored by the peak probability"),
            "n_images": res.n_images, "n_lesions": res.n_lesions, "n_marks": res.n_marks,
            "cpm": _interval_dict(res.cpm, method=values[protocol.endpoints[0].id]["method"]
                                  if protocol.endpoints else res.cpm.method),
            "lesion_sensitivity": [{"fp_per_image": r, **_interval_dict(iv)} for r, iv in at.items()],
            "froc": froc,
        },
        "subgroups": subgroups,
        "error_analysis": gallery,
        "baseline": baseline_characteristics(cases),
        "clustering": _clustering_note(protocol, cases),
    }
    return outcome, listing


def _froc_threshold(res, fp_rate: float) -> float:
    """The lowest score threshold whose FP/image on the FROC curve does not exceed ``fp_rate``."""
    fpi = np.asarray(res.fp_per_image, dtype=float)
    thr = np.asarray(res.thresholds, dtype=float)
    ok = fpi <= fp_rate + 1e-12
    return float(thr[ok].min()) if ok.any() else math.inf


def _detection_subgroups(protocol, cases, res, marks, lesions, spacing, cl) -> list[dict]:
    """Lesion sensitivity per stratum at the overall operating point of each FP/image rate.

    The score threshold is read off the whole cohort's FROC curve at the
    endpoint's FP/image rate, then each stratum's lesions are counted as hit or
    missed at that threshold (Wilson intervals over lesions).
    """
    if not protocol.subgroups:
        return []
    rate = next((float(e.parameters["fp_per_image"]) for e in protocol.endpoints
                 if e.metric == "lesion_sensitivity_at_fp"), 1.0)
    t = _froc_threshold(res, rate)
    hits = _lesion_hits(marks, lesions, spacing, threshold=t)
    n_les = np.array([len(lesions[c][0]) for c in cases["case_id"]])
    n_hit = np.array([hits[c] for c in cases["case_id"]])
    lesion_rows = np.repeat(np.arange(len(cases)), n_les)
    outcomes = np.concatenate([np.r_[np.ones(h), np.zeros(n - h)] for n, h in zip(n_les, n_hit)]) \
        if n_les.sum() else np.zeros(0)
    lesion_cases = cases.iloc[lesion_rows].reset_index(drop=True)
    mask = np.ones(len(lesion_cases), dtype=bool)
    rows = _subgroup_rows(protocol, lesion_cases, {"lesion_sensitivity_at_fp": (mask, outcomes.astype(int))}, cl)
    for row in rows:
        row["metric"] = f"lesion sensitivity at {rate:g} FP/image (threshold {t:.4f})"
        row["analysis"] = f"Lesion sensitivity at {rate:g} FP/image by {row['column']}"
        row["unit"] = "lesion"
    return rows


def _lesion_hits(marks, lesions, spacing, *, threshold: float) -> dict:
    """Lesions hit by a mark scoring at least ``threshold``, per image (stats.match_marks' rule)."""
    kept = {cid: (pos[sc >= threshold], sc[sc >= threshold]) for cid, (pos, sc) in marks.items()}
    m = _det.match_marks(kept, lesions, len(lesions), spacing=spacing, hit="radius")
    index = {cid: i for i, cid in enumerate(m.images)}
    hit_per_image = np.bincount(m.lesion_image[np.isfinite(m.lesion_score)], minlength=len(m.images))
    return {cid: int(hit_per_image[index[cid]]) if cid in index else 0 for cid in lesions}


# --------------------------------------------------------------------------- dispatch
_TASKS = {
    "binary-classification": analyse_classification,
    "segmentation": analyse_segmentation,
    "detection": analyse_detection,
}


def analyse(protocol, *, model, cohort, cases: pd.DataFrame, predictions, out_dir: Path):
    """Compute the protocol's outcome for its task; returns ``(outcome, case_listing)``."""
    if protocol.task in ("segmentation", "detection") and predictions.masks is None:
        raise InputError(f"{model.path}: task {protocol.task!r} needs a segmentation model "
                         f"(an output 'probability'); model {model.lock.model_id!r} has task {model.lock.task!r}")
    return _TASKS[protocol.task](protocol, model=model, cohort=cohort, cases=cases, predictions=predictions,
                                 out_dir=out_dir)

"""Synthetic run directories (results.json + gallery PNGs + cases.csv) for the report tests.

The real runner (``medval validate``) writes the same layout (docs/contracts.md,
"A run directory and results.json"). Until real runs exist, and for the
100,000-case benchmark, this module builds run directories whose
``results.json`` follows that layout exactly and whose numbers are internally
consistent: every count, proportion and interval is derived below from one
seeded simulation of scores and labels, so that a reader can check them.

Derivations used (written out so the expected numbers have a source):

* Wilson score interval (Wilson 1927; Brown, Cai & DasGupta 2001)::

      centre = (x + z²/2) / (n + z²),  half = z·sqrt(x(n−x)/n + z²/4) / (n + z²)

* AUC = Mann–Whitney U / (n_pos·n_neg) with mid-ranks for ties; its
  interval here uses the Hanley & McNeil (1982) standard error (the real
  runner uses DeLong; the report only formats whatever interval it is given).
* Results digest = sha256 of canonical JSON of ``{"inputs", "outcome"}``
  (``validation.hashing.digest``), as docs/contracts.md specifies.

This is a test helper, not product code: it never runs inside ``medval``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from validation.hashing import digest, to_jsonable

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)

SITES = ("Northbridge General", "St. Aldric University", "Harbourview Clinic", "Lakeside Imaging")
VENDORS = ("Acme Radiology", "Borealis Medical", "Corvid Imaging")

PROTOCOL_TEXT = """\
id: {pid}
version: 2
title: {title}
task: {task}
endpoints:
  - name: {primary}
    role: primary
    metric: {metric}
    ci_method: {method}
    confidence_level: 0.95
    criterion: lower_bound >= {thr}
unit_of_analysis: case
clustering: patient_id
operating_point: locked model threshold
subgroups:
  - column: site
    min_n: 30
    multiplicity: holm
  - column: manufacturer
    min_n: 30
    multiplicity: holm
sample_size:
  target_positives: 100
  rationale: Wilson lower bound above 0.80 with 80% power at an expected sensitivity of 0.90
"""

MODEL_CARD = """\
# {model_id} {version}

**Intended use.** Decision support for the detection of focal lesions on
adult chest radiographs, to be read by a qualified radiologist. Not for
paediatric use, not a stand-alone diagnosis.

## Device description

A small DenseNet (MONAI) exported to ONNX opset 17; input a 128×128
single-channel image normalised to zero mean and unit variance; output a
lesion probability and a 64-dimensional embedding used for drift monitoring.

## Training data

In-silico radiographs (seeds < 1000), four sites, three vendors; disjoint from
every test cohort (seeds ≥ 2000).

## Known limitations

- Lesions under 3 mm are rarely detected.
- Not evaluated on portable (bedside) acquisitions.
"""


def wilson(x: int, n: int, z: float = Z95) -> tuple[float, float, float]:
    """Estimate and Wilson score interval of ``x / n`` (NaN when ``n == 0``)."""
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    p = x / n
    denom = n + z * z
    centre = (x + z * z / 2) / denom
    half = z * math.sqrt(x * (n - x) / n + z * z / 4) / denom
    return p, max(0.0, centre - half), min(1.0, centre + half)


def interval(x: int, n: int) -> dict:
    est, lo, hi = wilson(x, n)
    return {"estimate": est, "lower": lo, "upper": hi, "confidence_level": 0.95, "method": "wilson", "n": int(n)}


def auc_hanley_mcneil(labels: np.ndarray, scores: np.ndarray) -> dict:
    """AUC (Mann–Whitney with mid-ranks) and its Hanley–McNeil (1982) 95% interval."""
    from scipy.stats import rankdata

    pos = labels == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    ranks = rankdata(scores)
    auc = (ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc * auc) + (n0 - 1) * (q2 - auc * auc)) / (n1 * n0)
    se = math.sqrt(max(var, 0.0))
    return {"estimate": float(auc), "lower": max(0.0, auc - Z95 * se), "upper": min(1.0, auc + Z95 * se),
            "variance": var, "confidence_level": 0.95, "method": "delong", "n": n1 + n0,
            "n_pos": n1, "n_neg": n0}


def roc_points(labels: np.ndarray, scores: np.ndarray, *, grid_size: int = 101) -> dict:
    """Empirical ROC in ``validation.stats.ROCCurve.to_dict()`` form.

    One point per distinct threshold; the band is given on a fixed FPR grid
    (as the stats module does), here a pointwise Wald band on TPR at the grid
    (the real runner uses a stratified bootstrap; the report only draws it).
    """
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.r_[0, np.cumsum(y)[distinct]]
    fp = np.r_[0, np.cumsum(1 - y)[distinct]]
    n1, n0 = int(tp[-1]), int(fp[-1])
    tpr, fpr = tp / n1, fp / n0
    grid = np.linspace(0, 1, grid_size)
    tpr_grid = np.asarray([tpr[fpr <= g].max() for g in grid])
    half = Z95 * np.sqrt(tpr_grid * (1 - tpr_grid) / n1 + 1e-12)
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": [None] + s[distinct].tolist(),
            "fpr_grid": grid.tolist(), "tpr_grid": tpr_grid.tolist(),
            "lower": np.clip(tpr_grid - half, 0, 1).tolist(), "upper": np.clip(tpr_grid + half, 0, 1).tolist(),
            "auc": auc, "confidence_level": 0.95, "method": "pointwise-wald (fixture)", "n_resamples": 0,
            "seed": 0, "n_pos": n1, "n_neg": n0}


def _thumbnail(rng: np.random.Generator, *, lesion: bool, size: int = 96) -> bytes:
    """A radiograph-like grey thumbnail with a green reference outline (PNG bytes)."""
    yy, xx = np.mgrid[0:size, 0:size]
    base = 0.45 + 0.25 * np.cos((xx - size / 2) / size * 3) * np.cos((yy - size / 2) / size * 2.5)
    img = np.clip(base + rng.normal(0, 0.05, (size, size)), 0, 1)
    rgb = np.repeat((img * 255).astype(np.uint8)[..., None], 3, axis=2)
    if lesion:
        cy, cx, r = rng.integers(25, size - 25), rng.integers(25, size - 25), rng.integers(6, 12)
        d = np.hypot(yy - cy, xx - cx)
        rgb[d < r] = np.clip(rgb[d < r].astype(int) + 40, 0, 255).astype(np.uint8)
        rgb[(d >= r) & (d < r + 1.2)] = (40, 220, 60)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _subgroup(analysis: str, column: str, levels, values: np.ndarray, correct: np.ndarray, *,
              metric: str, prespecified: bool, min_n: int = 30) -> dict:
    strata = []
    for level in levels:
        sel = values == level
        n, x = int(sel.sum()), int(correct[sel].sum())
        iv = interval(x, n)
        strata.append({"level": level, "n": n, "estimate": iv["estimate"], "lower": iv["lower"],
                       "upper": iv["upper"], "small": n < min_n, "p_adjusted": None})
    return {"analysis": analysis, "column": column, "prespecified": prespecified, "metric": metric,
            "multiplicity": "holm" if prespecified else "none (exploratory, descriptive only)",
            "min_n": min_n, "confidence_level": 0.95, "method": "wilson",
            "heterogeneity": {"method": "chi-square test of homogeneity", "statistic": 3.1,
                              "df": len(levels) - 1, "p_value": 0.37},
            "strata": strata}


def _baseline(labels, ages, sexes, sites, vendors) -> dict:
    groups = {"positive": labels == 1, "negative": labels == 0, "all": np.ones_like(labels, bool)}
    table = {"columns": list(groups), "n": {k: int(v.sum()) for k, v in groups.items()}}
    table["patients"] = dict(table["n"])
    table["age"] = {}
    for k, sel in groups.items():
        a = ages[sel].astype(float)
        q1, med, q3 = np.percentile(a, [25, 50, 75])
        table["age"][k] = {"n": int(a.size), "missing": 0, "mean": float(a.mean()), "sd": float(a.std(ddof=1)),
                           "median": float(med), "q1": float(q1), "q3": float(q3),
                           "min": float(a.min()), "max": float(a.max())}
    for column, values in (("sex", sexes), ("site", sites), ("manufacturer", vendors)):
        table[column] = [{"level": level, **{k: int((values[sel] == level).sum()) for k, sel in groups.items()}}
                         for level in sorted(set(values.tolist()))]
    return table


def build_run(run_dir: str | Path, task: str, *, n_cases: int = 480, seed: int = 2026,
              fail: bool = False, mode: str = "regulatory", n_sites: int = 4,
              gallery_cap: int = 12) -> Path:
    """Write a synthetic run directory for ``task`` and return its ``results.json`` path.

    ``task`` is ``"classification"``, ``"segmentation"`` or ``"detection"``.
    ``fail=True`` sets the primary criterion's threshold above its lower bound
    so that the run fails. ``n_sites`` > 4 adds synthetic sites (for the
    scale benchmark's long subgroup tables).
    """
    if task not in ("classification", "segmentation", "detection"):
        raise ValueError(f"'task' must be classification, segmentation or detection; got {task!r}")
    run_dir = Path(run_dir)
    (run_dir / "gallery").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = int(n_cases)
    labels = (rng.random(n) < 0.27).astype(int)
    scores = np.clip(rng.normal(0.28 + 0.42 * labels, 0.17), 0, 1).round(6)
    sites_all = list(SITES) + [f"Site {i:02d}" for i in range(len(SITES), n_sites)]
    site_p = np.r_[np.full(4, 0.2), np.full(max(n_sites - 4, 0), 0.2 / max(n_sites - 4, 1))][:n_sites]
    site_p = site_p / site_p.sum()
    sites = np.asarray(sites_all, dtype=object)[rng.choice(n_sites, size=n, p=site_p)]
    vendors = np.asarray(VENDORS, dtype=object)[rng.choice(3, size=n, p=[0.5, 0.35, 0.15])]
    sexes = np.asarray(["F", "M"], dtype=object)[rng.integers(0, 2, n)]
    ages = rng.integers(28, 90, n)
    case_ids = np.asarray([f"C{i:06d}" for i in range(n)], dtype=object)
    threshold = 0.5
    decision = (scores >= threshold).astype(int)
    tp = int(((decision == 1) & (labels == 1)).sum())
    fn = int(((decision == 0) & (labels == 1)).sum())
    fp = int(((decision == 1) & (labels == 0)).sum())
    tn = int(((decision == 0) & (labels == 0)).sum())
    n_pos, n_neg = tp + fn, fp + tn

    excluded = [{"reason": "image unreadable (DICOM decode error)", "n": 3},
                {"reason": "outside age range of intended use (< 18 years)", "n": 5}]
    flow = {"eligible": n + 8 + 2, "excluded": excluded, "n_excluded": 8, "included": n + 2,
            "indeterminate": 2, "analysed": n, "positive": n_pos, "negative": n_neg,
            "by_class": {"positive": {"eligible": n_pos + 1, "indeterminate": 1, "analysed": n_pos},
                         "negative": {"eligible": n_neg + 1, "indeterminate": 1, "analysed": n_neg}},
            "patients": int(n * 0.9)}

    pid = {"classification": "lesion-cls-val", "segmentation": "lesion-seg-val",
           "detection": "lesion-det-val"}[task]
    title = {"classification": "Standalone performance of the lesion classifier",
             "segmentation": "Lesion segmentation accuracy",
             "detection": "Lesion detection (FROC) performance"}[task]
    model_id = "lesion-classifier" if task == "classification" else "lesion-segmenter"
    outcome: dict = {"flow": flow, "deviations": [], "subgroups": []}
    criteria = []
    correct_pos = (decision == 1) & (labels == 1)

    if task == "classification":
        sens, spec = interval(tp, n_pos), interval(tn, n_neg)
        auc = auc_hanley_mcneil(labels, scores)
        metrics = {"sensitivity": sens, "specificity": spec, "ppv": interval(tp, tp + fp),
                   "npv": interval(tn, tn + fn), "prevalence": interval(n_pos, n), "auc": auc}
        outcome["confusion"] = {"threshold": threshold, "tp": tp, "fp": fp, "fn": fn, "tn": tn}
        outcome["metrics"] = metrics
        edges = np.linspace(0, 1, 11)
        idx = np.clip(np.digitize(scores, edges) - 1, 0, 9)
        cal = {"strategy": "uniform", "n_bins": 10, "mean_predicted": [], "observed": [], "lower": [],
               "upper": [], "n": [], "confidence_level": 0.95, "method": "wilson"}
        for b in range(10):
            sel = idx == b
            if not sel.any():
                continue
            iv = interval(int(labels[sel].sum()), int(sel.sum()))
            cal["mean_predicted"].append(float(scores[sel].mean()))
            for key in ("lower", "upper", "n"):
                cal[key].append(iv[key])
            cal["observed"].append(iv["estimate"])
        cal["ece"] = float(sum(k * abs(o - m) for k, o, m in zip(cal["n"], cal["observed"],
                                                                  cal["mean_predicted"])) / n)
        outcome["curves"] = {"roc": roc_points(labels, scores), "calibration": cal}
        criteria = [
            {"endpoint": "Sensitivity at the locked threshold", "role": "primary", "metric": "sensitivity",
             **{k: sens[k] for k in ("estimate", "lower", "upper", "confidence_level", "method", "n")},
             "criterion": f"lower_bound >= {0.95 if fail else 0.75:.2f}"},
            {"endpoint": "Specificity at the locked threshold", "role": "primary", "metric": "specificity",
             **{k: spec[k] for k in ("estimate", "lower", "upper", "confidence_level", "method", "n")},
             "criterion": "lower_bound >= 0.75"},
            {"endpoint": "Area under the ROC curve", "role": "secondary", "metric": "auc",
             **{k: auc[k] for k in ("estimate", "lower", "upper", "confidence_level", "method", "n")},
             "criterion": "lower_bound >= 0.80"},
            {"endpoint": "Positive predictive value (reported only)", "role": "secondary", "metric": "ppv",
             **{k: metrics["ppv"][k] for k in ("estimate", "lower", "upper", "confidence_level", "method", "n")},
             "criterion": None},
        ]
        outcome["indeterminate"] = {
            "n": 2, "convention": "counted as test-negative for sensitivity and as test-positive for specificity",
            "as_positive": {"sensitivity": interval(tp + 1, n_pos + 1), "specificity": interval(tn, n_neg + 1)},
            "as_negative": {"sensitivity": interval(tp, n_pos + 1), "specificity": interval(tn + 1, n_neg + 1)}}
        pos = labels == 1
        outcome["subgroups"] = [
            _subgroup("Sensitivity by site", "site", sites_all, sites[pos], correct_pos[pos],
                      metric="sensitivity", prespecified=True),
            _subgroup("Sensitivity by manufacturer", "manufacturer", list(VENDORS), vendors[pos],
                      correct_pos[pos], metric="sensitivity", prespecified=True),
            _subgroup("Sensitivity by sex", "sex", ["F", "M"], sexes[pos], correct_pos[pos],
                      metric="sensitivity", prespecified=False),
        ]
    elif task == "segmentation":
        dice = np.clip(rng.beta(8, 2.2, n_pos), 0, 1).round(4)
        hd95 = np.clip(rng.gamma(2.0, 1.6, n_pos), 0, None).round(3)
        def summary(v, unit):
            m, s = float(v.mean()), float(v.std(ddof=1))
            q1, med, q3 = np.percentile(v, [25, 50, 75])
            return {"estimate": m, "lower": m - Z95 * s / math.sqrt(v.size), "upper": m + Z95 * s / math.sqrt(v.size),
                    "confidence_level": 0.95, "method": "bca bootstrap (2000 resamples, clustered by patient)",
                    "n": int(v.size), "median": float(med), "q1": float(q1), "q3": float(q3),
                    "n_undefined": 0, "unit": unit, "values": v.tolist()}
        iou = dice / (2 - dice)  # IoU = Dice / (2 − Dice) per case
        q1, med, q3 = np.percentile(iou, [25, 50, 75])
        outcome["segmentation"] = {
            "unit": "case (reference-positive cases)", "threshold": 0.5, "n_positive": n_pos,
            "n_negative": n_neg, "n_missed": 0, "hd95_definition": "max-directed",
            "empty_mask_convention": "cases with an empty reference mask are excluded from Dice/HD95 "
                                     "and reported in the flow; an empty prediction on a positive case "
                                     "scores Dice 0 and HD95 = image diagonal",
            "metrics": {"dice": summary(dice, ""), "hd95": summary(hd95, "mm"),
                        "iou": {"n": int(iou.size), "n_undefined": 0, "unit": "", "median": float(med),
                                "q1": float(q1), "q3": float(q3), "estimate": float(iou.mean())}},
        }
        d = outcome["segmentation"]["metrics"]["dice"]
        h = outcome["segmentation"]["metrics"]["hd95"]
        criteria = [
            {"endpoint": "Mean Dice on reference-positive cases", "role": "primary", "metric": "dice",
             **{k: d[k] for k in ("estimate", "lower", "upper", "confidence_level", "method", "n")},
             "criterion": f"lower_bound >= {0.90 if fail else 0.70:.2f}"},
            {"endpoint": "Mean HD95 (mm)", "role": "secondary", "metric": "hd95",
             **{k: h[k] for k in ("estimate", "lower", "upper", "confidence_level", "method", "n")},
             "criterion": "upper_bound <= 6.00"},
        ]
        good = np.zeros(n, bool)
        good[np.nonzero(labels == 1)[0]] = dice >= 0.7
        pos = labels == 1
        outcome["subgroups"] = [_subgroup("Dice ≥ 0.70 by manufacturer", "manufacturer", list(VENDORS),
                                          vendors[pos], good[pos], metric="proportion dice >= 0.70",
                                          prespecified=True)]
    else:
        n_lesions = int(n_pos * 1.3)
        fppi = np.unique(np.r_[0.0, np.sort(rng.gamma(1.2, 1.5, max(n // 2, 10)))]).round(5)
        sens_curve = 1 - 0.75 * np.exp(-1.1 * fppi)
        froc = {"fp_per_image": fppi.tolist(), "sensitivity": sens_curve.round(6).tolist(),
                "thresholds": np.linspace(0.99, 0.01, fppi.size).round(6).tolist()}
        points = [0.125, 0.25, 0.5, 1, 2, 4, 8]
        at = []
        for p in points:
            s = float(1 - 0.75 * math.exp(-1.1 * p))
            iv = interval(int(round(s * n_lesions)), n_lesions)
            at.append({"fp_per_image": p, **{k: iv[k] for k in ("estimate", "lower", "upper")}})
        cpm_est = float(np.mean([a["estimate"] for a in at]))
        cpm = {"estimate": cpm_est, "lower": cpm_est - 0.04, "upper": cpm_est + 0.035, "confidence_level": 0.95,
               "method": "percentile bootstrap (2000 resamples, clustered by patient)", "n": n_lesions}
        outcome["detection"] = {"unit": "lesion", "n_lesions": n_lesions, "n_images": n,
                                "hit_criterion": "mark within the lesion radius (mark-to-lesion)",
                                "lesion_sensitivity": at, "cpm": cpm}
        outcome["curves"] = {"froc": froc}
        s1 = at[3]
        criteria = [
            {"endpoint": "Lesion sensitivity at 1 false positive per image", "role": "primary",
             "metric": "lesion_sensitivity", "estimate": s1["estimate"], "lower": s1["lower"],
             "upper": s1["upper"], "confidence_level": 0.95, "method": "wilson", "n": n_lesions,
             "criterion": f"lower_bound >= {0.95 if fail else 0.60:.2f}"},
            {"endpoint": "Competition performance metric (CPM)", "role": "secondary", "metric": "cpm",
             **{k: cpm[k] for k in ("estimate", "lower", "upper", "confidence_level", "method", "n")},
             "criterion": "lower_bound >= 0.55"},
        ]
    for c in criteria:
        c["endpoint_id"] = c["metric"] + ("-primary" if c["role"] == "primary" else "")
        c["description"] = f"{c['endpoint']} ({c['role']} endpoint)"
        if c["criterion"] is None:
            c["passed"] = None
            continue
        bound, op, value = c["criterion"].split()
        x = c["lower"] if bound == "lower_bound" else c["upper"]
        c["passed"] = bool(x >= float(value) if op == ">=" else x <= float(value))
    outcome["criteria"] = criteria
    outcome["verdict"] = "PASS" if all(c["passed"] for c in criteria if c["passed"] is not None) else "FAIL"
    outcome["task"] = task
    outcome["clustering"] = {"cluster_column": "patient_id", "n_clusters": flow["patients"],
                             "max_cases_per_cluster": 3, "multi_case_clusters": 40,
                             "text": f"40 of {flow['patients']} patients contribute more than one image; "
                                     "intervals are clustered by patient where the protocol says so."}
    def expectation(name, column, description, unexpected=0):
        return {"expectation": name, "column": column, "success": unexpected == 0,
                "unexpected_count": unexpected, "unexpected_examples": [], "unexpected_case_ids": [],
                "description": description, "error": None}
    dq_results = [
        expectation("expect_column_values_to_not_be_null", "label", "label is present for every case"),
        expectation("expect_column_values_to_be_in_set", "sex", "sex is F or M"),
        expectation("expect_column_values_to_be_between", "age", "age between 18 and 110 years"),
        expectation("expect_column_values_to_be_unique", "case_id", "case ids are unique"),
    ]
    outcome["data_quality"] = {"success": True, "suite": f"{pid}-cohort-gate", "results": dq_results,
                               "n_rows": n + 10, "n_expectations": len(dq_results), "n_failed": 0,
                               "derived_columns": [], "engine": "great_expectations 1.24.0"}
    outcome["baseline"] = _baseline(labels, ages, sexes, sites, vendors)
    if mode == "exploratory":
        outcome["deviations"] = [
            {"kind": "mode", "text": "Exploratory run: protocol lock and input pinning were not enforced."}]
    # Error-analysis gallery: worst misses first (lowest-scoring positives), then highest-scoring negatives.
    fn_idx = np.nonzero((labels == 1) & (decision == 0))[0]
    fp_idx = np.nonzero((labels == 0) & (decision == 1))[0]
    fn_idx = fn_idx[np.lexsort((case_ids[fn_idx], scores[fn_idx]))][:gallery_cap]
    fp_idx = fp_idx[np.lexsort((case_ids[fp_idx], -scores[fp_idx]))][:gallery_cap]
    gallery = {}
    for kind, idx in (("false_negatives", fn_idx), ("false_positives", fp_idx)):
        entries = []
        for rank, i in enumerate(idx, start=1):
            name = f"gallery/{kind}_{rank:02d}.png"
            (run_dir / name).write_bytes(_thumbnail(np.random.default_rng([seed, int(i)]),
                                                    lesion=bool(labels[i])))
            entries.append({"case_id": case_ids[i], "score": float(scores[i]), "label": int(labels[i]),
                            "thumbnail": name})
        gallery[kind] = entries
    gallery["n_false_negatives"] = fn
    gallery["n_false_positives"] = fp
    outcome["error_analysis"] = gallery

    inputs = {
        "protocol": {"id": pid, "version": 2, "title": title, "sha256": digest(["protocol", pid]),
                     "path": f"protocols/{pid}.v2.yaml"},
        "model": {"id": model_id, "version": "1.0.0", "sha256": digest(["model", model_id]), "opset": 17,
                  "task": "binary-classification" if task == "classification" else "segmentation",
                  "threshold": threshold, "runtime": "onnxruntime 1.32.0 (CPUExecutionProvider)",
                  "preprocessing": {"intensity_scale": 4095, "mean": 0.5, "std": 0.25, "image_size": 128}},
        "cohort": {"id": f"insilico-{task}-test", "version": 3, "digest": digest(["cohort", task, n]),
                   "n_cases": n + 10},
        "seed": 20260101, "mode": mode,
    }
    context = {
        "run_id": f"run-20260115-{task[:3]}{seed:05d}", "operator": "qa.engineer",
        "started_at": "2026-01-15T10:15:00+00:00", "finished_at": "2026-01-15T10:17:42+00:00",
        "environment": {"python": "3.11.2", "implementation": "CPython",
                        "platform": "Linux-6.1.0-x86_64-with-glibc2.36", "machine": "x86_64",
                        "packages": {"medval": "0.1.0", "numpy": "2.2.6", "scipy": "1.15.3",
                                     "onnxruntime": "1.32.0", "pandas": "2.3.1", "jinja2": "3.1.6",
                                     "matplotlib": "3.11.2", "weasyprint": "70.0"},
                        "code_version": "8c9121786586c2ade3f4aac3dfebd77391c734e9"},
        "protocol_lock": None if mode == "exploratory" else {
            "locked_at": "2026-01-14T16:02:11+00:00", "locked_by": "stats.lead", "audit_entry": 12},
        "cohort_description": {
            "id": inputs["cohort"]["id"], "version": 3, "modality": "DX (in-silico radiograph)",
            "task": task, "description": "Sequestered in-silico test cohort from four sites and three vendors.",
            "label_definition": "1 if at least one lesion is present in the image, else 0",
            "reference_standard": "Generator ground truth: lesion masks drawn by the simulator (no reader error)",
            "inclusion_criteria": ["adult patients (age >= 18 years)", "frontal projection",
                                   "image decodable and 128x128 after resampling"],
            "sequestered": True, "source": {"generator": "validation.synth", "seed": 2026},
            "manifest": "manifest.csv", "manifest_sha256": digest(["manifest", task]),
            "digest": inputs["cohort"]["digest"]},
        "model_card": MODEL_CARD.format(model_id=model_id, version="1.0.0"),
        "exposure": {"cohort_digest": inputs["cohort"]["digest"], "count": 3,
                     "by_models": [{"model_id": model_id, "version": "0.9.0", "sha256": digest(["old", model_id]),
                                    "runs": 2},
                                   {"model_id": model_id, "version": "1.0.0", "sha256": inputs["model"]["sha256"],
                                    "runs": 1}],
                     "by_mode": {"regulatory": 2, "exploratory": 1}, "limit": 5, "warning": None,
                     "cohort_ids": [inputs["cohort"]["id"]], "first_run_at": "2025-11-02T09:12:00+00:00",
                     "last_run_at": "2026-01-15T10:17:40+00:00", "before_this_run": 2},
        "audit": {"db": ".medval/audit.sqlite", "run_entry": 17, "run_entry_hash": digest(["entry", 17]),
                  "chain_verified": True, "n_entries": 17, "problems": []},
        "protocol_text": PROTOCOL_TEXT.format(
            pid=pid, title=title, task=task, primary=criteria[0]["endpoint"], metric=criteria[0]["metric"],
            method=criteria[0]["method"], thr=criteria[0]["criterion"].split()[-1]),
    }
    results = {"schema_version": "1.0", "results_digest": digest({"inputs": inputs, "outcome": outcome}),
               "inputs": inputs, "outcome": outcome, "context": context}
    path = run_dir / "results.json"
    path.write_text(json.dumps(to_jsonable(results), indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    with open(run_dir / "cases.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["case_id", "score", "decision", "label", "site", "manufacturer", "sex", "age"])
        for row in zip(case_ids[:2000], scores, decision, labels, sites, vendors, sexes, ages):
            w.writerow(row)
    return path


if __name__ == "__main__":  # regenerate the committed fixtures
    here = Path(__file__).parent / "fixtures"
    for t in ("classification", "segmentation", "detection"):
        print(build_run(here / t, t))

"""Render a run's ``results.json`` into an audit-ready report: self-contained HTML and a PDF.

The report reads only ``results.json`` and the files it names (gallery
thumbnails, embedded as ``data:`` URIs). Figures are inline SVG computed in
:mod:`reports.figures`; the jinja2 template only formats (``StrictUndefined``:
a field the template needs and the results lack fails loudly, autoescape on).

Determinism: the same ``results.json`` (and thumbnails) always give the same
HTML and PDF bytes — there is no timestamp other than those in results.json,
figure ids are fixed, and the PDF's dates come from ``SOURCE_DATE_EPOCH``
(:mod:`reports.pdf`).

Before rendering, the results digest is recomputed from ``inputs`` and
``outcome`` (docs/contracts.md: sha256 of canonical JSON of
``{inputs, outcome}``); a results.json whose digest does not match is refused
with :class:`~validation.errors.IntegrityError`, so a report is never issued
for edited results.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from validation.errors import InputError, IntegrityError
from validation.fileio import atomic_write_text
from validation.hashing import digest, sha256_file

from reports import figures
from reports.stard import checklist

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE = "validation_report.html.j2"
HTML_NAME = "report.html"
PDF_NAME = "report.pdf"

#: At most this many gallery thumbnails per kind (false negatives, false positives).
GALLERY_CAP = 12
#: At most this many strata rows per subgroup analysis and levels per baseline characteristic.
TABLE_CAP = 30
#: Thumbnails larger than this are refused (a gallery PNG is a few kB).
MAX_THUMBNAIL_BYTES = 512 * 1024

SUPPORTED_SCHEMA = "1."

METRIC_LABELS = {
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "ppv": "Positive predictive value (PPV)",
    "npv": "Negative predictive value (NPV)",
    "auc": "Area under the ROC curve (AUC)",
    "prevalence": "Prevalence (analysed cohort)",
    "dice": "Dice similarity coefficient",
    "hd95": "95th-percentile Hausdorff distance",
    "cpm": "Competition performance metric (CPM)",
    "lesion_sensitivity": "Lesion sensitivity",
    "accuracy": "Accuracy",
    "sensitivity_clustered": "Sensitivity (patient-clustered CI)",
    "specificity_clustered": "Specificity (patient-clustered CI)",
    "auc_clustered": "AUC (patient-clustered CI)",
    "ppv_at_prevalence": "PPV at the intended-use prevalence",
    "npv_at_prevalence": "NPV at the intended-use prevalence",
    "positive_likelihood_ratio": "Positive likelihood ratio (LR+)",
    "negative_likelihood_ratio": "Negative likelihood ratio (LR−)",
    "iou": "Intersection over union (IoU)",
    "hausdorff": "Hausdorff distance",
    "assd": "Average symmetric surface distance (ASSD)",
    "surface_dice": "Surface Dice",
}

# Fields every report reads; the task-specific ones are checked in _check_task_fields.
REQUIRED = (
    "schema_version", "results_digest",
    "inputs.protocol.id", "inputs.protocol.version", "inputs.protocol.title", "inputs.protocol.sha256",
    "inputs.protocol.path",
    "inputs.model.id", "inputs.model.version", "inputs.model.sha256", "inputs.model.opset",
    "inputs.model.task", "inputs.model.threshold", "inputs.model.runtime", "inputs.model.preprocessing",
    "inputs.cohort.id", "inputs.cohort.version", "inputs.cohort.digest", "inputs.cohort.n_cases",
    "inputs.seed", "inputs.mode",
    "outcome.verdict", "outcome.criteria", "outcome.flow.eligible", "outcome.flow.excluded",
    "outcome.flow.indeterminate", "outcome.flow.analysed", "outcome.flow.positive", "outcome.flow.negative",
    "outcome.subgroups", "outcome.data_quality.success", "outcome.data_quality.suite",
    "outcome.data_quality.results", "outcome.error_analysis.false_negatives",
    "outcome.error_analysis.false_positives", "outcome.baseline.columns", "outcome.baseline.n",
    "outcome.deviations",
    "context.run_id", "context.operator", "context.started_at", "context.finished_at",
    "context.environment.python", "context.environment.platform", "context.environment.packages",
    "context.environment.code_version",
    "context.protocol_lock",
    "context.cohort_description.description", "context.cohort_description.label_definition",
    "context.cohort_description.reference_standard", "context.cohort_description.inclusion_criteria",
    "context.cohort_description.sequestered", "context.cohort_description.source",
    "context.cohort_description.modality",
    "context.model_card", "context.exposure.count", "context.exposure.by_models", "context.exposure.limit",
    "context.exposure.warning", "context.audit.run_entry", "context.audit.chain_verified",
    "context.protocol_text",
)
CRITERION_FIELDS = ("endpoint", "role", "metric", "estimate", "lower", "upper", "confidence_level",
                    "method", "n", "criterion", "passed")
STRATUM_FIELDS = ("level", "n", "estimate", "lower", "upper", "small", "p_adjusted")
SUBGROUP_FIELDS = ("analysis", "column", "prespecified", "metric", "multiplicity", "heterogeneity", "strata")
GALLERY_FIELDS = ("case_id", "score", "thumbnail")


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """The files one render wrote.

    Attributes
    ----------
    html, pdf : Path
        ``report.html`` (self-contained) and ``report.pdf``.
    sha256s : dict
        File name → hex sha256 of its bytes, for ``report.issue`` audit entries.
    run_id, results_digest : str
        The run and results the report was rendered from.
    """

    html: Path
    pdf: Path
    sha256s: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    results_digest: str = ""

    def to_dict(self) -> dict:
        return {"html": self.html.as_posix(), "pdf": self.pdf.as_posix(), "sha256s": dict(self.sha256s),
                "run_id": self.run_id, "results_digest": self.results_digest}


# ----------------------------------------------------------------- formatting


def _is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, str) and x in ("nan", "inf", "-inf")) or (
        isinstance(x, float) and not math.isfinite(x))


def fmt_num(x: Any, digits: int = 3) -> str:
    """A number at fixed precision; ``n/a`` for undefined (None, NaN spelled "nan")."""
    if _is_missing(x):
        return "n/a"
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"expected a number; got {x!r}")
    return f"{float(x):.{digits}f}"


def fmt_ci(d: dict, digits: int = 3) -> str:
    """``estimate (lower–upper)`` from an Interval-like dict."""
    return f"{fmt_num(d['estimate'], digits)} ({fmt_num(d['lower'], digits)}–{fmt_num(d['upper'], digits)})"


def fmt_count(n: Any) -> str:
    """An integer with thousands separators."""
    if _is_missing(n):
        return "n/a"
    if isinstance(n, bool) or not isinstance(n, (int, float)) or float(n) != int(n):
        raise TypeError(f"expected a count; got {n!r}")
    return f"{int(n):,}"


def fmt_pct(x: Any, digits: int = 1) -> str:
    """A proportion as a percentage."""
    return "n/a" if _is_missing(x) else f"{100 * float(x):.{digits}f}%"


def fmt_level(x: Any) -> str:
    """A confidence level as a percentage without trailing zeros (0.95 -> 95%)."""
    return f"{100 * float(x):g}%"


def fmt_criterion(text: str | None) -> str:
    """``lower_bound >= 0.80`` → ``lower CI bound ≥ 0.80`` (wording only; the value is unchanged)."""
    if text is None:
        return "none (reported only)"
    out = text.replace("lower_bound", "lower CI bound").replace("upper_bound", "upper CI bound")
    return out.replace(">=", "≥").replace("<=", "≤")


def metric_label(name: str) -> str:
    return METRIC_LABELS.get(name, name.replace("_", " "))


# ------------------------------------------------------------------ loading


def _get(obj: Any, dotted: str) -> Any:
    cur = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise KeyError(part)
        cur = cur[part]
    return cur


def _require(results: dict, dotted: str, where: str) -> Any:
    try:
        return _get(results, dotted)
    except KeyError:
        raise InputError(f"{where}: field '{dotted}' is missing (the report needs it)") from None


def load_results(run_dir: str | Path) -> dict:
    """Read and check ``RUN_DIR/results.json``; refuse a missing field or a digest mismatch."""
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise InputError(f"{path}: results.json not found (is '{run_dir}' a run directory?)")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(results, dict):
        raise InputError(f"{path}: expected a JSON object at top level; got {type(results).__name__}")
    for dotted in REQUIRED:
        _require(results, dotted, str(path))
    version = str(results["schema_version"])
    if not version.startswith(SUPPORTED_SCHEMA):
        raise InputError(f"{path}: field 'schema_version': expected {SUPPORTED_SCHEMA}x; got {version!r}")
    recomputed = digest({"inputs": results["inputs"], "outcome": results["outcome"]})
    if recomputed != results["results_digest"]:
        raise IntegrityError(
            f"{path}: field 'results_digest' is {results['results_digest']!r} but inputs+outcome hash to "
            f"{recomputed!r}: results.json was altered after the run; refusing to issue a report")
    if results["outcome"]["verdict"] not in ("PASS", "FAIL"):
        raise InputError(f"{path}: field 'outcome.verdict': expected 'PASS' or 'FAIL'; "
                         f"got {results['outcome']['verdict']!r}")
    if results["inputs"]["mode"] not in ("regulatory", "exploratory"):
        raise InputError(f"{path}: field 'inputs.mode': expected 'regulatory' or 'exploratory'; "
                         f"got {results['inputs']['mode']!r}")
    lock = results["context"]["protocol_lock"]
    if lock is None and results["inputs"]["mode"] == "regulatory":
        raise InputError(f"{path}: field 'context.protocol_lock' is null in a regulatory run "
                         "(a regulatory run needs the protocol's lock entry)")
    if lock is not None:
        for key in ("locked_at", "locked_by", "audit_entry"):
            _require(results, f"context.protocol_lock.{key}", str(path))
    _check_lists(results, str(path))
    _check_task_fields(results, str(path))
    return results


def _check_lists(results: dict, where: str) -> None:
    out = results["outcome"]
    if not isinstance(out["criteria"], list) or not out["criteria"]:
        raise InputError(f"{where}: field 'outcome.criteria': expected a non-empty list; got {out['criteria']!r}")
    for i, c in enumerate(out["criteria"]):
        for key in CRITERION_FIELDS:
            if key not in c:
                raise InputError(f"{where}: field 'outcome.criteria[{i}].{key}' is missing")
        if c["passed"] not in (True, False, None):
            raise InputError(f"{where}: field 'outcome.criteria[{i}].passed': expected true, false or null "
                             f"(report-only); got {c['passed']!r}")
    for i, g in enumerate(out["subgroups"]):
        for key in SUBGROUP_FIELDS:
            if key not in g:
                raise InputError(f"{where}: field 'outcome.subgroups[{i}].{key}' is missing")
        for j, s in enumerate(g["strata"]):
            for key in STRATUM_FIELDS:
                if key not in s:
                    raise InputError(f"{where}: field 'outcome.subgroups[{i}].strata[{j}].{key}' is missing")
    for kind in ("false_negatives", "false_positives"):
        for i, item in enumerate(out["error_analysis"][kind]):
            for key in GALLERY_FIELDS:
                if key not in item:
                    raise InputError(f"{where}: field 'outcome.error_analysis.{kind}[{i}].{key}' is missing")
    for i, r in enumerate(out["flow"]["excluded"]):
        for key in ("reason", "n"):
            if key not in r:
                raise InputError(f"{where}: field 'outcome.flow.excluded[{i}].{key}' is missing")
    for i, r in enumerate(out["data_quality"]["results"]):
        for key in ("expectation", "success"):
            if key not in r:
                raise InputError(f"{where}: field 'outcome.data_quality.results[{i}].{key}' is missing")


def _check_task_fields(results: dict, where: str) -> None:
    out = results["outcome"]
    has = {k: k in out for k in ("confusion", "segmentation", "detection")}
    if not any(has.values()):
        raise InputError(f"{where}: field 'outcome': expected at least one of 'confusion' (classification), "
                         "'segmentation' or 'detection'; found none")
    needed = []
    if has["confusion"]:
        needed += ["outcome.confusion.threshold", "outcome.confusion.tp", "outcome.confusion.fp",
                   "outcome.confusion.fn", "outcome.confusion.tn", "outcome.metrics.sensitivity",
                   "outcome.metrics.specificity", "outcome.metrics.ppv", "outcome.metrics.npv",
                   "outcome.metrics.prevalence", "outcome.metrics.auc", "outcome.curves.roc.fpr",
                   "outcome.curves.roc.tpr", "outcome.curves.roc.fpr_grid", "outcome.curves.roc.lower", "outcome.curves.roc.upper",
                   "outcome.curves.calibration.mean_predicted", "outcome.curves.calibration.observed",
                   "outcome.curves.calibration.lower", "outcome.curves.calibration.upper",
                   "outcome.curves.calibration.n"]
    if has["segmentation"]:
        needed += ["outcome.segmentation.unit", "outcome.segmentation.empty_mask_convention"]
        for m in ("dice", "hd95"):
            needed += [f"outcome.segmentation.metrics.{m}.{k}" for k in ("estimate", "n", "n_undefined", "unit")]
    if has["detection"]:
        needed += ["outcome.detection.unit", "outcome.detection.n_lesions", "outcome.detection.n_images",
                   "outcome.detection.hit_criterion", "outcome.detection.lesion_sensitivity",
                   "outcome.detection.cpm", "outcome.curves.froc.fp_per_image", "outcome.curves.froc.sensitivity"]
    for dotted in needed:
        _require(results, dotted, where)


# ------------------------------------------------------------------ view model


def _data_uri(run_dir: Path, rel: str, *, field_name: str, results_path: Path) -> str:
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts:
        raise InputError(f"{results_path}: field '{field_name}': expected a path inside the run directory; "
                         f"got {rel!r}")
    full = run_dir / p
    if not full.is_file():
        raise InputError(f"{results_path}: field '{field_name}': file {full} not found")
    data = full.read_bytes()
    if len(data) > MAX_THUMBNAIL_BYTES:
        raise InputError(f"{results_path}: field '{field_name}': {full} is {len(data)} bytes; thumbnails are "
                         f"capped at {MAX_THUMBNAIL_BYTES}")
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise InputError(f"{results_path}: field '{field_name}': {full} is not a PNG file")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _gallery(results: dict, run_dir: Path, results_path: Path) -> dict:
    ea = results["outcome"]["error_analysis"]
    view: dict[str, Any] = {}
    view["score_meaning"] = str(ea.get("score_meaning", "the model's score"))
    for kind, total_key in (("false_negatives", "n_false_negatives"), ("false_positives", "n_false_positives")):
        items = []
        for i, item in enumerate(ea[kind][:GALLERY_CAP]):
            items.append({"case_id": str(item["case_id"]), "score": item["score"],
                          "src": _data_uri(run_dir, item["thumbnail"], results_path=results_path,
                                           field_name=f"outcome.error_analysis.{kind}[{i}].thumbnail")})
        view[kind] = {"items": items, "total": ea.get(total_key, len(ea[kind])), "listed": len(ea[kind])}
    return view


def _baseline_rows(b: dict) -> list[dict]:
    """Rows of the baseline table: label + one formatted cell per column (counts with column %)."""
    cols = b["columns"]
    rows = [{"label": "Cases, n", "cells": [fmt_count(b["n"][c]) for c in cols], "kind": "total"}]
    if "patients" in b:
        rows.append({"label": "Patients, n", "cells": [fmt_count(b["patients"][c]) for c in cols], "kind": "total"})
    if "age" in b:
        ages = b["age"]
        rows.append({"label": "Age, years", "cells": ["" for _ in cols], "kind": "head"})
        rows.append({"label": "mean (SD)", "kind": "sub",
                     "cells": [f"{fmt_num(ages[c].get('mean'), 1)} ({fmt_num(ages[c].get('sd'), 1)})" for c in cols]})
        rows.append({"label": "median [IQR]", "kind": "sub",
                     "cells": [f"{fmt_num(ages[c].get('median'), 0)} [{fmt_num(ages[c].get('q1'), 0)}–"
                               f"{fmt_num(ages[c].get('q3'), 0)}]" for c in cols]})
        if any(ages[c].get("missing", 0) for c in cols):
            rows.append({"label": "missing", "kind": "sub", "cells": [fmt_count(ages[c].get("missing", 0)) for c in cols]})
    for name, label in (("sex", "Sex"), ("site", "Site"), ("manufacturer", "Manufacturer")):
        if name not in b:
            continue
        levels = b[name]
        rows.append({"label": f"{label}, n (%)", "cells": ["" for _ in cols], "kind": "head"})
        for lv in levels[:TABLE_CAP]:
            cells = []
            for c in cols:
                n = b["n"][c]
                cells.append(f"{fmt_count(lv[c])} ({fmt_pct(lv[c] / n if n else None)})")
            rows.append({"label": str(lv["level"]), "cells": cells, "kind": "sub"})
        if len(levels) > TABLE_CAP:
            rows.append({"label": f"… {len(levels) - TABLE_CAP} further levels in results.json", "kind": "sub",
                         "cells": ["" for _ in cols]})
    return rows


def _subgroups(results: dict) -> list[dict]:
    metrics = results["outcome"].get("metrics", {})
    view = []
    for i, g in enumerate(results["outcome"]["subgroups"]):
        strata = g["strata"]
        shown = strata[:TABLE_CAP]
        overall = metrics.get(g["metric"], {}).get("estimate")
        overall = None if _is_missing(overall) else overall
        svg = figures.forest_figure(shown, name=f"sg{i}", overall=overall,
                                    metric_label=f"{metric_label(g['metric'])} ({fmt_level(g.get('confidence_level', 0.95))} CI)")
        view.append({"g": g, "strata": shown, "hidden": len(strata) - len(shown), "svg": svg,
                     "heterogeneity": _heterogeneity(g["heterogeneity"]),
                     "n_small": sum(1 for s in strata if s["small"]), "overall": overall})
    return view


def _limitations(results: dict) -> list[str]:
    """Limitations the results themselves show, then any the runner listed."""
    out, ctx = results["outcome"], results["context"]
    notes = []
    if results["inputs"]["mode"] == "exploratory":
        notes.append("This is an EXPLORATORY run: its results are not confirmatory and may not be used "
                     "to claim that the acceptance criteria were met.")
    if ctx["exposure"]["warning"]:
        notes.append(f"Test-set exposure: {ctx['exposure']['warning']}")
    ind = out["flow"]["indeterminate"]
    if ind:
        notes.append(f"{fmt_count(ind)} case(s) had an indeterminate index-test result; they are counted in the "
                     "flow diagram (§5) and not silently dropped.")
    n_small = sum(1 for g in out["subgroups"] for s in g["strata"] if s["small"])
    if n_small:
        notes.append(f"{n_small} subgroup stratum/strata fall below the protocol's minimum size; their estimates "
                     "are imprecise and flagged in §7.")
    if "confusion" in out:
        notes.append(f"PPV and NPV depend on prevalence; they are stated at the analysed cohort's prevalence "
                     f"({fmt_pct(out['metrics']['prevalence']['estimate'])}), which may differ from the "
                     "intended-use population.")
    if not out["data_quality"]["success"]:
        notes.append("The data-quality gate did not pass; see the gate results below.")
    if not ctx["audit"]["chain_verified"]:
        notes.append("The audit chain did not verify at the time of the run (Appendix C).")
    for item in out.get("limitations", []):
        notes.append(str(item))
    return notes


def _deviations(results: dict) -> list[dict]:
    rows = []
    for i, d in enumerate(results["outcome"]["deviations"]):
        if isinstance(d, str):
            rows.append({"description": d, "impact": "", "kind": ""})
        elif isinstance(d, dict) and ("description" in d or "text" in d):
            rows.append({"description": str(d.get("description", d.get("text"))),
                         "impact": str(d.get("impact", "")), "kind": str(d.get("kind", ""))})
        else:
            raise InputError(f"results.json: field 'outcome.deviations[{i}]': expected a string or an object "
                             f"with 'text' or 'description'; got {d!r}")
    return rows


def _quality_rows(dq: dict) -> list[dict]:
    """Data-quality gate rows: expectation, column, what was observed, success."""
    rows = []
    for r in dq["results"]:
        parts = []
        if r.get("observed"):
            parts.append(str(r["observed"]))
        if r.get("description"):
            parts.append(str(r["description"]))
        if r.get("unexpected_count") is not None and ("unexpected_count" in r):
            parts.append(f"{fmt_count(r['unexpected_count'])} unexpected")
        if r.get("unexpected_case_ids"):
            ids = [str(x) for x in r["unexpected_case_ids"][:5]]
            more = len(r["unexpected_case_ids"]) - len(ids)
            parts.append("cases " + ", ".join(ids) + (f" (+{more})" if more > 0 else ""))
        if r.get("error"):
            parts.append(f"error: {r['error']}")
        rows.append({"expectation": str(r["expectation"]), "column": "" if r.get("column") is None else str(r["column"]),
                     "detail": "; ".join(parts), "success": bool(r["success"])})
    return rows


def fmt_mapping(obj: Any) -> str:
    """A dict as ``key value, key value`` (sorted); anything else as text."""
    if isinstance(obj, dict):
        return ", ".join(f"{k} {fmt_mapping(v)}" for k, v in sorted(obj.items()))
    if isinstance(obj, (list, tuple)):
        return ", ".join(fmt_mapping(v) for v in obj)
    return str(obj)


def _heterogeneity(h: Any) -> str:
    if not h:
        return ""
    if not isinstance(h, dict):
        return str(h)
    parts = [str(h["method"])] if h.get("method") else []
    if not _is_missing(h.get("statistic")) and h.get("statistic") is not None:
        parts.append(f"statistic {fmt_num(h['statistic'], 2)}" + (f" (df {h['df']})" if h.get("df") is not None else ""))
    if h.get("p_value") is not None:
        parts.append(f"p = {fmt_num(h['p_value'], 3)}")
    if not _is_missing(h.get("i_squared")) and h.get("i_squared") is not None:
        parts.append(f"I² = {fmt_pct(h['i_squared'], 0)}")
    rest = {k: v for k, v in h.items() if k not in ("method", "statistic", "df", "p_value", "i_squared", "k")}
    if rest:
        parts.append(fmt_mapping(rest))
    return ", ".join(parts)


def _model_card_html(markdown_text: str):
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    md = MarkdownIt("commonmark", {"html": False}).enable("table")  # raw HTML escaped; model cards use tables
    html = md.render(markdown_text)
    # Demote headings by two levels so the card sits under §3's heading.
    html = re.sub(r"<(/?)h([1-4])>", lambda m: f"<{m.group(1)}h{min(int(m.group(2)) + 2, 6)}>", html)
    return Markup(html)


def _identity_versions(env: dict) -> str:
    pk = env["packages"]
    names = [n for n in ("medval", "onnxruntime", "numpy", "scipy") if n in pk]
    parts = [f"Python {env['python']}"] + [f"{n} {pk[n]}" for n in names]
    return ", ".join(parts)


def _flow_svg(results: dict) -> str:
    out = results["outcome"]
    return figures.flow_diagram(out["flow"], confusion=out.get("confusion"))


def build_view(results: dict, run_dir: Path) -> dict:
    """Everything the template shows that is not a plain field of results.json.

    Figures (SVG strings), sorted criteria, formatted table rows, gallery data
    URIs, the STARD checklist. Pure: the same results give the same view.
    """
    from markupsafe import Markup

    results_path = run_dir / "results.json"
    out, ctx = results["outcome"], results["context"]
    criteria = sorted(out["criteria"], key=lambda c: 0 if c["role"] == "primary" else 1)
    view: dict[str, Any] = {
        "criteria": criteria,
        "n_failed": sum(1 for c in criteria if c["passed"] is False),
        "n_judged": sum(1 for c in criteria if c["passed"] is not None),
        "exploratory": results["inputs"]["mode"] == "exploratory",
        "software": _identity_versions(ctx["environment"]),
        "flow_svg": Markup(_flow_svg(results)),
        "baseline_rows": _baseline_rows(out["baseline"]),
        "baseline_headers": [{"positive": "Reference positive", "negative": "Reference negative",
                              "all": "All"}.get(c, str(c)) for c in out["baseline"]["columns"]],
        "gallery": _gallery(results, run_dir, results_path),
        "gallery_cap": GALLERY_CAP,
        "table_cap": TABLE_CAP,
        "subgroups": [],
        "limitations": _limitations(results),
        "deviations": _deviations(results),
        "model_card": _model_card_html(ctx["model_card"]) if ctx["model_card"].strip() else None,
        "quality_rows": _quality_rows(out["data_quality"]),
        "cohort_source": fmt_mapping(ctx["cohort_description"]["source"]),
        "exposure_models": [fmt_mapping(m) for m in ctx["exposure"]["by_models"]],
        "has_confusion": "confusion" in out,
        "has_segmentation": "segmentation" in out,
        "has_detection": "detection" in out,
    }
    for s in _subgroups(results):
        s["svg"] = Markup(s["svg"])
        view["subgroups"].append(s)
    if "confusion" in out:
        cm = out["confusion"]
        pos, neg = cm["tp"] + cm["fn"], cm["fp"] + cm["tn"]
        op = (cm["fp"] / neg, cm["tp"] / pos) if pos and neg else None
        auc = out["metrics"]["auc"]
        view["roc_svg"] = Markup(figures.roc_figure(out["curves"]["roc"], operating_point=op,
                                                    auc_label=f"AUC {fmt_num(auc['estimate'])}"))
        view["calibration_svg"] = Markup(figures.calibration_figure(out["curves"]["calibration"]))
        view["confusion_totals"] = {"pos": pos, "neg": neg, "test_pos": cm["tp"] + cm["fp"],
                                    "test_neg": cm["fn"] + cm["tn"], "all": pos + neg}
        main = ("sensitivity", "specificity", "ppv", "npv", "auc")
        view["metric_rows"] = [_metric_row(k, out["metrics"][k]) for k in main] + [
            _metric_row(k, v) for k, v in sorted(out["metrics"].items()) if k not in main and k != "prevalence"]
        view["indeterminate"] = _indeterminate(out.get("indeterminate"))
    if "segmentation" in out:
        seg = out["segmentation"]["metrics"]
        view["seg_rows"] = [_metric_row(k, m, unit=m.get("unit", "")) for k, m in seg.items()]
        ref = {c["metric"]: float(c["criterion"].split()[-1]) for c in criteria
               if c["metric"] in seg and c["criterion"] and _is_number(c["criterion"].split()[-1])}
        view["seg_svgs"] = {
            m: Markup(figures.distribution_figure(
                seg[m]["values"], name=m,
                label=metric_label(m) + (f" ({seg[m]['unit']})" if seg[m]["unit"] else ""),
                reference=ref.get(m), reference_label="criterion threshold (judged on the CI bound of the mean)" if m in ref else None))
            for m in ("dice", "hd95") if seg[m].get("values")}
    if "detection" in out:
        view["froc_svg"] = Markup(figures.froc_figure(out["curves"]["froc"],
                                                      points=out["detection"]["lesion_sensitivity"]))
    protocol_text = ctx["protocol_text"]
    view["stard"] = checklist(has_confusion="confusion" in out, has_subgroups=bool(out["subgroups"]),
                              has_sample_size=bool(re.search(r"^\s*sample_size\s*:", protocol_text, re.M)))
    view["prespecified"] = [s for s in view["subgroups"] if s["g"]["prespecified"]]
    view["exploratory_sg"] = [s for s in view["subgroups"] if not s["g"]["prespecified"]]
    return view


def _metric_row(key: str, m: dict, *, unit: str = "") -> dict:
    """One row of a metrics table; bounds, method and n are shown as given or as 'not estimated'."""
    if not isinstance(m, dict) or "estimate" not in m:
        raise InputError(f"results.json: metric '{key}': expected an object with 'estimate'; got {m!r}")
    has_ci = "lower" in m and "upper" in m
    med = (f"{fmt_num(m['median'])} [{fmt_num(m['q1'])}–{fmt_num(m['q3'])}]"
           if all(k in m for k in ("median", "q1", "q3")) else "")
    return {"key": key, "label": metric_label(key) + (f" ({unit})" if unit else ""),
            "estimate": fmt_num(m["estimate"]),
            "ci": f"{fmt_num(m['lower'])}–{fmt_num(m['upper'])}" if has_ci else "not estimated",
            "level": fmt_level(m["confidence_level"]) if not _is_missing(m.get("confidence_level")) else "",
            "method": str(m.get("method", "")), "n": fmt_count(m["n"]) if "n" in m else "",
            "median": med, "n_undefined": fmt_count(m["n_undefined"]) if "n_undefined" in m else ""}


def _indeterminate(ind: Any) -> dict | None:
    """Indeterminate index-test results and their effect (FDA 2007: counted both ways, never dropped)."""
    if not ind:
        return None
    rows = []
    for name, label in (("as_positive", "counted as test-positive"), ("as_negative", "counted as test-negative")):
        if name in ind:
            rows.append({"label": label, "sensitivity": fmt_ci(ind[name]["sensitivity"]),
                         "specificity": fmt_ci(ind[name]["specificity"])})
    return {"n": fmt_count(ind.get("n", 0)), "convention": str(ind.get("convention", "")), "rows": rows}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------ rendering


def issue_report(run_dir: str | Path, *, out_dir: str | Path | None = None, audit_db: str | Path | None = None,
                 actor: str | None = None):
    """Render and record the issue in the audit store; see :func:`reports.issuance.issue_report`."""
    from reports.issuance import issue_report as _issue

    return _issue(run_dir, out_dir=out_dir, audit_db=audit_db, actor=actor)


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(mapping=fmt_mapping, num=fmt_num, ci=fmt_ci, count=fmt_count, pct=fmt_pct, level=fmt_level,
                       criterion=fmt_criterion, metric_label=metric_label)
    return env


def render_html(results: dict, run_dir: str | Path) -> str:
    """The report's HTML text for already-loaded ``results`` (see :func:`load_results`)."""
    import jinja2

    run_dir = Path(run_dir)
    view = build_view(results, run_dir)
    css = (TEMPLATE_DIR / "report.css").read_text(encoding="utf-8")
    try:
        return _environment().get_template(TEMPLATE).render(r=results, v=view, css=css)
    except jinja2.UndefinedError as exc:
        raise InputError(f"{run_dir / 'results.json'}: a field the report needs is missing: {exc.message}") from None


def render_report(run_dir: str | Path, *, out_dir: str | Path | None = None) -> ReportFiles:
    """Render ``RUN_DIR/results.json`` to ``report.html`` and ``report.pdf``.

    Parameters
    ----------
    run_dir : path
        A run directory written by ``medval validate``.
    out_dir : path, optional
        Where to write the report (default: ``run_dir``).

    Returns
    -------
    ReportFiles
        The two paths and their sha256s.

    Raises
    ------
    InputError
        results.json is missing, malformed, lacks a field the report reads, or
        names a thumbnail that is missing or not a PNG.
    IntegrityError
        results.json's ``results_digest`` does not match its content.
    """
    from reports.pdf import write_pdf

    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir
    results = load_results(run_dir)
    html = render_html(results, run_dir)
    html_path = atomic_write_text(out / HTML_NAME, html)
    pdf_path = write_pdf(html, out / PDF_NAME, base_url=run_dir)
    return ReportFiles(html=html_path, pdf=pdf_path,
                       sha256s={HTML_NAME: sha256_file(html_path), PDF_NAME: sha256_file(pdf_path)},
                       run_id=str(results["context"]["run_id"]), results_digest=results["results_digest"])

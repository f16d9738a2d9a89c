"""The monitoring report: HTML + PDF rendered from ``monitoring.json`` only.

What a post-market surveillance file needs from one monitoring period
(REGULATORY.md, item 12): the plan and its hash, the period covered, what
drifted and when, estimated (CBPE) and realised performance against the
validated bounds, the control charts with their alarm design (in-control ARL),
which alarms fired and in which window, and how many log records were
excluded and why. Figures are deterministic inline SVG (matplotlib, fixed
hash salt, no metadata); the template places them and formats numbers; the
numbers come from the monitor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2

from reports.figures import svg_string
from reports.pdf import write_pdf
from validation.errors import InputError
from validation.fileio import atomic_write_text

TEMPLATES = Path(__file__).resolve().parent / "templates"

_RC = {
    "svg.hashsalt": "medval-monitoring-report",
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "lines.linewidth": 1.4,
    "path.simplify": False,
}
_BLUE, _GREEN, _RED, _GREY, _ORANGE = "#1f5f99", "#1b7f3b", "#b3261e", "#6b7785", "#b86e00"


def _fig(width: float, height: float):
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasSVG(fig)
    return fig


def _nan(v: Any) -> float:
    return float("nan") if v is None or isinstance(v, str) else float(v)


def performance_figure(data: dict) -> str:
    """Estimated (CBPE, band) and realised (Wilson CI) sensitivity/specificity per window, with limits."""
    import matplotlib

    ws = data["windows"]
    x = list(range(len(ws)))
    with matplotlib.rc_context(_RC):
        fig = _fig(7.0, 2.8)
        ax = fig.add_subplot(111)
        for m, color in (("sensitivity", _BLUE), ("specificity", _GREEN)):
            est = [(w.get("estimated_performance") or {}).get("metrics", {}).get(m, {}) for w in ws]
            lo = [_nan(e.get("lower")) for e in est]
            hi = [_nan(e.get("upper")) for e in est]
            ax.fill_between(x, lo, hi, color=color, alpha=0.15, linewidth=0)
            ax.plot(x, [_nan(e.get("estimate")) for e in est], "-o", color=color, markersize=3, label=f"estimated {m} (CBPE)")
            real = [((w.get("realised_performance") or {}).get("metrics", {}).get(m)) for w in ws]
            xr = [i for i, r in zip(x, real) if r]
            rr = [r for r in real if r]
            if rr:
                est_r = [_nan(r["estimate"]) for r in rr]
                ax.errorbar(
                    xr,
                    est_r,
                    yerr=[[e - _nan(r["lower"]) for e, r in zip(est_r, rr)], [_nan(r["upper"]) - e for e, r in zip(est_r, rr)]],
                    fmt="D",
                    color=color,
                    markersize=3.5,
                    capsize=2,
                    linewidth=0.8,
                    label=f"realised {m} (95% CI)",
                )
            lim = data["reference"]["limits"].get(m)
            if lim is not None:
                ax.axhline(lim, color=color, linestyle="--", linewidth=0.8)
        ax.set_xticks(x, [w["id"] for w in ws], rotation=30, ha="right")
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("proportion")
        ax.legend(loc="lower left", ncol=2)
        fig.tight_layout()
        return svg_string(fig, "mon-performance")


def chart_figure(chart: dict, index: int) -> str:
    """One control chart: its statistic(s) per window, the decision limit(s), alarms in red."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _fig(3.4, 2.2)
        ax = fig.add_subplot(111)
        x = list(range(len(chart["windows"])))
        alarms = set(chart["alarm_indices"])
        for k, (name, ys) in enumerate(chart["series"].items()):
            vals = [_nan(v) for v in ys]
            color = (_BLUE, _ORANGE)[k % 2]
            ax.plot(x, vals, "-o", color=color, markersize=3, label=name)
            ax.plot([i for i in x if i in alarms], [vals[i] for i in x if i in alarms], "o", color=_RED, markersize=5)
        for name, v in chart["limits"].items():
            if v is not None:
                ax.axhline(float(v), color=_RED, linestyle="--", linewidth=0.8)
        ax.set_xticks(x, chart["windows"], rotation=30, ha="right", fontsize=6)
        ax.set_title(f"{chart['kind'].upper()}: {chart['statistic']}")
        ax.legend(loc="upper left")
        fig.tight_layout()
        return svg_string(fig, f"mon-chart-{index}")


def _drift_matrix(data: dict) -> tuple[list[str], list[dict]]:
    """Rows: each watched feature (+ embedding, outputs); columns: windows; cells: effect size and flag."""
    windows = [w for w in data["windows"] if w["tested"]]
    names: list[str] = []
    for w in windows:
        for r in (w.get("feature_drift") or {}).get("results", []):
            if r["feature"] not in names:
                names.append(r["feature"])
    rows = []
    for name in names:
        cells = []
        for w in windows:
            r = next((r for r in w["feature_drift"]["results"] if r["feature"] == name), None)
            cells.append(None if r is None else {"effect": r["effect_size"], "drifted": r["drifted"]})
        rows.append({"feature": name, "cells": cells, "any": any(c and c["drifted"] for c in cells)})
    emb = [w.get("embedding_drift") for w in windows]
    if any(emb):
        rows.append(
            {
                "feature": "embedding (MMD)",
                "cells": [None if e is None else {"effect": e["effect_size"], "drifted": e["drifted"]} for e in emb],
                "any": any(e and e["drifted"] for e in emb),
            }
        )
    for k, label in ((0, "output: score distribution"), (1, "output: positive rate")):
        outs = [(w.get("output_drift") or [None, None])[k] for w in windows]
        if any(outs):
            rows.append(
                {
                    "feature": label,
                    "cells": [None if o is None else {"effect": o["effect_size"], "drifted": o["drifted"]} for o in outs],
                    "any": any(o and o["drifted"] for o in outs),
                }
            )
    return [w["id"] for w in windows], rows


def build_context(data: dict) -> dict:
    """Everything the template places: the data, figures, the drift matrix."""
    window_ids, drift_rows = _drift_matrix(data)
    return {
        "d": data,
        "performance_svg": performance_figure(data) if data["windows"] else "",
        "chart_svgs": [chart_figure(c, i) for i, c in enumerate(data.get("charts", []))],
        "drift_windows": window_ids,
        "drift_rows": drift_rows,
    }


def _env() -> jinja2.Environment:
    from reports.render import fmt_num

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_num
    return env


def render_monitoring_html(data: dict) -> str:
    """The report's HTML text for a monitoring result (``monitoring.json`` content)."""
    for key in ("plan", "reference", "windows", "alerts", "summary", "period", "monitoring_digest"):
        if key not in data:
            raise InputError(f"monitoring.json: missing top-level field '{key}'")
    css = (TEMPLATES / "monitoring_style.html.j2").read_text(encoding="utf-8")
    return _env().get_template("monitoring.html.j2").render(**build_context(data), css=css)


def render_monitoring_report(
    monitor_dir: str | Path, *, out_dir: str | Path | None = None, pdf: bool = True
) -> tuple[Path, Path | None]:
    """Render ``monitoring_report.html`` (+ ``.pdf``) from ``MONITOR_DIR/monitoring.json``.

    Returns
    -------
    (html_path, pdf_path or None)
    """
    monitor_dir = Path(monitor_dir)
    src = monitor_dir / "monitoring.json"
    if not src.is_file():
        raise InputError(f"{src}: no monitoring.json (run `medval monitor` first)")
    try:
        data = json.loads(src.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{src}: unreadable ({exc})") from None
    out = Path(out_dir) if out_dir is not None else monitor_dir
    html = render_monitoring_html(data)
    html_path = atomic_write_text(out / "monitoring_report.html", html)
    pdf_path = write_pdf(html, out / "monitoring_report.pdf", base_url=out) if pdf else None
    return html_path, pdf_path

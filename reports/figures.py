"""Figures for the validation report: deterministic inline SVG, computed from results.json only.

Every figure is vector (matplotlib's SVG backend, text kept as text) so it
stays sharp in the HTML and in the PDF, and byte-identical on rerun:

* ``svg.hashsalt`` is fixed, so matplotlib's clip-path ids do not depend on
  the process; the ``<metadata>`` block (creation date, tool) is removed;
* every ``id`` is prefixed with the figure's own name, so that several SVGs
  inlined in one HTML document never share an id (a shared clip-path id would
  clip one figure with another's rectangle);
* long curves (ROC, FROC) are thinned to a bounded number of points by
  :func:`thin_curve` before plotting, so a 100,000-case ROC costs the same as
  a 500-case one.

The STARD flow diagram is drawn directly as SVG boxes and arrows.
Templates only place these strings; they compute nothing.
"""

from __future__ import annotations

import io
import math
import re
from html import escape

import numpy as np

#: Largest number of points kept from a curve for plotting.
MAX_CURVE_POINTS = 400

FONT = "DejaVu Sans"
_INK = "#1f2933"
_BLUE = "#1f5f99"
_BAND = "#9cc3e6"
_RED = "#b3261e"
_GREY = "#6b7785"

_RC = {
    "svg.hashsalt": "medval-report",
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": [FONT],
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "axes.edgecolor": _INK,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "lines.linewidth": 1.4,
    "path.simplify": False,
}


def _new_figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in))
    FigureCanvasSVG(fig)
    return fig


def svg_string(fig, name: str) -> str:
    """Serialise a matplotlib figure as an inline-ready, deterministic SVG string.

    The XML declaration, DOCTYPE, comments and ``<metadata>`` are dropped and
    every id (and reference to it) is prefixed with ``name``.
    """
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = re.sub(r"<\?xml[^>]*\?>\s*", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>\s*", "", text)
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->\s*", "", text, flags=re.S)
    return _prefix_ids(text, name)


def _prefix_ids(svg: str, name: str) -> str:
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", name) + "-"
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", svg)
    svg = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', svg)
    return svg


def _render(fig_fn, name: str, *args, **kwargs) -> str:
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = fig_fn(*args, **kwargs)
        return svg_string(fig, name)


def _floats(values, *, field: str) -> np.ndarray:
    """Array of floats from JSON (where NaN is spelled "nan"); refuse non-numbers."""
    out = []
    for v in values:
        if v is None or (isinstance(v, str) and v in ("nan", "inf", "-inf")):
            out.append(float("nan") if v in (None, "nan") else float(v))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(float(v))
        else:
            raise ValueError(f"{field}: expected numbers; got {v!r}")
    return np.asarray(out, dtype=float)


def thin_curve(x, y, *, max_points: int = MAX_CURVE_POINTS) -> np.ndarray:
    """Indices of a monotone curve's points to keep so that at most ``max_points`` remain.

    A point is kept when it lies at least ``delta`` away (L1 distance, after
    scaling each axis to [0, 1]) from the last kept point; the first and last
    points are always kept. For a curve monotone in both coordinates (ROC,
    FROC) the scaled path length is at most 2, so at most ``2 / delta + 2``
    points survive; ``delta = 2 / (max_points - 2)`` gives the bound. Every
    dropped point lies within ``delta`` of a kept one, so the plotted curve
    differs from the full one by less than ``delta`` of each axis' range —
    below one printed line width at the default 400 points.

    Parameters
    ----------
    x, y : array_like
        The curve's coordinates, in plotting order.
    max_points : int
        Upper bound on the number of indices returned (at least 4).

    Returns
    -------
    numpy.ndarray
        Sorted integer indices into ``x``/``y``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"'x' and 'y' must be 1-D of equal length; got {x.shape} and {y.shape}")
    if max_points < 4:
        raise ValueError(f"'max_points' must be at least 4; got {max_points}")
    n = x.size
    if n <= max_points:
        return np.arange(n)
    finite = np.isfinite(x) & np.isfinite(y)
    xs, ys = x[finite], y[finite]
    if xs.size == 0:
        return np.arange(min(n, max_points))
    span_x = float(np.ptp(xs)) or 1.0
    span_y = float(np.ptp(ys)) or 1.0
    sx = np.where(finite, (x - xs.min()) / span_x, np.nan)
    sy = np.where(finite, (y - ys.min()) / span_y, np.nan)
    delta = 2.0 / (max_points - 2)
    keep = [0]
    lx, ly = sx[0], sy[0]
    # Walk the curve once; a compiled loop is not needed: the walk is O(n) with a
    # cheap body, and 100,000 points take well under a second.
    for i in range(1, n - 1):
        xi, yi = sx[i], sy[i]
        if not (xi == xi and yi == yi):  # NaN: skip, never plot
            continue
        if abs(xi - lx) + abs(yi - ly) >= delta:
            keep.append(i)
            lx, ly = xi, yi
    keep.append(n - 1)
    idx = np.asarray(keep, dtype=int)
    if idx.size > max_points:  # only for non-monotone input: fall back to even spacing
        idx = idx[np.linspace(0, idx.size - 1, max_points).round().astype(int)]
    return idx


# --------------------------------------------------------------------------- ROC


def _roc_fig(roc: dict, op: tuple[float, float] | None, auc_label: str | None):
    fpr = _floats(roc["fpr"], field="outcome.curves.roc.fpr")
    tpr = _floats(roc["tpr"], field="outcome.curves.roc.tpr")
    grid = _floats(roc["fpr_grid"], field="outcome.curves.roc.fpr_grid")
    lower = _floats(roc["lower"], field="outcome.curves.roc.lower")
    upper = _floats(roc["upper"], field="outcome.curves.roc.upper")
    if fpr.size != tpr.size:
        raise ValueError(f"outcome.curves.roc: fpr and tpr must have equal lengths; got {fpr.size} and {tpr.size}")
    if not (grid.size == lower.size == upper.size):
        raise ValueError("outcome.curves.roc: fpr_grid, lower and upper must have equal lengths; got "
                         f"{grid.size}, {lower.size}, {upper.size}")
    keep = thin_curve(fpr, tpr, max_points=MAX_CURVE_POINTS)
    gkeep = thin_curve(grid, np.nan_to_num(lower) + np.nan_to_num(upper), max_points=MAX_CURVE_POINTS)
    fig = _new_figure(3.3, 3.0)
    ax = fig.add_axes((0.16, 0.14, 0.78, 0.78))
    level = roc.get("confidence_level", 0.95)
    ax.fill_between(grid[gkeep], lower[gkeep], upper[gkeep], color=_BAND, alpha=0.6, lw=0,
                    label=f"{100 * float(level):g}% band")
    ax.step(fpr[keep], tpr[keep], where="post", color=_BLUE, label="ROC" + (f" ({auc_label})" if auc_label else ""))
    ax.plot([0, 1], [0, 1], ls=":", color=_GREY, lw=0.8)
    if op is not None:
        ax.plot([op[0]], [op[1]], marker="o", ms=6, mfc="white", mec=_RED, mew=1.6, ls="none",
                label="locked operating point")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("1 − specificity (false-positive rate)")
    ax.set_ylabel("Sensitivity (true-positive rate)")
    ax.set_aspect("equal")
    ax.legend(loc="lower right")
    return fig


def roc_figure(roc: dict, *, operating_point: tuple[float, float] | None = None,
               auc_label: str | None = None) -> str:
    """ROC curve with its confidence band and the locked operating point, as SVG."""
    return _render(_roc_fig, "fig-roc", roc, operating_point, auc_label)


# ------------------------------------------------------------------- calibration


def _calibration_fig(cal: dict):
    m = _floats(cal["mean_predicted"], field="outcome.curves.calibration.mean_predicted")
    o = _floats(cal["observed"], field="outcome.curves.calibration.observed")
    lo = _floats(cal["lower"], field="outcome.curves.calibration.lower")
    hi = _floats(cal["upper"], field="outcome.curves.calibration.upper")
    fig = _new_figure(3.3, 3.0)
    ax = fig.add_axes((0.16, 0.14, 0.78, 0.78))
    ax.plot([0, 1], [0, 1], ls=":", color=_GREY, lw=0.8, label="perfect calibration")
    ax.errorbar(m, o, yerr=[np.clip(o - lo, 0, None), np.clip(hi - o, 0, None)], fmt="o-", color=_BLUE,
                ms=3.5, lw=1.0, elinewidth=0.8, capsize=2, label="observed (95% CI)")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("Mean predicted probability")
    ax.set_ylabel("Observed fraction positive")
    ax.set_aspect("equal")
    ax.legend(loc="upper left")
    return fig


def calibration_figure(cal: dict) -> str:
    """Reliability diagram: observed fraction (with interval) against mean prediction per bin."""
    return _render(_calibration_fig, "fig-cal", cal)


# -------------------------------------------------------------------------- FROC


def _froc_fig(froc: dict, points: list[dict]):
    x = _floats(froc["fp_per_image"], field="outcome.curves.froc.fp_per_image")
    y = _floats(froc["sensitivity"], field="outcome.curves.froc.sensitivity")
    keep = thin_curve(x, y, max_points=MAX_CURVE_POINTS)
    fig = _new_figure(5.6, 2.9)
    ax = fig.add_axes((0.10, 0.16, 0.86, 0.78))
    ax.plot(x[keep], y[keep], color=_BLUE, label="FROC")
    if points:
        px = np.asarray([float(p["fp_per_image"]) for p in points])
        py = _floats([p["estimate"] for p in points], field="outcome.detection.lesion_sensitivity.estimate")
        plo = _floats([p["lower"] for p in points], field="outcome.detection.lesion_sensitivity.lower")
        phi = _floats([p["upper"] for p in points], field="outcome.detection.lesion_sensitivity.upper")
        ax.errorbar(px, py, yerr=[py - plo, phi - py], fmt="o", color=_RED, ms=3.5, capsize=2, elinewidth=0.8,
                    label="sensitivity at FP/image (95% CI)")
    positive = x[np.isfinite(x) & (x > 0)]
    if positive.size and positive.max() / positive.min() > 20:
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

        ax.set_xscale("log", base=2)
        lo, hi = max(positive.min(), 1 / 16), positive.max()
        ax.set_xlim(lo, hi)
        ticks = [2.0 ** k for k in range(math.floor(math.log2(lo)), math.ceil(math.log2(hi)) + 1)]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("Mean false positives per image")
    ax.set_ylabel("Lesion sensitivity")
    ax.grid(True, lw=0.3, color="#d5dbe1")
    ax.legend(loc="lower right")
    return fig


def froc_figure(froc: dict, *, points: list[dict] | None = None) -> str:
    """FROC curve (thinned) with the sensitivities at fixed FP/image rates, as SVG."""
    return _render(_froc_fig, "fig-froc", froc, points or [])


# ------------------------------------------------------------------ distributions


def _distribution_fig(values: np.ndarray, label: str, ref: float | None, ref_label: str | None):
    v = values[np.isfinite(values)]
    fig = _new_figure(3.3, 2.3)
    ax = fig.add_axes((0.15, 0.2, 0.8, 0.72))
    bins = 30 if v.size else 1
    if v.size:
        counts, edges = np.histogram(v, bins=bins)
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=_BAND, edgecolor=_BLUE, lw=0.4)
        med = float(np.median(v))
        ax.axvline(med, color=_BLUE, lw=1.0, label=f"median {med:.3g}")
    if ref is not None:
        ax.axvline(ref, color=_RED, ls="--", lw=1.0, label=ref_label)
    ax.set_xlabel(label)
    ax.set_ylabel("Cases")
    ax.legend(loc="upper left")
    return fig


def distribution_figure(values, *, name: str, label: str, reference: float | None = None,
                        reference_label: str | None = None) -> str:
    """Histogram of per-case values (e.g. Dice, HD95) with the median and an optional threshold line."""
    arr = _floats(values, field=f"outcome.segmentation.metrics.{name}.values")
    return _render(_distribution_fig, f"fig-dist-{name}", arr, label, reference, reference_label)


# ------------------------------------------------------------------------ forest


def _short(text: str, n: int = 16) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _forest_fig(strata: list[dict], overall: float | None, metric_label: str):
    k = len(strata)
    height = 0.6 + 0.22 * k
    fig = _new_figure(3.0, height)
    ax = fig.add_axes((0.33, 0.45 / height, 0.63, (height - 0.55) / height))
    ys = np.arange(k)[::-1]
    for y, s in zip(ys, strata):
        est, lo, hi = (float(s[key]) if s[key] not in (None, "nan") else float("nan")
                       for key in ("estimate", "lower", "upper"))
        colour = _GREY if s["small"] else _BLUE
        ax.plot([lo, hi], [y, y], color=colour, lw=1.2)
        ax.plot([est], [y], marker="D" if s["small"] else "s", ms=4, color=colour,
                mfc="white" if s["small"] else colour)
    if overall is not None and math.isfinite(overall):
        ax.axvline(overall, color=_RED, ls="--", lw=0.8)
    ax.set_yticks(ys)
    ax.set_yticklabels([_short(str(s["level"])) for s in strata])
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(-0.6, k - 0.4)
    ax.set_xlim(0, 1)
    ax.set_xlabel(metric_label)
    ax.spines["left"].set_visible(False)
    ax.grid(True, axis="x", lw=0.3, color="#d5dbe1")
    return fig


def forest_figure(strata: list[dict], *, name: str, overall: float | None = None,
                  metric_label: str = "Estimate (95% CI)") -> str:
    """Forest plot, one row per stratum in table order (hollow diamonds mark small strata)."""
    return _render(_forest_fig, f"fig-forest-{name}", strata, overall, metric_label)


# ---------------------------------------------------------------- STARD diagram


def _box(x, y, w, h, lines, *, cls="box", bold_first=True) -> str:
    parts = [f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="3" ry="3"/>']
    line_h = 11.5
    top = y + h / 2 - (len(lines) - 1) * line_h / 2 + 3.5
    for i, line in enumerate(lines):
        weight = ' font-weight="bold"' if (i == 0 and bold_first) else ""
        parts.append(f'<text x="{x + w / 2:.1f}" y="{top + i * line_h:.1f}" text-anchor="middle"{weight}>'
                     f"{escape(line)}</text>")
    return "".join(parts)


def _arrow(x1, y1, x2, y2) -> str:
    return f'<line class="arrow" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" marker-end="url(#stard-head)"/>'


def _count(n) -> str:
    return f"{int(n):,}"


def flow_diagram(flow: dict, *, confusion: dict | None = None, positive_label: str = "Reference standard positive",
                 negative_label: str = "Reference standard negative") -> str:
    """STARD 2015 participant flow diagram as an SVG string.

    Eligible → excluded (each reason with its count) → index test performed →
    indeterminate (not dropped: counted and shown) → analysed, split by the
    reference-standard class and, when the 2×2 table is given, by the index
    test result within each class.
    """
    W = 640
    bw, bh = 250, 38
    cx = 150  # centre column x of the main boxes
    y = 8
    out = []
    out.append(_box(cx - bw / 2, y, bw, bh, ["Eligible cases", f"n = {_count(flow['eligible'])}"]))
    reasons = flow["excluded"]
    n_excl = sum(int(r["n"]) for r in reasons)
    ex_h = 26 + 12 * max(len(reasons), 1)
    y2 = y + bh + 30
    ex_x, ex_w = cx + bw / 2 + 40, W - (cx + bw / 2 + 40) - 6
    ex_lines = [f"Excluded: n = {_count(n_excl)}"] + [f"{r['reason']}: n = {_count(r['n'])}" for r in reasons]
    if not reasons:
        ex_lines.append("none")
    ex_y = y + bh + 2
    out.append(_box(ex_x, ex_y, ex_w, ex_h, ex_lines, cls="box side"))
    mid_y = ex_y + ex_h / 2
    out.append(f'<line class="arrow" x1="{cx:.1f}" y1="{mid_y:.1f}" x2="{ex_x:.1f}" y2="{mid_y:.1f}" '
               'marker-end="url(#stard-head)"/>')
    y2 = ex_y + ex_h + 12
    out.append(_arrow(cx, y + bh, cx, y2))
    included = int(flow["eligible"]) - n_excl
    out.append(_box(cx - bw / 2, y2, bw, bh, ["Index test performed (model run)", f"n = {_count(included)}"]))
    ind_y = y2 + bh + 2
    ind = int(flow["indeterminate"])
    out.append(_box(ex_x, ind_y, ex_w, 34, ["Indeterminate (no valid score)",
                                            f"n = {_count(ind)} (reported, not dropped)"], cls="box side"))
    out.append(f'<line class="arrow" x1="{cx:.1f}" y1="{ind_y + 17:.1f}" x2="{ex_x:.1f}" y2="{ind_y + 17:.1f}" '
               'marker-end="url(#stard-head)"/>')
    y3 = ind_y + 34 + 12
    out.append(_arrow(cx, y2 + bh, cx, y3))
    out.append(_box(cx - bw / 2, y3, bw, bh, ["Analysed", f"n = {_count(flow['analysed'])}"]))
    y4 = y3 + bh + 34
    cw = 250
    lx, rx = 20, 20 + cw + 60
    for x, label, n in ((lx, positive_label, flow["positive"]), (rx, negative_label, flow["negative"])):
        out.append(f'<path class="arrow" d="M{cx:.1f},{y3 + bh:.1f} V{y3 + bh + 17:.1f} H{x + cw / 2:.1f} '
                   f'V{y4:.1f}" fill="none" marker-end="url(#stard-head)"/>')
        out.append(_box(x, y4, cw, bh, [label, f"n = {_count(n)}"]))
    height = y4 + bh + 8
    if confusion is not None:
        y5 = y4 + bh + 26
        thr = confusion["threshold"]
        half = (cw - 10) / 2
        cells = ((lx, "Index test +", confusion["tp"], "TP"), (lx + half + 10, "Index test −", confusion["fn"], "FN"),
                 (rx, "Index test +", confusion["fp"], "FP"), (rx + half + 10, "Index test −", confusion["tn"], "TN"))
        for i, (x, label, n, tag) in enumerate(cells):
            parent = lx if i < 2 else rx
            out.append(f'<path class="arrow" d="M{parent + cw / 2:.1f},{y4 + bh:.1f} V{y4 + bh + 12:.1f} '
                       f'H{x + half / 2:.1f} V{y5:.1f}" fill="none" marker-end="url(#stard-head)"/>')
            out.append(_box(x, y5, half, bh, [f"{label} ({tag})", f"n = {_count(n)}"], bold_first=False))
        out.append(f'<text x="{W / 2:.1f}" y="{y5 + bh + 16:.1f}" text-anchor="middle" class="note">'
                   f"Index test positive: score ≥ {escape(str(thr))} (locked operating threshold)</text>")
        height = y5 + bh + 24
    defs = ('<defs><marker id="stard-head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#1f2933"/></marker></defs>')
    style = ("<style>.box{fill:#f4f7fa;stroke:#1f2933;stroke-width:0.9}.side{fill:#fff8ec}"
             ".arrow{stroke:#1f2933;stroke-width:0.9;fill:none}"
             f"text{{font-family:'{FONT}',sans-serif;font-size:9px;fill:#1f2933}}.note{{font-size:8px;fill:#52606d}}"
             "</style>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="stard" width="{W}" height="{height:.0f}" '
            f'viewBox="0 0 {W} {height:.0f}" role="img" aria-label="STARD participant flow diagram">'
            f"{style}{defs}{''.join(out)}</svg>")

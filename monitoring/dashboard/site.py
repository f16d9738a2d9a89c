"""The static monitoring site: index, one page per window, data JSON, bundled plotly.js.

Layout of a site directory (``OUT``, the monitor's output folder)::

    index.html               overview: alerts table, time series per feature, CBPE
                             and realised performance with bands, control charts
    windows/<id>.html        drill-down for one window (every test's numbers)
    evidently/<id>.html      the evidently drift report of the window (written by the monitor)
    data/monitoring.json     the monitor's result (the pages render from it)
    data/manifest.json       {monitoring_digest, n_windows, n_alerts, windows}: polled by
                             the pages every few seconds for live refresh
    assets/plotly.min.js     copied from the installed plotly package (offline, no CDN)
    assets/dashboard.js, assets/dashboard.css

The HTML is rendered server-side (jinja2) so that the alerts and numbers are
readable without JavaScript; the plots are drawn client-side with plotly.js
from the same JSON. Templates format; every number is computed by the monitor.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jinja2

from validation.fileio import atomic_write_json, atomic_write_text
from validation.hashing import sha256_file

_HERE = Path(__file__).resolve().parent
STATIC = _HERE / "static"
TEMPLATES = _HERE / "templates"
POLL_SECONDS = 3


def plotly_js_path() -> Path:
    """The plotly.min.js that ships inside the installed plotly package."""
    import plotly

    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():  # pragma: no cover - depends on the plotly build
        from validation.errors import MedvalError

        raise MedvalError(f"{path}: plotly.min.js not found in the installed plotly package")
    return path


def _copy_if_changed(src: Path, dst: Path) -> None:
    if dst.is_file() and sha256_file(dst) == sha256_file(src):
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["pval"] = _pval
    return env


def _num(x: Any, digits: int = 3) -> str:
    if x is None or isinstance(x, str):
        return "—" if x is None else x
    try:
        return f"{float(x):.{digits}f}"
    except (TypeError, ValueError):
        return str(x)


def _pval(x: Any) -> str:
    if x is None or isinstance(x, str):
        return "—" if x is None else x
    x = float(x)
    return "< 0.0001" if x < 1e-4 else f"{x:.4f}"


def manifest_of(data: dict) -> dict:
    """The small JSON the pages poll: it changes whenever the monitoring result does."""
    return {
        "monitoring_digest": data["monitoring_digest"],
        "n_windows": len(data["windows"]),
        "n_alerts": len(data["alerts"]),
        "windows": [w["id"] for w in data["windows"]],
        "poll_seconds": POLL_SECONDS,
    }


def build_site(data: dict, out_dir: str | Path) -> Path:
    """Write the static site for a monitoring result (``MonitoringResult.data``) into ``out_dir``.

    Returns the path of ``index.html``. Data and manifest are written last, so a
    page polling the manifest never sees a digest whose pages are not there yet.
    """
    out = Path(out_dir)
    _copy_if_changed(plotly_js_path(), out / "assets" / "plotly.min.js")
    for name in ("dashboard.js", "dashboard.css"):
        _copy_if_changed(STATIC / name, out / "assets" / name)
    env = _env()
    data_json = json.dumps(data, sort_keys=True, ensure_ascii=False).replace("</", "<\\/")
    ctx = {"d": data, "data_json": data_json, "poll_seconds": POLL_SECONDS}
    for w in data["windows"]:
        page = env.get_template("window.html.j2").render(**ctx, w=w, root="../")
        atomic_write_text(out / "windows" / f"{w['id']}.html", page)
    index = env.get_template("index.html.j2").render(**ctx, root="")
    atomic_write_json(out / "data" / "monitoring.json", data)
    atomic_write_text(out / "index.html", index)
    atomic_write_json(out / "data" / "manifest.json", manifest_of(data))
    return out / "index.html"

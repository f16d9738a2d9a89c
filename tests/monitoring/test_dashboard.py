"""The dashboard: static site files, the 127.0.0.1 server, live refresh, and a real headless Chromium."""

from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest

from _monitoring_support import PLAN, SHIFT_WEEK, control_logs_dir, monitoring_data
from monitoring.dashboard.server import HOST, start_in_thread
from monitoring.dashboard.site import build_site, plotly_js_path
from monitoring.monitor import run_monitoring
from validation.hashing import sha256_file

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def data(request):
    return monitoring_data(request.config.cache.mkdir("medval-monitoring"))


@pytest.fixture(scope="module")
def site(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    result = run_monitoring(PLAN, data["logs_dir"], data["run_dir"], out, labels=data["labels"],
                            audit_db=False, evidently=True)
    return result, out


def test_site_layout(site):
    result, out = site
    assert (out / "index.html").is_file()
    for w in result.windows:
        assert (out / "windows" / f"{w.id}.html").is_file()
        assert (out / w.details["evidently_report"]).is_file()
    # plotly.js is bundled from the installed package (offline; no CDN).
    assert sha256_file(out / "assets" / "plotly.min.js") == sha256_file(plotly_js_path())
    html = (out / "index.html").read_text()
    assert "cdn" not in html.lower() and "https://" not in html
    manifest = json.loads((out / "data" / "manifest.json").read_text())
    assert manifest["monitoring_digest"] == result.digest and manifest["n_windows"] == 8
    assert json.loads((out / "data" / "monitoring.json").read_text())["monitoring_digest"] == result.digest


def test_alert_text_is_in_the_static_html(site):
    result, out = site
    w = result.windows[result.data["summary"]["first_alarm_index"]]
    html = (out / "index.html").read_text()
    assert f'data-window="{w.id}"' in html and "img_noise" in html
    page = (out / "windows" / f"{w.id}.html").read_text()
    assert "DRIFT" in page and "evidently report" in page


def test_alert_p_values_are_shown_as_p_values(site):
    # A drift alert's value is an adjusted p-value: tiny ones read "< 0.0001", never "0.000".
    result, out = site
    html = (out / "index.html").read_text()
    drift = [a for a in result.alerts if a.family == "feature_drift" and a.value < 1e-4]
    assert drift, "the shifted stream has strongly drifted features"
    assert "&lt; 0.0001" in html
    assert "<td>0.000</td>" not in html


def test_server_binds_loopback_and_disables_caching(site):
    _, out = site
    server, url = start_in_thread(out, port=0)
    try:
        assert server.server_address[0] == HOST == "127.0.0.1"
        with urllib.request.urlopen(url + "data/manifest.json", timeout=10) as r:
            assert r.headers["Cache-Control"] == "no-store"
            assert json.load(r)["n_windows"] == 8
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed")
def test_browser_shows_the_shifted_window_alert_and_refreshes_live(site, data, tmp_path):
    from playwright.sync_api import sync_playwright

    result, out = site
    first = result.windows[result.data["summary"]["first_alarm_index"]]
    assert first.index in (SHIFT_WEEK - 1, SHIFT_WEEK)
    server, url = start_in_thread(out, port=0)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(url + "index.html")
            page.wait_for_selector("body[data-rendered='1']", timeout=30000)
            row = page.locator(f"#alerts-table tr[data-window='{first.id}']").first
            assert row.is_visible()
            assert "img_noise" in page.locator("#alerts-table").inner_text()
            # plotly drew the feature and performance plots (SVG inside the plot divs)
            assert page.locator("#feature-img_noise .main-svg").count() >= 1
            assert page.locator("#plot-performance .main-svg").count() >= 1
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=False)
            if os.environ.get("MEDVAL_KEEP_SCREENSHOT"):
                import shutil

                shutil.copy(tmp_path / "dashboard.png", os.environ["MEDVAL_KEEP_SCREENSHOT"])
            # drill-down page of the shifted window
            page.goto(url + f"windows/{first.id}.html")
            assert page.get_by_text("img_noise").first.is_visible()
            # live refresh: a new monitoring result lands in the same folder (the control
            # stream: no alert); the open page notices the new manifest and reloads.
            page.goto(url + "index.html")
            page.wait_for_selector("body[data-rendered='1']", timeout=30000)
            control = run_monitoring(PLAN, control_logs_dir(data), data["run_dir"], None,
                                     labels=data["labels"], audit_db=False, evidently=False)
            build_site(control.data, out)
            page.wait_for_function(f"document.body && document.body.dataset.digest === '{control.digest}'", timeout=20000)
            assert "No alerts over 8 windows" in page.locator("#status").inner_text()
            browser.close()
    finally:
        build_site(result.data, out)
        server.shutdown()
        server.server_close()

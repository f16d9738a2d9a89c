"""The validation report: every section, the numbers of results.json, page 1 verdict, determinism.

Expected numbers come from each fixture's results.json (built by
tests/reports/results_factory.py, whose derivations are written there),
formatted with the report's own formatting functions; where a number can be
re-derived from counts, the derivation is written beside it.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import TASKS, n_pages, pdftotext
from reports.render import fmt_ci, fmt_count, fmt_criterion, fmt_num, fmt_pct, load_results, render_report
from validation.errors import InputError, IntegrityError
from validation.hashing import digest

HEADINGS = (
    "1. Identity", "2. Summary verdict", "3. Intended use and device description", "4. Cohort",
    "5. Participant flow (STARD)", "6. Results", "7. Subgroup analyses", "8. Error analysis",
    "9. Deviations, limitations and data quality", "10. Signatures", "Appendix A. Protocol",
    "Appendix B. Environment", "Appendix C. Audit-chain verification", "Appendix D. STARD 2015 checklist",
)


def _flat(text: str) -> str:
    """pdftotext -raw text with every run of whitespace (line breaks too) collapsed to one space.

    In -raw order a table cell's wrapped lines stay together, so a phrase that
    wraps inside a cell is found whole.
    """
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("task", TASKS)
def test_render_writes_html_and_pdf(rendered, task):
    r = rendered[task]
    assert r.pdf.read_bytes().startswith(b"%PDF-")
    assert n_pages(r.pdf) >= 5
    html = r.html.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    # Self-contained: no external stylesheet, script, image or font.
    assert "<link" not in html and "<script" not in html
    assert not re.search(r'src="(?!data:)', html)
    assert "url(http" not in html
    assert html.count('src="data:image/png;base64,') == (
        len(r.results["outcome"]["error_analysis"]["false_negatives"][:12])
        + len(r.results["outcome"]["error_analysis"]["false_positives"][:12]))


@pytest.mark.parametrize("task", TASKS)
def test_pdf_has_every_section_heading(rendered, task):
    text = rendered[task].text
    for heading in HEADINGS:
        assert heading in text, heading


@pytest.mark.parametrize("task", TASKS)
def test_pdf_shows_identity_and_criteria_numbers(rendered, task):
    r = rendered[task]
    res, text = r.results, _flat(r.raw)
    # The full results digest is in the running header of every page (pdftotext ends pages with \f).
    pages = r.text.split("\f")[:n_pages(r.pdf)]
    assert all(res["results_digest"] in page for page in pages)
    assert res["context"]["run_id"] in text
    assert res["inputs"]["protocol"]["id"] in text
    for c in res["outcome"]["criteria"]:
        assert c["endpoint"] in text
        assert fmt_num(c["estimate"]) in text
        assert f"{fmt_num(c['lower'])}–{fmt_num(c['upper'])}" in text
        assert fmt_criterion(c["criterion"]) in text


def test_classification_numbers(rendered):
    r = rendered["classification"]
    out, text = r.results["outcome"], _flat(r.raw)
    cm = out["confusion"]
    for tag in ("tp", "fp", "fn", "tn"):
        assert f"{tag.upper()} {fmt_count(cm[tag])}" in text
    # Sensitivity re-derived from the 2x2 table: TP / (TP + FN) = 102 / 119 = 0.857.
    assert (cm["tp"], cm["fn"]) == (102, 17)
    assert fmt_num(cm["tp"] / (cm["tp"] + cm["fn"])) == "0.857" == fmt_num(out["metrics"]["sensitivity"]["estimate"])
    for key in ("sensitivity", "specificity", "ppv", "npv", "auc"):
        m = out["metrics"][key]
        assert f"{fmt_num(m['estimate'])} {fmt_num(m['lower'])}–{fmt_num(m['upper'])}" in text, key
    prev = out["metrics"]["prevalence"]
    assert f"Prevalence in the analysed cohort: {fmt_pct(prev['estimate'])}" in text
    flow = out["flow"]
    for n in (flow["eligible"], flow["analysed"], flow["positive"], flow["negative"]):
        assert f"n = {fmt_count(n)}" in text
    for reason in flow["excluded"]:
        assert reason["reason"] in text


def test_segmentation_numbers(rendered):
    r = rendered["segmentation"]
    seg, text = r.results["outcome"]["segmentation"]["metrics"], _flat(r.raw)
    for key in ("dice", "hd95"):
        m = seg[key]
        assert f"{fmt_num(m['estimate'])} {fmt_num(m['lower'])}–{fmt_num(m['upper'])}" in text
        assert f"{fmt_num(m['median'])} [{fmt_num(m['q1'])}–{fmt_num(m['q3'])}]" in text


def test_detection_numbers(rendered):
    r = rendered["detection"]
    det, text = r.results["outcome"]["detection"], _flat(r.raw)
    assert fmt_ci(det["cpm"]) in text
    for p in det["lesion_sensitivity"]:
        assert fmt_num(p["estimate"]) in text
    assert f"{fmt_count(det['n_lesions'])} lesions in {fmt_count(det['n_images'])} images" in text


def test_fail_verdict_is_on_page_one(rendered):
    r = rendered["fail"]
    assert r.results["outcome"]["verdict"] == "FAIL"
    page1 = _flat(pdftotext(r.pdf, first=1, last=1, raw=True))
    assert "FAIL" in page1
    # 4 criteria, one report-only (passed null): 3 judged, the primary sensitivity fails.
    assert "1 of 3 acceptance criteria not met" in page1
    failed = [c for c in r.results["outcome"]["criteria"] if c["passed"] is False]
    assert failed and all(c["endpoint"] in page1 for c in failed)
    # Every criterion row, with its PASS/FAIL word, is on page 1.
    for c in r.results["outcome"]["criteria"]:
        assert f"{c['endpoint']}: {c['description']}" in page1
    assert page1.count("FAIL") >= 2 and "reported only" in page1
    html = r.html.read_text(encoding="utf-8")
    assert 'class="banner fail"' in html and 'role="alert"' in html


def test_pass_verdict_page_one_has_no_fail(rendered):
    page1 = pdftotext(rendered["classification"].pdf, first=1, last=1)
    assert "PASS" in page1 and "FAIL" not in page1


def test_exploratory_watermark_on_every_page(rendered):
    r = rendered["fail"]
    html = r.html.read_text(encoding="utf-8")
    assert '<div class="watermark">EXPLORATORY</div>' in html
    # -raw keeps the rotated watermark's letters together; -layout splits them.
    pages = pdftotext(r.pdf, raw=True).split("\f")[:n_pages(r.pdf)]
    assert all(page.count("EXPLORATORY") >= 2 for page in pages)  # running header + watermark
    assert "EXPLORATORY" not in rendered["classification"].html.read_text(encoding="utf-8")


def test_two_renders_are_byte_identical(rendered, tmp_path):
    """A second render, in a fresh process, gives the same HTML and PDF bytes."""
    r = rendered["detection"]
    code = ("import sys; from reports.render import render_report; "
            "render_report(sys.argv[1], out_dir=sys.argv[2])")
    subprocess.run([sys.executable, "-c", code, str(r.run_dir), str(tmp_path)], check=True)
    assert (tmp_path / "report.html").read_bytes() == r.html.read_bytes()
    assert (tmp_path / "report.pdf").read_bytes() == r.pdf.read_bytes()


@pytest.mark.parametrize("task", TASKS)
def test_svg_ids_are_unique_in_the_document(rendered, task):
    html = rendered[task].html.read_text(encoding="utf-8")
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    for ref in set(re.findall(r"url\(#([^)]+)\)", html)):
        assert ref in ids


def test_stard_checklist_in_appendix(rendered):
    text = rendered["classification"].text
    appendix = text[text.index("Appendix D. STARD 2015 checklist"):]
    from reports.stard import ITEMS

    # STARD 2015 has 30 items; 10, 12, 13 and 21 come as a and b: 34 rows (Bossuyt et al. 2015, Table 1).
    assert len(ITEMS) == 34
    assert sorted({int(re.match(r"\d+", item).group()) for item, _, _ in ITEMS}) == list(range(1, 31))
    for item, _, _ in ITEMS:
        assert re.search(rf"^\s*{item}\s", appendix, re.M), item
    assert "not applicable" in appendix and "not reported" in appendix


# --------------------------------------------------------------------- refusals


def _copy_run(src, dst, edit=None, *, fix_digest=True):
    shutil.copytree(src, dst)
    if edit is not None:
        path = dst / "results.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        edit(data)
        if fix_digest:
            data["results_digest"] = digest({"inputs": data["inputs"], "outcome": data["outcome"]})
        path.write_text(json.dumps(data), encoding="utf-8")
    return dst


def test_missing_field_names_field(rendered, tmp_path):
    src = rendered["detection"].run_dir
    run = _copy_run(src, tmp_path / "run", lambda d: d["outcome"]["detection"].pop("cpm"))
    with pytest.raises(InputError, match=r"results\.json: field 'outcome\.detection\.cpm' is missing"):
        load_results(run)


def test_missing_criterion_field_names_index(rendered, tmp_path):
    run = _copy_run(rendered["detection"].run_dir, tmp_path / "run",
                    lambda d: d["outcome"]["criteria"][1].pop("passed"))
    with pytest.raises(InputError, match=r"'outcome\.criteria\[1\]\.passed' is missing"):
        load_results(run)


def test_altered_results_are_refused(rendered, tmp_path):
    def edit(d):
        d["outcome"]["criteria"][0]["estimate"] = 0.99

    run = _copy_run(rendered["detection"].run_dir, tmp_path / "run", edit, fix_digest=False)
    with pytest.raises(IntegrityError, match="results.json was altered"):
        load_results(run)


def test_missing_thumbnail_names_field_and_file(rendered, tmp_path):
    run = _copy_run(rendered["detection"].run_dir, tmp_path / "run")
    first = rendered["detection"].results["outcome"]["error_analysis"]["false_positives"][0]["thumbnail"]
    (run / first).unlink()
    with pytest.raises(InputError, match=r"'outcome\.error_analysis\.false_positives\[0\]\.thumbnail': file .* not found"):
        render_report(run, out_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "report.pdf").exists()


def test_thumbnail_outside_run_dir_refused(rendered, tmp_path):
    def edit(d):
        d["outcome"]["error_analysis"]["false_negatives"][0]["thumbnail"] = "../../etc/passwd"

    run = _copy_run(rendered["detection"].run_dir, tmp_path / "run", edit)
    with pytest.raises(InputError, match="expected a path inside the run directory"):
        render_report(run, out_dir=tmp_path / "out")


def test_regulatory_run_without_lock_refused(rendered, tmp_path):
    run = _copy_run(rendered["detection"].run_dir, tmp_path / "run",
                    lambda d: d["context"].update(protocol_lock=None))
    with pytest.raises(InputError, match="'context.protocol_lock' is null in a regulatory run"):
        load_results(run)


def test_unknown_verdict_refused(rendered, tmp_path):
    run = _copy_run(rendered["detection"].run_dir, tmp_path / "run",
                    lambda d: d["outcome"].update(verdict="MAYBE"))
    with pytest.raises(InputError, match="'outcome.verdict': expected 'PASS' or 'FAIL'; got 'MAYBE'"):
        load_results(run)


# ------------------------------------------------------------------- formatting


def test_formatting_functions():
    assert fmt_num(0.85714) == "0.857"
    assert fmt_num("nan") == "n/a" and fmt_num(None) == "n/a" and fmt_num(float("nan")) == "n/a"
    assert fmt_ci({"estimate": 0.5, "lower": 0.25, "upper": 0.75}) == "0.500 (0.250–0.750)"
    assert fmt_count(100000) == "100,000"
    assert fmt_pct(0.248) == "24.8%"
    assert fmt_criterion("lower_bound >= 0.80") == "lower CI bound ≥ 0.80"
    assert fmt_criterion("upper_bound <= 6.00") == "upper CI bound ≤ 6.00"
    with pytest.raises(TypeError, match="expected a number; got 'abc'"):
        fmt_num("abc")
    with pytest.raises(TypeError, match="expected a count"):
        fmt_count(1.5)


def test_template_is_strict(rendered):
    """A field the template reads but the loader does not check still fails loudly (StrictUndefined)."""
    import jinja2

    from reports.render import _environment

    env = _environment()
    assert env.undefined is jinja2.StrictUndefined and env.autoescape
    data = copy.deepcopy(rendered["detection"].results)
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ r.outcome.no_such_field }}").render(r=data)


def test_model_card_tables_render_as_tables_and_raw_html_is_escaped():
    # Model cards (reference_models/*/MODEL_CARD.md) carry performance tables in GitHub/markdown-it
    # table syntax; the report must show a table, not the pipes, and never render raw HTML.
    from reports.render import _model_card_html

    html = str(_model_card_html("| n | AUC |\n|---|---|\n| 515 | 0.89 |\n\n<script>x</script>\n"))
    assert "<table>" in html and "<td>515</td>" in html and "<td>0.89</td>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html

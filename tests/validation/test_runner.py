"""`medval validate` end to end: committed ONNX models, a generated DICOM cohort, a real audit store.

Each shipped protocol is copied with this test cohort's digest pinned (the
shipped ones pin the demo cohort's), locked in a temporary audit store and run
through the CLI, so the exit codes are the ones a QA engineer sees.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from validation.cli import main

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "reference_models"
PROTOCOLS = REPO / "protocols"
# A test cohort: seed >= 2000 (training seeds are < 1000), 80 patients (~160 images).
COHORT_ARGS = {"n_patients": 80, "seed": 2031, "cohort_id": "runner-test", "version": 1, "fmt": "dicom"}



@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    from validation.synth import generate_cohort

    return generate_cohort(tmp_path_factory.mktemp("runner") / "cohort", **COHORT_ARGS)


def _pinned(src: Path, dst: Path, *, cohort_dir: Path, model_dir: Path | None = None, edit=None) -> Path:
    """Copy a shipped protocol, pinning the test cohort (and optionally another model), then lock-ready."""
    from validation.cohorts import load_cohort
    from validation.models import load_locked_model

    data = yaml.safe_load(src.read_text())
    cohort = load_cohort(cohort_dir, verify=False)
    model_dir = model_dir or MODELS / data["device"]["model_id"] / str(data["device"]["model_version"])
    data["device"]["sha256"] = load_locked_model(model_dir).lock.sha256
    data["device"]["path"] = str(model_dir)
    data["cohort"].update(id=cohort.meta["id"], version=cohort.meta["version"], digest=cohort.digest,
                          path=str(cohort_dir))
    data["bootstrap_resamples"] = 500
    if edit:
        edit(data)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(yaml.safe_dump(data, sort_keys=False))
    return dst


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, cohort_dir):
    root = tmp_path_factory.mktemp("ws")
    db = root / "audit.sqlite"
    protocols = {}
    for name in ("lesion-classification", "lesion-segmentation", "lesion-detection"):
        p = _pinned(PROTOCOLS / f"{name}.v1.yaml", root / "protocols" / f"{name}.v1.yaml", cohort_dir=cohort_dir)
        assert main(["protocol", "lock", str(p), "--db", str(db)]) == 0
        protocols[name] = p
    return {"root": root, "db": db, "protocols": protocols, "cache": root / "cache"}


def _validate(ws, protocol: Path, out: Path, *extra) -> int:
    return main(["validate", str(protocol), "--out", str(out), "--db", str(ws["db"]), "--cache", str(ws["cache"]),
                 "--operator", "qa.tester", *extra])


@pytest.fixture(scope="module")
def classification_run(workspace):
    out = workspace["root"] / "runs" / "cls"
    code = _validate(workspace, workspace["protocols"]["lesion-classification"], out)
    return code, out


def test_classification_run_writes_schema_valid_results(classification_run):
    code, out = classification_run
    results = json.loads((out / "results.json").read_text())
    schema = json.loads((REPO / "validation" / "schemas" / "results.schema.json").read_text())
    jsonschema.validate(results, schema)
    assert code == (0 if results["outcome"]["verdict"] == "PASS" else 1)
    for name in ("report.html", "report.pdf", "cases.csv", "predictions.parquet"):
        assert (out / name).stat().st_size > 0, name
    # Every input's hash is recorded.
    inputs = results["inputs"]
    assert re.fullmatch(r"[0-9a-f]{64}", inputs["model"]["sha256"])
    assert re.fullmatch(r"[0-9a-f]{64}", inputs["cohort"]["digest"])
    assert re.fullmatch(r"[0-9a-f]{64}", inputs["protocol"]["sha256"])


def test_sensitivity_is_realistic_and_reported_with_its_interval(classification_run):
    _, out = classification_run
    results = json.loads((out / "results.json").read_text())
    sens = next(c for c in results["outcome"]["criteria"] if c["metric"] == "sensitivity")
    # Issue 2: a realistic, imperfect device on an in-silico test cohort.
    assert 0.75 <= sens["estimate"] <= 0.97
    assert sens["lower"] < sens["estimate"] < sens["upper"]
    assert sens["method"] == "wilson"
    conf = results["outcome"]["confusion"]
    assert sens["n"] == conf["tp"] + conf["fn"]
    assert sens["estimate"] == pytest.approx(conf["tp"] / (conf["tp"] + conf["fn"]), abs=1e-12)


def test_subgroups_carry_intervals_and_flags(classification_run):
    _, out = classification_run
    results = json.loads((out / "results.json").read_text())
    subgroups = results["outcome"]["subgroups"]
    analyses = {(s["column"], s["metric"]) for s in subgroups}
    for column in ("site", "manufacturer", "sex", "age"):
        assert (column, "sensitivity") in analyses and (column, "specificity") in analyses
    for s in subgroups:
        assert s["multiplicity"] == "holm" and s["prespecified"]
        for st in s["strata"]:
            if st["n"]:
                assert st["lower"] <= st["estimate"] <= st["upper"]
            assert st["small"] == (st["n"] < s["min_n"])


def test_rerun_gives_identical_digest_and_exposure_rises(workspace, classification_run):
    _, out1 = classification_run
    first = json.loads((out1 / "results.json").read_text())
    out2 = workspace["root"] / "runs" / "cls-rerun"
    _validate(workspace, workspace["protocols"]["lesion-classification"], out2)
    second = json.loads((out2 / "results.json").read_text())
    assert second["results_digest"] == first["results_digest"]
    assert second["context"]["predictions_cached"] is True
    assert second["context"]["exposure"]["count"] == first["context"]["exposure"]["count"] + 1


@pytest.mark.parametrize("name", ["lesion-segmentation", "lesion-detection"])
def test_segmentation_and_detection_protocols_run_and_rerun_identically(workspace, name):
    a = workspace["root"] / "runs" / f"{name}-a"
    b = workspace["root"] / "runs" / f"{name}-b"
    code_a = _validate(workspace, workspace["protocols"][name], a, "--no-report")
    code_b = _validate(workspace, workspace["protocols"][name], b, "--no-report")
    ra, rb = (json.loads((d / "results.json").read_text()) for d in (a, b))
    assert code_a == code_b == (0 if ra["outcome"]["verdict"] == "PASS" else 1)
    assert ra["results_digest"] == rb["results_digest"]
    assert ra["outcome"]["criteria"], "every shipped protocol has endpoints"
    if name == "lesion-segmentation":
        dice = ra["outcome"]["segmentation"]["metrics"]["dice"]
        assert 0 < dice["estimate"] < 1 and dice["lower"] <= dice["estimate"] <= dice["upper"]
    else:
        det = ra["outcome"]["detection"]
        assert det["n_lesions"] > 0
        assert all(0 <= p["estimate"] <= 1 for p in det["lesion_sensitivity"])


# --------------------------------------------------------------------------- runs that cannot be made
def _refused(capsys, code: int, *needles: str):
    err = capsys.readouterr().err
    assert code == 2, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def test_one_byte_model_change_exits_2_naming_the_model(workspace, tmp_path, capsys, cohort_dir):
    model_dir = tmp_path / "lesion-classifier" / "1"
    shutil.copytree(MODELS / "lesion-classifier" / "1", model_dir)
    onnx_path = model_dir / "model.onnx"
    data = bytearray(onnx_path.read_bytes())
    data[len(data) // 2] ^= 0x01
    onnx_path.write_bytes(bytes(data))
    out = tmp_path / "run"
    code = _validate(workspace, workspace["protocols"]["lesion-classification"], out, "--model", str(model_dir))
    _refused(capsys, code, str(onnx_path))
    assert not out.exists(), "a refused run leaves nothing behind"


def test_one_byte_cohort_change_exits_2_naming_the_file(workspace, tmp_path, capsys, cohort_dir):
    copy = tmp_path / "cohort"
    shutil.copytree(cohort_dir, copy)
    victim = sorted((copy / "images").iterdir())[3]
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0x01
    victim.write_bytes(bytes(data))
    out = tmp_path / "run"
    code = _validate(workspace, workspace["protocols"]["lesion-classification"], out, "--cohort", str(copy))
    _refused(capsys, code, victim.name)
    assert not out.exists()


def test_edited_locked_protocol_exits_2(workspace, tmp_path, capsys):
    edited = tmp_path / "lesion-classification.v1.yaml"
    edited.write_text(workspace["protocols"]["lesion-classification"].read_text().replace(
        "lower_bound >= 0.75", "lower_bound >= 0.70", 1))
    code = _validate(workspace, edited, tmp_path / "run")
    _refused(capsys, code, "lesion-classification")


def test_unlocked_protocol_exits_2(workspace, tmp_path, capsys, cohort_dir):
    p = _pinned(PROTOCOLS / "lesion-classification.v1.yaml", tmp_path / "p.yaml", cohort_dir=cohort_dir,
                edit=lambda d: d.update(version=7))
    code = _validate(workspace, p, tmp_path / "run")
    _refused(capsys, code, "lock")


def test_protocol_naming_another_model_hash_exits_2(workspace, tmp_path, capsys, cohort_dir):
    p = _pinned(PROTOCOLS / "lesion-classification.v1.yaml", tmp_path / "p.yaml", cohort_dir=cohort_dir,
                edit=lambda d: d.update(version=8) or d["device"].update(sha256="ab" * 32))
    assert main(["protocol", "lock", str(p), "--db", str(workspace["db"])]) == 0
    capsys.readouterr()
    code = _validate(workspace, p, tmp_path / "run")
    _refused(capsys, code, "sha256", "ab" * 32)


def test_cohort_failing_its_quality_gate_exits_2(workspace, tmp_path, capsys, cohort_dir):
    p = _pinned(PROTOCOLS / "lesion-classification.v1.yaml", tmp_path / "p.yaml", cohort_dir=cohort_dir,
                edit=lambda d: d.update(version=9) or d["data_quality"].update(age_range={"min": 18, "max": 50}))
    assert main(["protocol", "lock", str(p), "--db", str(workspace["db"])]) == 0
    capsys.readouterr()
    out = tmp_path / "run"
    code = _validate(workspace, p, out)
    _refused(capsys, code, "age")
    assert not out.exists()


def test_malformed_protocol_exits_2_naming_file_and_field(workspace, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(workspace["protocols"]["lesion-classification"].read_text().replace(
        "confidence_level: 0.95", "confidence_level: high"))
    code = _validate(workspace, bad, tmp_path / "run")
    _refused(capsys, code, "bad.yaml", "confidence_level")


def test_exploratory_run_is_marked_and_skips_the_lock(workspace, tmp_path, cohort_dir):
    p = _pinned(PROTOCOLS / "lesion-classification.v1.yaml", tmp_path / "p.yaml", cohort_dir=cohort_dir,
                edit=lambda d: d.update(version=10))
    out = tmp_path / "run"
    code = _validate(workspace, p, out, "--exploratory", "--no-report")
    results = json.loads((out / "results.json").read_text())
    assert code in (0, 1)
    assert results["inputs"]["mode"] == "exploratory"
    assert results["context"]["protocol_lock"] is None
    assert results["outcome"]["deviations"], "an exploratory run states its deviation"

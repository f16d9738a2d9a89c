"""Protocols: strict schema with file:line: field errors, locking, lock enforcement, input pinning.

Expected line numbers are those of the fixture files in
``tests/validation/data/protocols/`` (each ``bad-*.yaml`` differs from
``valid.yaml`` in one place; count the lines of the fixture to check them).
"""

from __future__ import annotations

import hashlib
import re
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from validation.audit import AuditStore
from validation.cli import main
from validation.errors import ProtocolError
from validation.protocols import (
    PLACEHOLDER,
    age_band_labels,
    check_inputs,
    load_protocol,
    lock_protocol,
    parse_protocol,
    require_locked,
    subgroup_levels,
)

DATA = Path(__file__).parent / "data" / "protocols"
REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "protocols").glob("lesion-*.v1.yaml"))
MODEL_SHA = "1" * 64   # the hashes valid.yaml pins
COHORT_DIGEST = "2" * 64


def _line_of(path: Path, text: str) -> int:
    """1-based line of the first line containing ``text`` (independent of the parser)."""
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return i
    raise AssertionError(f"{text!r} not in {path}")


@pytest.fixture()
def store(tmp_path) -> AuditStore:
    return AuditStore(tmp_path / "audit.sqlite")


@pytest.fixture()
def valid(tmp_path) -> Path:
    dst = tmp_path / "valid.yaml"
    shutil.copy(DATA / "valid.yaml", dst)
    return dst


# -- shipped protocols ---------------------------------------------------------------


def test_three_shipped_protocols_exist():
    assert [p.name for p in SHIPPED] == [
        "lesion-classification.v1.yaml", "lesion-detection.v1.yaml", "lesion-segmentation.v1.yaml"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_protocol_loads_and_hashes_its_bytes(path):
    proto = load_protocol(path)
    assert proto.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert proto.text == path.read_text()
    assert f"{proto.id}.v{proto.version}.yaml" == path.name
    assert proto.primary_endpoints and all(e.acceptance() is not None for e in proto.primary_endpoints)
    # pinned to the committed locked model (its model.lock.json) and to the demo cohort's digest
    lock = json.loads((REPO / "reference_models" / proto.device.model_id / str(proto.device.model_version)
                       / "model.lock.json").read_text())
    assert proto.device.sha256 == lock["sha256"]
    assert re.fullmatch(r"[0-9a-f]{64}", proto.cohort.digest)
    assert proto.cohort.id == "demo-test" and proto.cohort.version == 1
    assert proto.exposure.limit >= 1 and proto.mode == "regulatory"


def test_classification_protocol_content():
    proto = load_protocol(REPO / "protocols" / "lesion-classification.v1.yaml")
    by_id = {e.id: e for e in proto.endpoints}
    assert (by_id["sensitivity"].role, by_id["sensitivity"].ci_method, by_id["sensitivity"].criterion) == (
        "primary", "wilson", "lower_bound >= 0.75")
    assert (by_id["specificity"].role, by_id["specificity"].criterion) == ("primary", "lower_bound >= 0.80")
    assert (by_id["auc"].ci_method, by_id["auc"].criterion) == ("delong", "lower_bound >= 0.85")
    assert by_id["ppv-at-intended-use"].is_report_only and by_id["ppv-at-intended-use"].parameters["prevalence"] == 0.1
    assert {s.id for s in proto.subgroups} == {"site", "manufacturer", "sex", "age-band"}
    assert all(s.multiplicity == "holm" and s.min_n > 0 for s in proto.subgroups)
    assert proto.cluster_column == "patient_id" and proto.device.model_id == "lesion-classifier"


def test_segmentation_and_detection_protocol_content():
    seg = load_protocol(REPO / "protocols" / "lesion-segmentation.v1.yaml")
    assert {(e.metric, e.ci_method) for e in seg.primary_endpoints} == {("dice", "cluster-bootstrap-bca")}
    assert str(seg.primary_endpoints[0].acceptance()) == "lower_bound >= 0.55"
    # mean HD95 with the miss penalty is reported, not judged (its mean is driven by missed lesions)
    hd95 = next(e for e in seg.endpoints if e.metric == "hd95")
    assert hd95.is_report_only and hd95.ci_method == "cluster-bootstrap-bca"
    det = load_protocol(REPO / "protocols" / "lesion-detection.v1.yaml")
    prim = det.primary_endpoints[0]
    assert prim.metric == "lesion_sensitivity_at_fp" and prim.parameters == {"fp_per_image": 1.0}
    assert prim.ci_method == "cluster-bootstrap-percentile"  # FROC intervals are percentile bootstraps
    assert any(e.metric == "froc_cpm" for e in det.endpoints)


# -- one test per schema error class: file, line and field named ------------------------


@pytest.mark.parametrize(
    ("fixture", "marker", "field", "message"),
    [
        # missing field: the line of the mapping that lacks it (the top-level mapping starts at line 2)
        ("bad-missing-field.yaml", "schema_version:", "reference_standard", "required field is missing"),
        ("bad-wrong-type.yaml", "seed: seven", "seed", "input should be a valid integer; got 'seven'"),
        ("bad-unknown-field.yaml", "treshold_mode", "operating_point.treshold_mode", "unknown field"),
        ("bad-criterion.yaml", "lower >= 0.8", "endpoints[0].criterion",
         "expected '<bound> <op> <number>' such as 'lower_bound >= 0.80'; got 'lower >= 0.8'"),
        ("bad-enum.yaml", "roc_auc", "endpoints[1].metric", "got 'roc_auc'"),
        ("bad-yaml-syntax.yaml", "[lower_bound", "endpoints[1].criterion", "YAML syntax error"),
    ],
    ids=["missing-field", "wrong-type", "unknown-field", "bad-criterion", "bad-enum", "bad-yaml-syntax"],
)
def test_schema_error_names_file_line_and_field(fixture, marker, field, message):
    path = DATA / fixture
    line = _line_of(path, marker)
    with pytest.raises(ProtocolError) as exc:
        load_protocol(path)
    text = str(exc.value)
    assert text.startswith(f"{path}:{line}: {field}: "), text
    assert message in text
    assert len(text.splitlines()) == 1, "exactly one error expected in each fixture"


def test_valid_fixture_loads():
    proto = load_protocol(DATA / "valid.yaml")
    assert proto.id == "fixture" and proto.operating_point.threshold == "locked"


def _variant(valid: Path, old: str, new: str) -> Path:
    text = valid.read_text()
    assert text.count(old) == 1
    valid.write_text(text.replace(old, new))
    return valid


def test_all_errors_are_listed_each_with_its_line(valid):
    path = _variant(valid, "seed: 7", "seed: 7.5\nextra_field: 1")
    with pytest.raises(ProtocolError) as exc:
        load_protocol(path)
    lines = str(exc.value).splitlines()
    assert lines == [
        f"{path}:{_line_of(path, 'seed: 7.5')}: seed: input should be a valid integer; got 7.5",
        f"{path}:{_line_of(path, 'extra_field')}: extra_field: unknown field "
        "(not part of the protocol schema; check the spelling)",
    ]


@pytest.mark.parametrize(
    ("old", "new", "field", "fragment"),
    [
        ("ci_method: delong", "ci_method: wilson", "endpoints[1].ci_method", "not available for metric 'auc'"),
        ("    criterion: lower_bound >= 0.80", "    report_only: true", "endpoints[0].role",
         "primary endpoint needs an acceptance criterion"),
        ("    criterion: lower_bound >= 0.85", "    non_inferiority: {comparator: other, margin: 0.05}",
         "endpoints[1].non_inferiority.comparator", "needs 'device.comparator'"),
        ("seed: 7", "seed: 7\nseed: 8", "seed", "duplicate key"),
        ("confidence_level: 0.95", "confidence_level: 95", "confidence_level", "less than 1"),
        ("  threshold: locked", "  threshold: lockd", "operating_point.threshold", "'locked'"),
        ('sha256: "1111', 'sha256: "zz11', "device.sha256", "64 lowercase hex digits"),
        ("    criterion: lower_bound >= 0.80", "    criterion: lower_bound >= 0.80\n    report_only: true",
         "endpoints[0]", "exactly one of"),
        ("metric: auc", "metric: dice", "endpoints[1].metric", "does not apply to task"),
        ("    metric: auc\n    ci_method: delong\n    criterion: lower_bound >= 0.85",
         "    metric: ppv\n    ci_method: wilson\n    report_only: true\n    parameters: {prevalence: 0.1}",
         "endpoints[1].ci_method", "takes ci_method 'mercaldo-logit'"),
    ],
    ids=["ci-method-for-metric", "primary-report-only", "ni-without-comparator", "duplicate-key",
         "confidence-range", "threshold-literal", "sha-format", "two-rules", "metric-for-task",
         "prevalence-needs-mercaldo"],
)
def test_semantic_and_value_errors(valid, old, new, field, fragment):
    path = _variant(valid, old, new)
    with pytest.raises(ProtocolError) as exc:
        load_protocol(path)
    text = str(exc.value)
    assert f": {field}: " in text and fragment in text, text
    assert text.startswith(f"{path}:")


def test_unquoted_numeric_hash_gets_a_hint(valid):
    path = _variant(valid, 'sha256: "1111111111111111111111111111111111111111111111111111111111111111"',
                    "sha256: 1111111111111111111111111111111111111111111111111111111111111111")
    line = _line_of(path, "sha256: 1111")
    with pytest.raises(ProtocolError, match=rf":{line}: device\.sha256: expected text; got the number .*quote"):
        load_protocol(path)


def test_file_name_must_match_id_and_version(tmp_path):
    dst = tmp_path / "other.v2.yaml"
    shutil.copy(DATA / "valid.yaml", dst)
    with pytest.raises(ProtocolError, match=r"file name says 'other' v2 but the file says 'fixture' v1"):
        load_protocol(dst)


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(ProtocolError, match=r"nope\.yaml: protocol file not found"):
        load_protocol(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ProtocolError, match=r"empty\.yaml:1: the file is empty"):
        load_protocol(tmp_path / "empty.yaml")


# -- age bands -------------------------------------------------------------------------


def test_age_bands_assign_levels_and_keep_missing():
    proto = load_protocol(REPO / "protocols" / "lesion-classification.v1.yaml")
    band = next(s for s in proto.subgroups if s.id == "age-band")
    assert age_band_labels([40, 60, 75]) == ["<40", "40-59", "60-74", ">=75"]
    m = pd.DataFrame({"age": pd.array([18, 39, 40, 59, 60, 74, 75, 99, None], dtype="Int64")})
    got = subgroup_levels(m, band).tolist()
    # derivation: a cut belongs to the band above it
    assert got == ["<40", "<40", "40-59", "40-59", "60-74", "60-74", ">=75", ">=75", "missing"]


# -- locking ---------------------------------------------------------------------------


def test_never_locked_is_refused(valid, store):
    proto = load_protocol(valid)
    with pytest.raises(ProtocolError, match=r"was never locked; run `medval protocol lock"):
        require_locked(proto, store)


def test_locked_then_edited_protocol_is_refused_with_both_hashes(valid, store):
    proto = load_protocol(valid)
    entry = lock_protocol(proto, store, actor="qa.lead")
    assert entry.kind == "protocol.lock" and entry.actor == "qa.lead" and len(store) == 1
    assert entry.payload["sha256"] == proto.sha256
    assert require_locked(load_protocol(valid), store).seq == entry.seq

    valid.write_text(valid.read_text().replace("lower_bound >= 0.80", "lower_bound >= 0.70"))
    edited = load_protocol(valid)
    with pytest.raises(ProtocolError) as exc:
        require_locked(edited, store)
    msg = str(exc.value)
    assert "changed since it was locked" in msg
    assert f"locked sha256 {proto.sha256}" in msg and f"file now {edited.sha256}" in msg


def test_relocking_same_bytes_is_idempotent_and_changed_bytes_refused(valid, store):
    first = lock_protocol(valid, store)
    again = lock_protocol(valid, store)
    assert again == first and len(store) == 1
    valid.write_text(valid.read_text() + "\n# a comment changes the bytes\n")
    with pytest.raises(ProtocolError, match=r"already locked .* needs a new version number"):
        lock_protocol(valid, store)


def _lock_variant(args: tuple[str, str, int]) -> str:
    db, src, k = args
    text = Path(src).read_text() + f"\n# variant {k}\n"
    try:
        lock_protocol(parse_protocol(text, path=f"variant-{k}.yaml"), AuditStore(db))
        return "locked"
    except ProtocolError:
        return "refused"


def test_racing_locks_of_one_version_leave_exactly_one(tmp_path):
    import multiprocessing as mp

    db = tmp_path / "race.sqlite"
    AuditStore(db)
    with mp.get_context("fork").Pool(4) as pool:
        outcomes = pool.map(_lock_variant, [(str(db), str(DATA / "valid.yaml"), k) for k in range(8)])
    assert sorted(outcomes) == ["locked"] + ["refused"] * 7
    assert len(AuditStore(db).entries("protocol.lock")) == 1


def test_a_lock_forged_to_match_an_edited_protocol_is_refused(valid, store):
    import sqlite3

    from validation.errors import AuditError

    lock_protocol(valid, store)
    valid.write_text(valid.read_text().replace("lower_bound >= 0.80", "lower_bound >= 0.60"))
    edited = load_protocol(valid)
    con = sqlite3.connect(store.path)   # forge: point the lock at the edited bytes
    con.execute("DROP TRIGGER entries_no_update")
    con.execute("UPDATE entries SET payload = replace(payload, ?, ?) WHERE seq = 1",
                (store.entries()[0].payload["sha256"], edited.sha256))
    con.commit()
    con.close()
    assert store.entries()[0].payload["sha256"] == edited.sha256
    with pytest.raises(AuditError, match=r"audit chain does not verify \(entry 1: content does not match"):
        require_locked(edited, store)


def test_a_whitespace_edit_is_an_edit(valid, store):
    lock_protocol(valid, store)
    valid.write_bytes(valid.read_bytes() + b"\n")
    with pytest.raises(ProtocolError, match="changed since it was locked"):
        require_locked(load_protocol(valid), store)


# -- input pinning -----------------------------------------------------------------------


def test_matching_inputs_pass(valid):
    proto = load_protocol(valid)
    check = check_inputs(proto, model_sha256=MODEL_SHA, cohort_id="demo-test", cohort_version=1,
                         cohort_digest=COHORT_DIGEST, model_id="lesion-classifier", model_version=1)
    assert check.ok and check.mismatches == ()


def test_protocol_naming_another_model_hash_is_refused(valid):
    proto = load_protocol(valid)
    other = "a" * 64
    with pytest.raises(ProtocolError) as exc:
        check_inputs(proto, model_sha256=other, cohort_id="demo-test", cohort_version=1,
                     cohort_digest=COHORT_DIGEST)
    assert f"device.sha256: the protocol expects '{MODEL_SHA}'; got '{other}'" in str(exc.value)


@pytest.mark.parametrize(("kw", "field"), [
    ({"cohort_id": "other-cohort"}, "cohort.id"),
    ({"cohort_version": 2}, "cohort.version"),
    ({"cohort_digest": "b" * 64}, "cohort.digest"),
])
def test_other_cohort_is_refused(valid, kw, field):
    proto = load_protocol(valid)
    args = {"model_sha256": MODEL_SHA, "cohort_id": "demo-test", "cohort_version": 1,
            "cohort_digest": COHORT_DIGEST} | kw
    with pytest.raises(ProtocolError, match=rf"{field}: the protocol expects"):
        check_inputs(proto, **args)


def test_placeholder_is_refused_in_regulatory_mode_and_reported_in_exploratory(valid):
    text = valid.read_text()
    pinned = re.search(r"sha256: \"?([0-9a-f]{64})", text).group(1)
    valid.write_text(text.replace(pinned, PLACEHOLDER, 1))
    proto = load_protocol(valid)
    args = {"model_sha256": "c" * 64, "cohort_id": "demo-test", "cohort_version": 1, "cohort_digest": COHORT_DIGEST}
    with pytest.raises(ProtocolError, match=r"protocol does not pin device\.sha256"):
        check_inputs(proto, **args)
    check = check_inputs(proto, **args, exploratory=True)
    assert not check.ok
    assert [m["field"] for m in check.mismatches] == ["device.sha256"]
    assert check.to_dict()["mismatches"][0]["expected"] == PLACEHOLDER


def test_effective_mode():
    proto = parse_protocol((DATA / "valid.yaml").read_bytes(), path="valid.yaml")
    assert proto.effective_mode() == "regulatory"
    assert proto.effective_mode(exploratory=True) == "exploratory"


# -- CLI -------------------------------------------------------------------------------


def test_cli_check_exit_codes(capsys):
    assert main(["protocol", "check", str(DATA / "valid.yaml")]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["protocol", "check", str(DATA / "bad-criterion.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"{DATA / 'bad-criterion.yaml'}:28: endpoints[0].criterion:" in err


def test_cli_lock_records_entry_and_show_reports_it(valid, tmp_path, capsys):
    db = tmp_path / "cli.sqlite"
    assert main(["protocol", "lock", str(valid), "--db", str(db), "--operator", "ana"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("locked: fixture v1")
    entries = AuditStore(db).entries("protocol.lock")
    assert len(entries) == 1 and entries[0].actor == "ana"
    assert entries[0].payload["sha256"] == hashlib.sha256(valid.read_bytes()).hexdigest()
    assert main(["protocol", "show", str(valid), "--db", str(db)]) == 0
    assert "locked by ana" in capsys.readouterr().out
    valid.write_text(valid.read_text().replace("seed: 7", "seed: 8"))
    assert main(["protocol", "show", str(valid), "--db", str(db)]) == 0
    assert "CHANGED SINCE LOCKED" in capsys.readouterr().out

"""Data-quality gate (Great Expectations 1.x) on real in-silico cohorts.

Cohorts come from ``validation.synth.generate_cohort`` (DICOM, registered and
loaded with ``validation.cohorts``); a failing cohort is made the way a bad
delivery would look: values edited in ``manifest.csv`` and the cohort
re-registered, or images of the wrong size. Expected failures are the values
the test itself wrote.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pandas as pd
import pytest

from validation.cohorts import load_cohort, register_cohort
from validation.errors import DataQualityError
from validation.protocols import DataQualityConfig, load_protocol
from validation.quality import _context, raise_if_failed, run_quality_gate
from validation.synth import generate_cohort

REPO = Path(__file__).resolve().parents[2]
CLS = load_protocol(REPO / "protocols" / "lesion-classification.v1.yaml")


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory) -> Path:
    return generate_cohort(tmp_path_factory.mktemp("qc") / "good", n_patients=6, seed=2101,
                           cohort_id="qc-test", fmt="dicom")


@pytest.fixture(scope="module")
def cohort(cohort_dir):
    return load_cohort(cohort_dir)


def _edited_copy(src: Path, dst: Path, edit) -> Path:
    shutil.copytree(src, dst)
    m = pd.read_csv(dst / "manifest.csv", dtype=str, keep_default_na=False)
    edit(m)
    m.to_csv(dst / "manifest.csv", index=False)
    register_cohort(dst)
    return dst


def test_a_good_cohort_passes_the_shipped_protocol_gate(cohort):
    before = cohort.manifest.copy(deep=True)
    result = run_quality_gate(cohort, CLS.data_quality)
    assert result.success, [r.to_dict() for r in result.failed]
    names = {(r.expectation, r.column) for r in result.results}
    assert {("expect_table_columns_to_match_set", None), ("expect_column_values_to_be_unique", "case_id"),
            ("expect_column_values_to_be_in_set", "label"), ("expect_column_values_to_be_between", "age"),
            ("expect_column_values_to_be_in_set", "sex"), ("expect_column_values_to_be_in_set", "image_rows"),
            ("expect_column_values_to_be_between", "pixel_spacing_row")} <= names
    # image dimensions are not manifest columns: they were read from the DICOM headers
    assert result.derived_columns == ("image_rows", "image_cols")
    assert result.n_rows == len(cohort.manifest) and result.engine.startswith("great_expectations 1.")
    pd.testing.assert_frame_equal(cohort.manifest, before)  # never mutated
    d = result.to_dict()
    assert d["success"] and d["n_failed"] == 0 and d["suite"] == "medval-data-quality:qc-test"
    raise_if_failed(result, "cohort")  # no error


def test_a_cohort_failing_its_gate_raises_listing_the_expectations(cohort_dir, tmp_path):
    def edit(m):
        m.loc[1, "age"] = "130"
        m.loc[2, "sex"] = "O"
    bad_dir = _edited_copy(cohort_dir, tmp_path / "bad", edit)
    bad = load_cohort(bad_dir)
    result = run_quality_gate(bad, CLS.data_quality)
    assert not result.success
    failed = {(r.expectation, r.column): r for r in result.failed}
    assert set(failed) == {("expect_column_values_to_be_between", "age"),
                           ("expect_column_values_to_be_in_set", "sex")}
    age = failed[("expect_column_values_to_be_between", "age")]
    assert (age.unexpected_count, age.unexpected_examples) == (1, (130.0,))
    assert age.unexpected_case_ids == (bad.manifest.loc[1, "case_id"],)
    with pytest.raises(DataQualityError) as exc:
        raise_if_failed(result, bad_dir)
    msg = str(exc.value)
    assert msg.startswith(f"{bad_dir}: failed its data-quality gate (2 of ")
    assert "expect_column_values_to_be_between(age): age in [18, 100]: 1 unexpected value(s), e.g. [130.0]" in msg
    assert "expect_column_values_to_be_in_set(sex)" in msg and "['O']" in msg
    assert bad.manifest.loc[2, "case_id"] in msg


def test_wrong_image_size_is_found_from_the_headers(tmp_path):
    small = load_cohort(generate_cohort(tmp_path / "small", n_patients=2, seed=2102, cohort_id="small",
                                        fmt="dicom", image_size=64))
    result = run_quality_gate(small, CLS.data_quality)
    failed = {(r.expectation, r.column): r for r in result.failed}
    assert set(failed) == {("expect_column_values_to_be_in_set", "image_rows"),
                           ("expect_column_values_to_be_in_set", "image_cols")}
    rows = failed[("expect_column_values_to_be_in_set", "image_rows")]
    assert rows.unexpected_count == len(small.manifest) and set(rows.unexpected_examples) == {64.0}


def test_labels_outside_the_declared_values(cohort):
    # load_cohort itself refuses labels other than 0/1, so hand the gate an in-memory copy
    manifest = cohort.manifest.copy()
    manifest.loc[0, "label"] = 2
    fake = dataclasses.replace(cohort, manifest=manifest)
    result = run_quality_gate(fake, {"label_values": [0, 1]})
    (bad,) = result.failed
    assert (bad.expectation, bad.column, bad.unexpected_examples) == (
        "expect_column_values_to_be_in_set", "label", (2,))


def test_training_patients_in_the_test_cohort_are_refused(cohort, tmp_path):
    leaked = cohort.manifest["patient_id"].iloc[0]
    train = pd.DataFrame({"patient_id": [leaked, "TRAIN-0001"]})
    result = run_quality_gate(cohort, CLS.data_quality, training_manifest=train)
    (bad,) = result.failed
    assert bad.expectation == "expect_column_values_to_not_be_in_set" and bad.column == "patient_id"
    n_images = int((cohort.manifest["patient_id"] == leaked).sum())
    assert bad.unexpected_count == n_images and set(bad.unexpected_examples) == {leaked}
    # a disjoint training manifest, read from a CSV file
    path = tmp_path / "train.csv"
    pd.DataFrame({"patient_id": ["TRAIN-0001", "TRAIN-0002"]}).to_csv(path, index=False)
    assert run_quality_gate(cohort, CLS.data_quality, training_manifest=path).success


def test_missing_column_fails_existence_only(cohort):
    fake = dataclasses.replace(cohort, manifest=cohort.manifest.drop(columns=["manufacturer"]))
    result = run_quality_gate(fake, CLS.data_quality)
    (bad,) = result.failed
    assert (bad.expectation, bad.unexpected_examples) == ("expect_table_columns_to_match_set", ("manufacturer",))
    with pytest.raises(DataQualityError, match=r"missing from the manifest: \['manufacturer'\]"):
        raise_if_failed(result, "cohort")


def test_empty_text_counts_as_missing(cohort):
    manifest = cohort.manifest.copy()
    manifest.loc[3, "site"] = "  "
    result = run_quality_gate(dataclasses.replace(cohort, manifest=manifest), CLS.data_quality)
    (bad,) = result.failed
    assert (bad.expectation, bad.column, bad.unexpected_count) == ("expect_column_values_to_not_be_null", "site", 1)


def test_config_forms_and_one_context_per_process(cohort):
    assert run_quality_gate(cohort, None).success                   # defaults
    assert run_quality_gate(cohort, DataQualityConfig()).success
    assert _context()[1] is _context()[1]                           # built once, reused
    with pytest.raises(TypeError, match="'config' must be a DataQualityConfig"):
        run_quality_gate(cohort, 42)

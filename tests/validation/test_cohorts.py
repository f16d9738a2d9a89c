"""Versioned cohorts: registration, digest, tamper detection, manifest validation, batches, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from validation.cli import main
from validation.cohorts import (
    MANIFEST_COLUMNS,
    Cohort,
    cohort_digest,
    iter_batches,
    load_cohort,
    register_cohort,
    verify_cohort,
)
from validation.errors import InputError, IntegrityError
from validation.hashing import canonical_json, sha256_bytes, sha256_file

META = {"id": "pydicom-bundled", "version": 1, "modality": "CT/MR", "task": "reader test",
        "label_definition": "arbitrary (test)", "reference_standard": "none (test)"}


@pytest.fixture
def cohort_copy(tmp_path, synth_cohort_dir) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(synth_cohort_dir, dst)
    return dst


def _manifest(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "manifest.csv", dtype=str, keep_default_na=False)


def _write_manifest(root: Path, df: pd.DataFrame) -> None:
    df.to_csv(root / "manifest.csv", index=False, lineterminator="\n")


# --------------------------------------------------------------------------- registration and digest


def test_registered_cohort_layout_and_digest_definition(synth_cohort, synth_cohort_dir):
    meta = yaml.safe_load((synth_cohort_dir / "cohort.yaml").read_text())
    for key in ("id", "version", "modality", "task", "description", "label_definition", "reference_standard",
                "inclusion_criteria", "sequestered", "source", "manifest", "manifest_sha256", "digest"):
        assert key in meta, key
    assert meta["source"]["seed"] == 2024 and meta["sequestered"] is True
    m = _manifest(synth_cohort_dir)
    assert list(m.columns) == list(MANIFEST_COLUMNS)
    # Derivation (docs/contracts.md): digest = sha256(canonical_json({"manifest_sha256": sha256(manifest.csv),
    # "files": [[path, sha256(file)], ...] sorted by path})), recomputed here from the raw bytes.
    files = {}
    for col in ("image_path", "mask_path"):
        for rel in m[col]:
            files[rel] = sha256_file(synth_cohort_dir / rel)
    expected = sha256_bytes(canonical_json({
        "manifest_sha256": sha256_file(synth_cohort_dir / "manifest.csv"),
        "files": [[p, files[p]] for p in sorted(files)],
    }))
    assert synth_cohort.digest == expected == meta["digest"]
    assert cohort_digest(meta["manifest_sha256"], files) == expected
    assert (m["image_sha256"] == [files[p] for p in m["image_path"]]).all()
    assert isinstance(synth_cohort, Cohort) and synth_cohort.n_cases == len(m)
    assert synth_cohort.manifest["label"].dtype == np.int64
    assert str(synth_cohort.manifest["age"].dtype) == "Int64"
    d = synth_cohort.to_dict()
    assert d["digest"] == expected and d["n_patients"] == 12 and sum(d["by_site"].values()) == len(m)


def test_two_generations_give_the_same_digest(tmp_path):
    from validation.synth import generate_cohort

    kw = dict(n_patients=4, seed=2030, cohort_id="det", fmt="npy")
    a = load_cohort(generate_cohort(tmp_path / "a", **kw))
    b = load_cohort(generate_cohort(tmp_path / "b", **kw))
    c = load_cohort(generate_cohort(tmp_path / "c", **{**kw, "seed": 2031}))
    assert a.digest == b.digest != c.digest


def test_reregistering_unchanged_cohort_keeps_digest(cohort_copy, synth_cohort):
    assert register_cohort(cohort_copy).digest == synth_cohort.digest


# --------------------------------------------------------------------------- tampering


def test_one_byte_in_an_image_is_detected_naming_the_file(cohort_copy):
    m = _manifest(cohort_copy)
    rel = m["image_path"].iloc[3]
    path = cohort_copy / rel
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # one bit of the last pixel
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=rf"{rel}: sha256 .* differs .* manifest.csv line 5 \(image_sha256\)"):
        load_cohort(cohort_copy)
    # verify=False only parses; it does not re-hash
    assert load_cohort(cohort_copy, verify=False).n_cases == len(m)


def test_changed_mask_is_detected(cohort_copy):
    rel = _manifest(cohort_copy)["mask_path"].iloc[0]
    with open(cohort_copy / rel, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(IntegrityError, match=rf"{rel}: sha256"):
        verify_cohort(cohort_copy)


def test_edited_manifest_is_detected(cohort_copy):
    m = _manifest(cohort_copy)
    m.loc[0, "label"] = "1" if m.loc[0, "label"] == "0" else "0"
    _write_manifest(cohort_copy, m)
    with pytest.raises(IntegrityError, match=r"manifest.csv: sha256 .* differs from manifest_sha256"):
        load_cohort(cohort_copy)


def test_edited_cohort_yaml_is_detected(cohort_copy):
    path = cohort_copy / "cohort.yaml"
    meta = yaml.safe_load(path.read_text())
    meta["sequestered"] = False
    path.write_text(yaml.safe_dump(meta, sort_keys=False))
    with pytest.raises(IntegrityError, match=r"cohort.yaml: the cohort description was edited"):
        load_cohort(cohort_copy)
    meta["sequestered"] = True
    meta["digest"] = "0" * 64
    path.write_text(yaml.safe_dump(meta, sort_keys=False))
    with pytest.raises(IntegrityError, match=r"cohort.yaml: field 'digest' 000000000000… does not match"):
        load_cohort(cohort_copy)


def test_missing_file_is_an_input_error(cohort_copy):
    rel = _manifest(cohort_copy)["image_path"].iloc[1]
    (cohort_copy / rel).unlink()
    with pytest.raises(InputError, match=rf"manifest.csv: line 3, column 'image_path': file not found: '{rel}'"):
        load_cohort(cohort_copy)


def test_unregistered_cohort_is_refused(cohort_copy):
    path = cohort_copy / "cohort.yaml"
    meta = yaml.safe_load(path.read_text())
    del meta["digest"]
    path.write_text(yaml.safe_dump(meta))
    with pytest.raises(InputError, match=r"field 'digest': expected a sha256 hex digest \(run `medval cohort register`\)"):
        load_cohort(cohort_copy)


# --------------------------------------------------------------------------- bad manifests (one per error class)


BAD_CELLS = [
    ("label", "2", r"line 2, column 'label': expected 0 or 1; got '2'"),
    ("label", "", r"line 2, column 'label': expected 0 or 1; got ''"),
    ("case_id", "", r"line 2, column 'case_id': empty"),
    ("patient_id", " ", r"line 2, column 'patient_id': empty"),
    ("sex", "X", r"line 2, column 'sex': expected F, M, O or empty; got 'X'"),
    ("age", "sixty", r"line 2, column 'age': expected whole years 0..130 or empty; got 'sixty'"),
    ("age", "200", r"line 2, column 'age': expected whole years 0..130 or empty; got '200'"),
    ("pixel_spacing_row", "-1", r"line 2, column 'pixel_spacing_row': expected a positive number"),
    ("acquired_at", "yesterday", r"line 2, column 'acquired_at': expected an ISO date or datetime; got 'yesterday'"),
    ("lesions", "[{", r"line 2, column 'lesions': expected a JSON list"),
    ("lesions", '[{"row": 1, "col": 2}]', r"line 2, column 'lesions': lesion 0: expected keys row, col, radius_px"),
    ("lesions", '[{"row": 1, "col": 2, "radius_px": 0}]', r"line 2, column 'lesions': lesion 0: 'radius_px' must be > 0; got 0"),
    ("image_path", "../outside.dcm", r"line 2, column 'image_path': expected a path relative to the cohort directory, inside it"),
    ("image_path", "/etc/passwd", r"line 2, column 'image_path': expected a path relative to the cohort directory"),
    ("mask_path", "masks/nope.png", r"line 2, column 'mask_path': file not found: 'masks/nope.png'"),
]


@pytest.mark.parametrize("column, value, message", BAD_CELLS, ids=[f"{c}={v!r}" for c, v, _ in BAD_CELLS])
def test_bad_manifest_cell(cohort_copy, column, value, message):
    m = _manifest(cohort_copy)
    m.loc[0, column] = value
    _write_manifest(cohort_copy, m)
    with pytest.raises(InputError, match=r"manifest.csv: " + message):
        register_cohort(cohort_copy)


def test_duplicate_case_id(cohort_copy):
    m = _manifest(cohort_copy)
    m.loc[2, "case_id"] = m.loc[0, "case_id"]
    _write_manifest(cohort_copy, m)
    with pytest.raises(InputError, match=rf"line 4, column 'case_id': duplicate case id '{m.loc[0, 'case_id']}'"):
        register_cohort(cohort_copy)


def test_missing_columns(cohort_copy):
    m = _manifest(cohort_copy).drop(columns=["label"])
    _write_manifest(cohort_copy, m)
    with pytest.raises(InputError, match=r"manifest.csv: missing column\(s\) \['label'\]"):
        register_cohort(cohort_copy)
    # A registered manifest must hold every contract column.
    m = _manifest(cohort_copy).assign(label="0").drop(columns=["acquired_at"])
    _write_manifest(cohort_copy, m)
    with pytest.raises(InputError, match=r"missing column\(s\) \['acquired_at'\]"):
        load_cohort(cohort_copy, verify=False)


def test_empty_and_unreadable_manifest(cohort_copy):
    (cohort_copy / "manifest.csv").write_text(",".join(MANIFEST_COLUMNS) + "\n")
    with pytest.raises(InputError, match=r"manifest.csv: no cases"):
        register_cohort(cohort_copy)
    (cohort_copy / "manifest.csv").unlink()
    with pytest.raises(InputError, match=r"manifest.csv: manifest not found"):
        register_cohort(cohort_copy)


BAD_META = [
    ("version", "abc", r"cohort.yaml: field 'version': expected a positive integer; got 'abc'"),
    ("version", 0, r"cohort.yaml: field 'version': expected a positive integer; got 0"),
    ("id", "has space", r"cohort.yaml: field 'id': expected letters, digits"),
    ("sequestered", "yes please", r"cohort.yaml: field 'sequestered': expected true or false"),
    ("inclusion_criteria", "adults", r"cohort.yaml: field 'inclusion_criteria': expected a list of strings"),
    ("label_definition", "", r"cohort.yaml: field 'label_definition': required"),
    ("manifest", "../m.csv", r"cohort.yaml: field 'manifest': expected a .csv file name"),
]


@pytest.mark.parametrize("field, value, message", BAD_META, ids=[f"{f}={v!r}" for f, v, _ in BAD_META])
def test_bad_cohort_yaml(cohort_copy, field, value, message):
    path = cohort_copy / "cohort.yaml"
    meta = yaml.safe_load(path.read_text())
    meta[field] = value
    path.write_text(yaml.safe_dump(meta))
    with pytest.raises(InputError, match=message):
        register_cohort(cohort_copy)


def test_yaml_that_is_not_a_mapping(cohort_copy):
    (cohort_copy / "cohort.yaml").write_text("- a\n- b\n")
    with pytest.raises(InputError, match=r"cohort.yaml: expected a mapping at the top level; got list"):
        load_cohort(cohort_copy)


# --------------------------------------------------------------------------- real DICOM (pydicom's bundled files)


@pytest.fixture
def pydicom_dir(tmp_path):
    from pydicom.data import get_testdata_file

    root = tmp_path / "pydicom-cohort"
    (root / "images").mkdir(parents=True)
    names = ["MR_small.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm", "CT_small.dcm", "examples_overlay.dcm"]
    rows = []
    for i, name in enumerate(names):
        shutil.copyfile(get_testdata_file(name), root / "images" / name)
        rows.append({"case_id": f"D{i}", "patient_id": "", "image_path": f"images/{name}", "label": str(i % 2)})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False, lineterminator="\n")
    return root


def test_pydicom_bundled_files_register_with_header_columns(pydicom_dir):
    import pydicom

    cohort = register_cohort(pydicom_dir, meta=META, header_columns=True)
    m = cohort.manifest.set_index("case_id")
    for case_id, rel in m["image_path"].items():
        # Independent reading: pydicom 3.0.2, dcmread(path) and its data elements.
        ds = pydicom.dcmread(pydicom_dir / rel)
        assert m.at[case_id, "manufacturer"] == str(ds.Manufacturer)
        assert m.at[case_id, "sex"] == str(ds.PatientSex)
        assert m.at[case_id, "patient_id"] == str(ds.PatientID)
        assert m.at[case_id, "pixel_spacing_row"] == pytest.approx(float(ds.PixelSpacing[0]))
        age = ds.get("PatientAge", "")
        if age:
            assert m.at[case_id, "age"] == int(str(age)[:3])
        else:
            assert m.at[case_id, "age"] is pd.NA
    assert m.at["D3", "manufacturer"] == "GE MEDICAL SYSTEMS" and m.at["D3", "age"] == 0
    assert m.at["D4", "manufacturer"] == "SIEMENS" and m.at["D4", "age"] == 58 and m.at["D4", "sex"] == "M"
    assert m.loc[["D0", "D1", "D2"], "patient_id"].nunique() == 1  # one patient, three images: a cluster
    # read back, verified
    again = load_cohort(pydicom_dir, verify=True)
    assert again.digest == cohort.digest
    # The three MR encodings batch together; CT_small (128x128) differs from MR_small (64x64).
    mr = next(iter_batches(again, batch_size=3))
    assert mr.images.shape == (3, 64, 64)
    np.testing.assert_array_equal(mr.images[0], mr.images[1])
    np.testing.assert_array_equal(mr.images[0], mr.images[2])
    np.testing.assert_allclose(mr.spacing, [[0.3125, 0.3125]] * 3)
    with pytest.raises(InputError, match=r"CT_small.dcm: image shape \(128, 128\) differs from the cohort's first image \(64, 64\)"):
        list(iter_batches(again, batch_size=2))


def test_header_conflict_is_reported(pydicom_dir):
    m = _manifest(pydicom_dir)
    m["manufacturer"] = ""
    m.loc[3, "manufacturer"] = "Siemens"
    _write_manifest(pydicom_dir, m)
    with pytest.raises(InputError, match=r"line 5, column 'manufacturer': manifest says 'Siemens' but the DICOM "
                                         r"header of 'images/CT_small.dcm' says 'GE MEDICAL SYSTEMS'"):
        register_cohort(pydicom_dir, meta=META, header_columns=["manufacturer"])
    with pytest.raises(InputError, match=r"'header_columns': unknown column 'scanner'"):
        register_cohort(pydicom_dir, meta=META, header_columns=["scanner"])


def test_nifti_cohort(tmp_path):
    import nibabel as nib
    from nibabel.testing import data_path

    root = tmp_path / "nifti"
    (root / "images").mkdir(parents=True)
    for name in ("anatomical.nii", "reoriented_anat_moved.nii"):
        shutil.copyfile(Path(data_path) / name, root / "images" / name)
    pd.DataFrame([
        {"case_id": "N0", "patient_id": "P0", "image_path": "images/anatomical.nii", "label": "0"},
        {"case_id": "N1", "patient_id": "P1", "image_path": "images/reoriented_anat_moved.nii", "label": "1"},
    ]).to_csv(root / "manifest.csv", index=False)
    cohort = register_cohort(root, meta={**META, "id": "nibabel-bundled", "modality": "MR"})
    batch = next(iter_batches(cohort, batch_size=1))
    # nibabel 5.4.2: nib.load(path).get_fdata(dtype=float32), zooms (2, 2, 2)
    np.testing.assert_array_equal(batch.images[0], nib.load(root / "images/anatomical.nii").get_fdata(dtype=np.float32))
    np.testing.assert_allclose(batch.spacing, [[2.0, 2.0]])
    with pytest.raises(InputError, match=r"reoriented_anat_moved.nii: image shape \(21, 26, 22\) differs"):
        list(iter_batches(cohort, batch_size=2))


# --------------------------------------------------------------------------- batches


def test_iter_batches_streams_in_manifest_order(synth_cohort, monkeypatch):
    import validation.imageio as imageio

    m = synth_cohort.manifest
    calls = []
    real = imageio.read_image
    monkeypatch.setattr(imageio, "read_image", lambda p, **kw: (calls.append(p), real(p, **kw))[1])
    it = iter_batches(synth_cohort, batch_size=5, with_masks=True)
    first = next(it)
    assert len(calls) == 10  # streaming: only the first batch's 5 images and 5 masks (read_mask) were read
    batches = [first, *it]
    assert [len(b.case_ids) for b in batches] == [5] * (len(m) // 5) + ([len(m) % 5] if len(m) % 5 else [])
    assert sum((b.case_ids for b in batches), []) == m["case_id"].tolist()
    images = np.concatenate([b.images for b in batches])
    masks = np.concatenate([b.masks for b in batches])
    spacing = np.concatenate([b.spacing for b in batches])
    assert images.dtype == np.float32 and masks.dtype == np.uint8
    np.testing.assert_array_equal(spacing, m[["pixel_spacing_row", "pixel_spacing_col"]].to_numpy())
    assert (masks.reshape(len(m), -1).max(axis=1) == m["label"].to_numpy()).all()
    assert batches[0].to_dict()["shape"] == [5, 128, 128]


def test_npy_cohort_matches_dicom_cohort(synth_cohort, synth_cohort_npy_dir):
    # Same seed and patients, different file formats: identical pixels and masks.
    npy = load_cohort(synth_cohort_npy_dir)
    assert npy.digest != synth_cohort.digest
    for a, b in zip(iter_batches(synth_cohort, batch_size=16, with_masks=True),
                    iter_batches(npy, batch_size=16, with_masks=True)):
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.masks, b.masks)


def test_masks_for_cases_without_mask_path(cohort_copy):
    m = _manifest(cohort_copy)
    neg, pos = m.index[m["label"] == "0"][0], m.index[m["label"] == "1"][0]
    m.loc[neg, ["mask_path", "mask_sha256"]] = ""
    _write_manifest(cohort_copy, m)
    cohort = register_cohort(cohort_copy)
    masks = np.concatenate([b.masks for b in iter_batches(cohort, batch_size=64, with_masks=True)])
    assert not masks[neg].any()  # a negative case without a mask: all-zero (reference standard: no lesion)
    m = _manifest(cohort_copy)
    m.loc[pos, ["mask_path", "mask_sha256"]] = ""
    _write_manifest(cohort_copy, m)
    cohort = register_cohort(cohort_copy)
    with pytest.raises(InputError, match=rf"line {pos + 2}, column 'mask_path': empty for a positive case"):
        list(iter_batches(cohort, batch_size=64, with_masks=True))
    with pytest.raises(InputError, match="'batch_size' must be a positive integer; got 0"):
        next(iter_batches(cohort, batch_size=0))


# --------------------------------------------------------------------------- CLI


def test_cli_synth_verify_info_and_tamper(tmp_path, capsys):
    out = tmp_path / "cli"
    audit = tmp_path / "audit.sqlite"
    assert main(["cohort", "synth", str(out), "--patients", "3", "--seed", "2040", "--id", "cli",
                 "--format", "png", "--vendor-override", "Zephyr Diagnostics", "--audit-db", str(audit)]) == 0
    assert "digest" in capsys.readouterr().out
    cohort = load_cohort(out)
    assert set(cohort.manifest["manufacturer"]) == {"Zephyr Diagnostics"}
    from validation.audit import AuditStore

    entries = AuditStore(audit).find("cohort.register", digest=cohort.digest)
    assert len(entries) == 1 and entries[0].payload["cohort_id"] == "cli"
    assert main(["cohort", "verify", str(out)]) == 0
    assert f"OK cli v1" in capsys.readouterr().out
    assert main(["cohort", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["digest"] == cohort.digest and info["n_cases"] == cohort.n_cases
    assert main(["cohort", "info", str(out)]) == 0
    assert "Zephyr Diagnostics" in capsys.readouterr().out
    rel = cohort.manifest["image_path"].iloc[0]
    with open(out / rel, "r+b") as fh:
        fh.seek(100)
        b = fh.read(1)
        fh.seek(100)
        fh.write(bytes([b[0] ^ 0xFF]))
    assert main(["cohort", "verify", str(out)]) == 2
    assert rel in capsys.readouterr().err


def test_cli_register_headers(pydicom_dir, tmp_path, capsys):
    (pydicom_dir / "cohort.yaml").write_text(yaml.safe_dump(META))
    assert main(["cohort", "register", str(pydicom_dir), "--headers", "--no-audit"]) == 0
    assert "registered pydicom-bundled v1" in capsys.readouterr().out
    assert load_cohort(pydicom_dir).manifest["manufacturer"].iloc[3] == "GE MEDICAL SYSTEMS"
    assert main(["cohort", "verify", str(tmp_path / "nowhere")]) == 2
    assert "cohort directory not found" in capsys.readouterr().err

"""The in-silico generator: determinism, geometry, population structure, vendors, file formats."""

from __future__ import annotations

import io
import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from validation.errors import InputError
from validation.hashing import sha256_file
from validation.synth import (
    SHIFT_VENDOR,
    SITES,
    VENDORS,
    case_to_dicom,
    generate_cohort,
    iter_cases,
    synth_case,
    write_case,
)


def _case(label=1, manufacturer="Aurora Medical", seed=7, **kw):
    return synth_case(np.random.SeedSequence(seed), case_id="c1", patient_id="p1", site="Northfield General",
                      manufacturer=manufacturer, sex="F", age=63, label=label, **kw)


# --------------------------------------------------------------------------- one case


def test_case_image_and_mask_types_and_ranges():
    c = _case()
    assert c.image.dtype == np.uint16 and c.image.shape == (128, 128)
    assert c.mask.dtype == np.uint8 and c.mask.shape == (128, 128)
    assert 0 <= int(c.image.min()) and int(c.image.max()) <= 4095  # 12-bit
    assert set(np.unique(c.mask)) <= {0, 1}
    assert c.to_dict() == c.record
    r = c.record
    assert set(r) >= {"case_id", "patient_id", "site", "manufacturer", "sex", "age", "label", "n_lesions",
                      "lesions", "pixel_spacing_mm", "acquired_at"}
    assert r["pixel_spacing_mm"] == VENDORS["Aurora Medical"].pixel_spacing_mm


def test_mask_is_exactly_the_recorded_discs():
    # Derivation: the mask is {(i, j): (i - row)^2 + (j - col)^2 <= radius^2} over the recorded lesions.
    for seed in range(5):
        c = _case(seed=seed)
        ii, jj = np.mgrid[0:128, 0:128]
        expected = np.zeros((128, 128), dtype=bool)
        for les in c.record["lesions"]:
            expected |= (ii - les["row"]) ** 2 + (jj - les["col"]) ** 2 <= les["radius_px"] ** 2
        np.testing.assert_array_equal(c.mask.astype(bool), expected)
        assert c.record["n_lesions"] == len(c.record["lesions"]) and 1 <= c.record["n_lesions"] <= 3


def test_negative_case_has_no_lesion_and_empty_mask():
    c = _case(label=0)
    assert c.record["n_lesions"] == 0 and c.record["lesions"] == [] and not c.mask.any()


def test_lesion_brightens_the_image_inside_its_mask():
    # Same anatomy and noise (same seeds), with and without the nodules: the
    # difference is the blurred nodule profile, positive inside the mask.
    pos = _case(label=1, patient_seed=11)
    neg = _case(label=0, patient_seed=11)
    diff = pos.image.astype(float) - neg.image.astype(float)
    assert diff[pos.mask.astype(bool)].mean() > 0
    far = np.ones((128, 128), dtype=bool)
    for les in pos.record["lesions"]:
        ii, jj = np.mgrid[0:128, 0:128]
        far &= (ii - les["row"]) ** 2 + (jj - les["col"]) ** 2 > (les["radius_px"] + 8) ** 2
    assert np.abs(diff[far]).max() <= 1  # away from the nodules only rounding can differ


def test_lesion_size_and_contrast_ranges():
    radii, contrasts = [], []
    for c in iter_cases(60, seed=2100):
        for les in c.record["lesions"]:
            radii.append(les["radius_px"])
            contrasts.append(les["contrast"])
            assert 0 <= les["row"] < 128 and 0 <= les["col"] < 128
    radii, contrasts = np.array(radii), np.array(contrasts)
    assert radii.min() >= 2.0 and radii.max() <= 9.0
    assert radii.min() < 3.0 and radii.max() > 8.0  # the full range is used
    assert contrasts.min() >= 0.025 and contrasts.max() <= 0.30
    assert (contrasts < 0.05).mean() > 0.15  # some subtle nodules (log-uniform: P(c<0.05) = ln2/ln12 = 0.28)


# --------------------------------------------------------------------------- determinism


def _fingerprint(cases):
    return [(c.record["case_id"], c.image.tobytes(), c.mask.tobytes(), repr(c.record)) for c in cases]


def test_streams_are_deterministic_and_seed_dependent():
    a = _fingerprint(iter_cases(6, seed=2000))
    b = _fingerprint(iter_cases(6, seed=2000))
    c = _fingerprint(iter_cases(6, seed=2001))
    assert a == b
    assert [x[1] for x in a][:3] != [x[1] for x in c][:3]


def test_chunked_stream_equals_one_stream():
    # Patient i always draws from SeedSequence(seed, spawn_key=(i,)): chunks compose.
    whole = _fingerprint(iter_cases(6, seed=2002))
    parts = _fingerprint(iter_cases(3, seed=2002)) + _fingerprint(iter_cases(3, seed=2002, start_patient=3))
    assert whole == parts


def test_patient_images_share_anatomy_and_lesions():
    cases = list(iter_cases(40, seed=2003))
    by_patient: dict[str, list] = {}
    for c in cases:
        by_patient.setdefault(c.record["patient_id"], []).append(c)
    multi = [v for v in by_patient.values() if len(v) > 1 and all(x.record["label"] for x in v)]
    assert multi, "expected a diseased patient with several positive images"
    for imgs in multi:
        radii = [sorted(les["radius_px"] for les in x.record["lesions"]) for x in imgs]
        assert all(r == radii[0] for r in radii)  # same nodules, shifted by positioning only
        for x in imgs[1:]:
            for l0, l1 in zip(imgs[0].record["lesions"], x.record["lesions"]):
                assert abs(l0["row"] - l1["row"]) <= 6.01 and abs(l0["col"] - l1["col"]) <= 6.01
        assert len({(x.record["sex"], x.record["age"], x.record["site"]) for x in imgs}) == 1


# --------------------------------------------------------------------------- population


@pytest.fixture(scope="module")
def population():
    import pandas as pd

    # Labels, sites, ages and cluster sizes do not depend on the matrix size; 32x32 keeps this fast.
    return pd.DataFrame([c.record for c in iter_cases(300, seed=2200, image_size=32)])


def test_cluster_structure(population):
    sizes = population.groupby("patient_id").size()
    assert set(sizes.unique()) <= {1, 2, 3}
    # Expected shares 0.5/0.3/0.2 (IMAGES_PER_PATIENT_P); binomial SE with n=300 is <= 0.029, allow 4 SE.
    shares = sizes.value_counts(normalize=True).reindex([1, 2, 3]).to_numpy()
    np.testing.assert_allclose(shares, [0.5, 0.3, 0.2], atol=4 * math.sqrt(0.25 / 300))
    assert population["case_id"].is_unique


def test_prevalence_by_site_and_age(population):
    patients = population.groupby("patient_id").agg(
        diseased=("label", "max"), site=("site", "first"), age=("age", "first"), sex=("sex", "first"))
    prev = patients["diseased"].mean()
    assert 0.20 <= prev <= 0.45
    by_site = patients.groupby("site")["diseased"].mean()
    assert set(by_site.index) == set(SITES)
    assert by_site.between(0.10, 0.60).all()
    # Riverside (0.42 by design) above Lakeside (0.22): a 0.20 gap, ~2.5 binomial SE at these sizes.
    assert by_site["Riverside University Hospital"] > by_site["Lakeside Clinic"]
    assert patients["age"].between(40, 85).all()
    assert patients["age"][patients["diseased"] == 1].mean() > patients["age"][patients["diseased"] == 0].mean()
    assert set(patients["sex"]) == {"F", "M"}
    assert set(population["manufacturer"]) == {"Aurora Medical", "Borealis Imaging", "Cygnus Systems"}


def test_diseased_patients_usually_show_lesions(population):
    diseased = population.groupby("patient_id")["label"].transform("max") == 1
    first = population["case_id"].str.endswith("-1")
    assert population.loc[diseased & first, "label"].eq(1).all()  # first view always shows the nodules
    later = population.loc[diseased & ~first, "label"].mean()
    assert 0.70 <= later <= 0.97  # LATER_VIEW_VISIBLE_P = 0.85
    assert population.loc[~diseased, "label"].eq(0).all()
    assert (population["label"] == (population["n_lesions"] > 0)).all()


# --------------------------------------------------------------------------- vendors


def _background_noise(vendor: str, n: int = 40) -> float:
    """Noise SD in the image corner, outside the body, where the ideal image is flat."""
    patches = [c.image[:6, :6].astype(float)
               for c in iter_cases(n, seed=2300, vendor_override=vendor, image_size=64)]
    return float(np.mean([p.std(ddof=1) for p in patches]))


def test_vendor_noise_ordering_matches_the_acquisition_model():
    # Derivation: outside the body the attenuation is 0.05 (the air/table term of
    # the anatomy), so the detector signal is S = offset + contrast * 0.05**gamma
    # and the noise SD in DN is 4095 * sqrt(electronic^2 + quantum^2 * S)
    # (Gaussian electronic + signal-dependent quantum noise, independent).
    measured, expected = {}, {}
    for name, v in VENDORS.items():
        s = v.offset + v.contrast * 0.05**v.gamma
        expected[name] = 4095 * math.sqrt(v.electronic_noise**2 + v.quantum_noise**2 * s)
        measured[name] = _background_noise(name)
        assert measured[name] == pytest.approx(expected[name], rel=0.10), name
    order = ["Aurora Medical", "Borealis Imaging", "Cygnus Systems", SHIFT_VENDOR]
    assert [measured[k] for k in order] == sorted(measured.values())
    assert measured[SHIFT_VENDOR] > 2.5 * max(measured[k] for k in order[:3])


def test_vendor_override_mix_and_timestamps():
    t0 = datetime(2026, 3, 2, 8, 0, 0)
    cases = list(iter_cases(5, seed=2400, vendor_override=SHIFT_VENDOR, start_time=t0, image_size=32,
                            interval=timedelta(hours=1), id_prefix="Z"))
    assert {c.record["manufacturer"] for c in cases} == {SHIFT_VENDOR}
    assert all(c.record["case_id"].startswith("Z") for c in cases)
    firsts = [datetime.fromisoformat(c.record["acquired_at"]) for c in cases if c.record["case_id"].endswith("-1")]
    assert firsts == [t0 + timedelta(hours=i) for i in range(5)]
    mixed = [c.record["manufacturer"] for c in iter_cases(30, seed=2401, image_size=32,
                                                           vendor_mix={"Aurora Medical": 1, SHIFT_VENDOR: 1})]
    assert set(mixed) == {"Aurora Medical", SHIFT_VENDOR}


def test_bad_arguments_raise_input_error():
    with pytest.raises(InputError, match="'manufacturer' must be one of .*got 'Acme'"):
        _case(manufacturer="Acme")
    with pytest.raises(InputError, match="'label' must be 0 or 1; got 2"):
        _case(label=2)
    with pytest.raises(InputError, match="'sex' must be one of"):
        synth_case(1, case_id="c", patient_id="p", site="s", manufacturer="Aurora Medical", sex="X", age=50, label=0)
    with pytest.raises(InputError, match="'vendor_override' must be one of"):
        next(iter_cases(1, seed=2000, vendor_override="Acme"))
    with pytest.raises(InputError, match="'n_patients' must be a non-negative integer; got -1"):
        next(iter_cases(-1, seed=2000))
    with pytest.raises(InputError, match="'sites': unknown site 'Nowhere'"):
        next(iter_cases(1, seed=2000, sites=["Nowhere"]))
    with pytest.raises(InputError, match="'prevalence' must be in"):
        next(iter_cases(1, seed=2000, prevalence=1.5))
    with pytest.raises(TypeError, match="'seed_seq_or_rng'"):
        synth_case("x", case_id="c", patient_id="p", site="s", manufacturer="Aurora Medical", sex="F", age=50, label=0)


# --------------------------------------------------------------------------- files


def test_dicom_tags_pixels_and_deterministic_bytes(tmp_path):
    import pydicom

    case = next(iter_cases(1, seed=2500))
    row = write_case(case, tmp_path / "a", fmt="dicom", uid_seed="cohort/1/2500")
    write_case(case, tmp_path / "b", fmt="dicom", uid_seed="cohort/1/2500")
    write_case(case, tmp_path / "c", fmt="dicom", uid_seed="other")
    a, b, c = (tmp_path / d / row["image_path"] for d in "abc")
    assert a.read_bytes() == b.read_bytes()
    ds = pydicom.dcmread(a)
    r = case.record
    assert ds.Manufacturer == r["manufacturer"]
    assert ds.PatientSex == r["sex"]
    assert ds.PatientAge == f"{r['age']:03d}Y" and len(ds.PatientAge) == 4
    assert ds.PatientID == r["patient_id"]
    assert ds.StudyDate == r["acquired_at"].replace("-", "")
    assert [float(x) for x in ds.PixelSpacing] == list(r["pixel_spacing_mm"])
    assert (ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (128, 128, 16, 12, 11)
    assert ds.PhotometricInterpretation == "MONOCHROME2" and ds.Modality == "DX"
    assert ds.InstitutionName == r["site"]
    assert ds.SOPInstanceUID.startswith("2.25.") and ds.StudyInstanceUID.startswith("2.25.")
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    np.testing.assert_array_equal(ds.pixel_array, case.image)
    assert pydicom.dcmread(c).SOPInstanceUID != ds.SOPInstanceUID
    # the mask beside it: 8-bit PNG with values 0/1
    from PIL import Image

    with Image.open(tmp_path / "a" / row["mask_path"]) as im:
        assert im.mode == "L"
        np.testing.assert_array_equal(np.array(im), case.mask)


def test_png_and_npy_round_trip(tmp_path):
    from PIL import Image

    case = next(c for c in iter_cases(3, seed=2501) if c.record["label"] == 1)
    row = write_case(case, tmp_path, fmt="png")
    with Image.open(tmp_path / row["image_path"]) as im:
        assert im.mode == "I;16"
        np.testing.assert_array_equal(np.array(im), case.image)
    row = write_case(case, tmp_path, fmt="npy")
    np.testing.assert_array_equal(np.load(tmp_path / row["image_path"]), case.image)
    np.testing.assert_array_equal(np.load(tmp_path / row["mask_path"]), case.mask)
    with pytest.raises(InputError, match="'fmt' must be one of"):
        write_case(case, tmp_path, fmt="tiff")


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_generate_cohort_is_byte_identical_on_rerun(tmp_path, synth_cohort_dir, synth_cohort_args):
    from validation.cohorts import load_cohort

    again = generate_cohort(tmp_path / "again", **synth_cohort_args)
    assert _tree(again) == _tree(synth_cohort_dir)
    assert load_cohort(again).digest == load_cohort(synth_cohort_dir).digest
    with pytest.raises(InputError, match="already exists"):
        generate_cohort(again, n_patients=1, seed=2000, cohort_id="synth-test")


def test_case_to_dicom_age_string_is_padded():
    case = _case()
    young = type(case)(image=case.image, mask=case.mask, record={**case.record, "age": 7})
    assert case_to_dicom(young).PatientAge == "007Y"

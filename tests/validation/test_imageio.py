"""read_image / read_mask on real files: pydicom's and nibabel's bundled test data, Pillow PNGs, NPY.

Expected values come from the files' own libraries (pydicom 3.0, nibabel 5.4,
Pillow), called directly as written next to each assertion.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from validation.errors import InputError
from validation.imageio import image_format, parse_dicom_age, read_header, read_image, read_mask

pydicom = pytest.importorskip("pydicom")
nib = pytest.importorskip("nibabel")
from pydicom.data import get_testdata_file  # noqa: E402
from nibabel.testing import data_path as NIB_DATA  # noqa: E402


def _dcm(name):
    path = get_testdata_file(name)
    assert path is not None, f"pydicom test file {name} is not bundled"
    return path


# --------------------------------------------------------------------------- DICOM


def test_ct_small_rescale_and_header():
    arr, hdr = read_image(_dcm("CT_small.dcm"))
    ds = pydicom.dcmread(_dcm("CT_small.dcm"))
    # pydicom 3.0.2: pydicom.pixels.apply_rescale(ds.pixel_array, ds) applies the Modality LUT
    # (RescaleSlope 1, RescaleIntercept -1024 in this file).
    from pydicom.pixels import apply_rescale

    expected = apply_rescale(ds.pixel_array, ds)
    np.testing.assert_array_equal(arr, expected.astype(np.float32))
    assert arr.dtype == np.float32 and arr.shape == (128, 128)
    assert float(ds.RescaleIntercept) == -1024.0 and arr.min() < 0
    assert hdr["manufacturer"] == "GE MEDICAL SYSTEMS" == ds.Manufacturer
    assert hdr["sex"] == "O" and hdr["age"] == 0  # PatientAge "000Y"
    assert hdr["pixel_spacing"] == (0.661468, 0.661468)
    assert hdr["patient_id"] == "1CT1" and hdr["modality"] == "CT"


def test_mr_small_encodings_decode_to_the_same_pixels():
    # The same MR slice stored explicit/implicit little endian, big endian and RLE.
    ref, hdr = read_image(_dcm("MR_small.dcm"))
    np.testing.assert_array_equal(ref, pydicom.dcmread(_dcm("MR_small.dcm")).pixel_array.astype(np.float32))
    assert hdr["manufacturer"] == "TOSHIBA_MEC" and hdr["sex"] == "F" and hdr["age"] is None
    for name in ("MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm"):
        arr, _ = read_image(_dcm(name))
        np.testing.assert_array_equal(arr, ref, err_msg=name)


def test_monochrome1_is_inverted(tmp_path):
    # No bundled file is MONOCHROME1, so derive one from MR_small (signed 16-bit, no rescale).
    # Derivation: DICOM PS3.3 C.7.6.3.1.2 -- MONOCHROME1 shows the minimum as white; inverting
    # within the storable range [-32768, 32767] maps v -> (-32768 + 32767) - v = -1 - v.
    ds = pydicom.dcmread(_dcm("MR_small.dcm"))
    ds.PhotometricInterpretation = "MONOCHROME1"
    path = tmp_path / "mono1.dcm"
    ds.save_as(path)
    arr, hdr = read_image(path)
    stored = ds.pixel_array.astype(np.float64)
    np.testing.assert_array_equal(arr, (-1.0 - stored).astype(np.float32))
    assert hdr["inverted"] is True and hdr["photometric"] == "MONOCHROME1"


def test_multiframe_and_header_only():
    arr, hdr = read_image(_dcm("rtdose.dcm"))  # 15 frames of 10x10, RTDOSE
    assert arr.shape == (15, 10, 10) == pydicom.dcmread(_dcm("rtdose.dcm")).pixel_array.shape
    h = read_header(_dcm("examples_overlay.dcm"))
    assert (h["manufacturer"], h["sex"], h["age"]) == ("SIEMENS", "M", 58)


def test_dicom_detected_without_suffix(tmp_path):
    target = tmp_path / "IMG0001"
    target.write_bytes(open(_dcm("CT_small.dcm"), "rb").read())
    assert image_format(target) == "dicom"
    assert read_image(target)[0].shape == (128, 128)


def test_dicom_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"not a dicom file at all")
    with pytest.raises(InputError, match="broken.dcm: not a readable DICOM file"):
        read_image(bad)
    ds = pydicom.dcmread(_dcm("CT_small.dcm"), stop_before_pixels=True)
    nopix = tmp_path / "nopix.dcm"
    ds.save_as(nopix)
    with pytest.raises(InputError, match=r"nopix.dcm: DICOM file has no PixelData"):
        read_image(nopix)
    with pytest.raises(InputError, match="missing.dcm: image file not found"):
        read_image(tmp_path / "missing.dcm")


def test_parse_dicom_age():
    # DICOM PS3.5 AS value representation: nnnD, nnnW, nnnM or nnnY.
    assert parse_dicom_age("063Y") == 63
    assert parse_dicom_age("018M") == 1  # 18 months = 1.5 years -> whole years 1
    assert parse_dicom_age("010W") == 0
    assert parse_dicom_age("") is None
    with pytest.raises(InputError, match="expected a DICOM age string like '063Y'; got '63 years'"):
        parse_dicom_age("63 years")


# --------------------------------------------------------------------------- NIfTI


def test_nifti_3d_matches_nibabel():
    path = os.path.join(NIB_DATA, "anatomical.nii")
    arr, hdr = read_image(path)
    img = nib.load(path)
    # nibabel 5.4: nib.load(path).get_fdata(dtype=np.float32); header zooms (2, 2, 2) mm.
    np.testing.assert_array_equal(arr, img.get_fdata(dtype=np.float32))
    assert arr.shape == (33, 41, 25)
    assert hdr["pixel_spacing"] == (2.0, 2.0, 2.0) and hdr["format"] == "nifti"
    arr2, hdr2 = read_image(os.path.join(NIB_DATA, "standard.nii.gz"))
    assert arr2.shape == (4, 5, 7) and hdr2["pixel_spacing"] == (1.0, 3.0, 2.0)


def test_nifti_2d_and_4d(tmp_path):
    data = np.arange(12, dtype=np.int16).reshape(3, 4, 1)
    img = nib.Nifti1Image(data, np.diag([0.5, 0.7, 1.0, 1.0]))
    path = tmp_path / "slice.nii.gz"
    nib.save(img, path)
    arr, hdr = read_image(path)
    np.testing.assert_array_equal(arr, data[..., 0].astype(np.float32))
    assert hdr["pixel_spacing"] == pytest.approx((0.5, 0.7))
    with pytest.raises(InputError, match=r"example4d.nii.gz: expected a 2D or 3D NIfTI image; got shape \(128, 96, 24, 2\)"):
        read_image(os.path.join(NIB_DATA, "example4d.nii.gz"))


# --------------------------------------------------------------------------- PNG and NPY


def test_png_8_and_16_bit(tmp_path):
    from PIL import Image

    a16 = (np.arange(64 * 32, dtype=np.uint16).reshape(64, 32) * 2).astype(np.uint16)
    Image.fromarray(a16).save(tmp_path / "a16.png")
    a8 = (np.arange(64 * 32) % 256).astype(np.uint8).reshape(64, 32)
    Image.fromarray(a8).save(tmp_path / "a8.png")
    arr16, hdr16 = read_image(tmp_path / "a16.png")
    arr8, hdr8 = read_image(tmp_path / "a8.png")
    np.testing.assert_array_equal(arr16, a16.astype(np.float32))
    np.testing.assert_array_equal(arr8, a8.astype(np.float32))
    assert hdr16["mode"] == "I;16" and hdr8["mode"] == "L"
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(InputError, match="rgb.png: expected a grayscale PNG .* got mode 'RGB'"):
        read_image(tmp_path / "rgb.png")


def test_npy_and_masks(tmp_path):
    np.save(tmp_path / "img.npy", np.full((8, 8), 7, dtype=np.uint16))
    assert read_image(tmp_path / "img.npy")[0].sum() == 7 * 64
    np.save(tmp_path / "mask.npy", np.array([[0, 2], [1, 0]], dtype=np.uint8))
    np.testing.assert_array_equal(read_mask(tmp_path / "mask.npy"), [[0, 1], [1, 0]])
    np.save(tmp_path / "vec.npy", np.zeros(5))
    with pytest.raises(InputError, match=r"vec.npy: expected a 2D or 3D numeric array; got dtype float64, shape \(5,\)"):
        read_image(tmp_path / "vec.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="obj.npy: not a readable NPY file"):
        read_image(tmp_path / "obj.npy")
    np.save(tmp_path / "neg.npy", np.array([[0, -1]], dtype=np.int8))
    with pytest.raises(InputError, match="neg.npy: mask has negative or non-finite values"):
        read_mask(tmp_path / "neg.npy")
    (tmp_path / "x.tif").write_bytes(b"II*\0")
    with pytest.raises(InputError, match=r"x.tif: unsupported image format \(suffix '.tif'\)"):
        read_image(tmp_path / "x.tif")


def test_synth_files_read_back(synth_cohort_dir):
    import pandas as pd

    m = pd.read_csv(synth_cohort_dir / "manifest.csv", dtype=str, keep_default_na=False)
    row = m.iloc[0]
    arr, hdr = read_image(synth_cohort_dir / row["image_path"])
    assert arr.shape == (128, 128) and hdr["manufacturer"] == row["manufacturer"]
    assert hdr["age"] == int(row["age"]) and hdr["sex"] == row["sex"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # our own DICOM files must not trigger pydicom warnings
        pydicom.dcmread(synth_cohort_dir / row["image_path"])


def test_native_fast_path_equals_pydicom_pixel_array(synth_cohort_dir):
    # The uncompressed little-endian fast path must give pydicom's pixel_array exactly
    # (pydicom 3.0 `Dataset.pixel_array` is the reference), and decline what it does not cover.
    import pydicom
    from pydicom.data import get_testdata_file

    from validation.imageio import _native_pixels

    files = sorted((synth_cohort_dir / "images").iterdir()) + [get_testdata_file("CT_small.dcm"),
                                                                get_testdata_file("MR_small_implicit.dcm")]
    for f in files:
        ds = pydicom.dcmread(f)
        fast = _native_pixels(ds)
        assert fast is not None, f
        assert fast.dtype == ds.pixel_array.dtype and np.array_equal(fast, ds.pixel_array), f
    big_endian = pydicom.dcmread(get_testdata_file("MR_small_bigendian.dcm"))
    assert _native_pixels(big_endian) is None

"""Reading images and masks: DICOM (pydicom), NIfTI (nibabel), PNG (Pillow), NPY.

One entry point, :func:`read_image`, returns the pixel values a model should
see (DICOM modality rescale applied, MONOCHROME1 inverted to MONOCHROME2
convention) as ``float32`` together with the header fields that can populate
a cohort's subgroup columns. :func:`read_mask` reads a segmentation mask as
``uint8`` 0/1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from validation.errors import InputError

__all__ = ["read_image", "read_header", "read_mask", "image_format", "dicom_header", "parse_dicom_age"]

_DICOM_SUFFIXES = {".dcm", ".dicom", ".ima"}


def image_format(path: str | Path) -> str:
    """``"dicom"``, ``"nifti"``, ``"png"`` or ``"npy"`` from the suffix (DICOM also by its magic).

    Raises
    ------
    InputError
        The file does not exist or its format is not one medval reads.
    """
    p = Path(path)
    name = p.name.lower()
    if not p.is_file():
        raise InputError(f"{p}: image file not found")
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith(".png"):
        return "png"
    if name.endswith(".npy"):
        return "npy"
    if p.suffix.lower() in _DICOM_SUFFIXES:
        return "dicom"
    with open(p, "rb") as fh:
        head = fh.read(132)
    if len(head) == 132 and head[128:132] == b"DICM":
        return "dicom"
    raise InputError(
        f"{p}: unsupported image format (suffix {p.suffix!r}); expected DICOM (.dcm or DICM preamble), "
        "NIfTI (.nii, .nii.gz), PNG or NPY"
    )


_AGE_RE = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$")


def parse_dicom_age(value: Any, *, where: str = "PatientAge") -> int | None:
    """Whole years from a DICOM Age String (``"063Y"``, ``"018M"``, ``"003W"``, ``"010D"``).

    Empty → ``None``. Anything else raises :class:`InputError` naming ``where``.

    Examples
    --------
    >>> parse_dicom_age("063Y"), parse_dicom_age("018M"), parse_dicom_age("")
    (63, 1, None)
    """
    s = "" if value is None else str(value)
    if not s.strip():
        return None
    m = _AGE_RE.match(s)
    if not m:
        raise InputError(f"{where}: expected a DICOM age string like '063Y'; got {s!r}")
    n, unit = int(m.group(1)), m.group(2)
    days = {"D": 1, "W": 7, "M": 365.25 / 12, "Y": 365.25}[unit]
    return int(n) if unit == "Y" else int(n * days // 365.25)


def dicom_header(ds: Any, *, where: str = "") -> dict[str, Any]:
    """Subgroup-relevant header fields of a pydicom dataset.

    Returns keys: manufacturer, sex, age (int years or None), patient_id,
    modality, pixel_spacing ((row, col) mm or None; ``PixelSpacing``, else
    ``ImagerPixelSpacing``), photometric, rows, columns, study_date,
    institution, bits_stored, rescale_slope, rescale_intercept.
    """
    spacing = None
    for kw in ("PixelSpacing", "ImagerPixelSpacing"):
        v = ds.get(kw)
        if v is not None and len(v) == 2:
            spacing = (float(v[0]), float(v[1]))
            break
    return {
        "manufacturer": str(ds.get("Manufacturer", "") or ""),
        "sex": str(ds.get("PatientSex", "") or ""),
        "age": parse_dicom_age(ds.get("PatientAge", ""), where=f"{where}: PatientAge"),
        "patient_id": str(ds.get("PatientID", "") or ""),
        "modality": str(ds.get("Modality", "") or ""),
        "pixel_spacing": spacing,
        "photometric": str(ds.get("PhotometricInterpretation", "") or ""),
        "rows": int(ds.get("Rows", 0) or 0),
        "columns": int(ds.get("Columns", 0) or 0),
        "study_date": str(ds.get("StudyDate", "") or ""),
        "institution": str(ds.get("InstitutionName", "") or ""),
        "bits_stored": int(ds.get("BitsStored", 0) or 0),
        "rescale_slope": float(ds.get("RescaleSlope", 1.0) or 1.0),
        "rescale_intercept": float(ds.get("RescaleIntercept", 0.0) or 0.0),
    }


def _pixel_header(ds: Any) -> dict[str, Any]:
    """The fields needed to turn stored values into an image, and the spacing (a fast subset)."""
    spacing = None
    for kw in ("PixelSpacing", "ImagerPixelSpacing"):
        v = ds.get(kw)
        if v is not None and len(v) == 2:
            spacing = (float(v[0]), float(v[1]))
            break
    return {
        "pixel_spacing": spacing,
        "photometric": str(ds.get("PhotometricInterpretation", "") or ""),
        "bits_stored": int(ds.get("BitsStored", 0) or 0),
        "rescale_slope": float(ds.get("RescaleSlope", 1.0) or 1.0),
        "rescale_intercept": float(ds.get("RescaleIntercept", 0.0) or 0.0),
    }


_NATIVE_LE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")  # implicit / explicit VR little endian


def _native_pixels(ds: Any) -> np.ndarray | None:
    """Uncompressed little-endian single-frame 8/16-bit grayscale, read straight from PixelData.

    The common case of a radiograph series, without pydicom's pixel-handler
    machinery (about half the decode time here); None for anything else, which
    then goes through ``ds.pixel_array``. Values are identical to pixel_array's.
    """
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    if ts not in _NATIVE_LE or int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        return None
    if int(ds.get("NumberOfFrames", 1) or 1) != 1:
        return None
    bits, stored_bits = int(ds.get("BitsAllocated", 0) or 0), int(ds.get("BitsStored", 0) or 0)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    if bits not in (8, 16) or stored_bits != bits and (signed or stored_bits > bits):
        return None
    rows, cols = int(ds.Rows), int(ds.Columns)
    dtype = np.dtype(("<i" if signed else "<u") + str(bits // 8))
    data = ds.PixelData
    if len(data) < rows * cols * dtype.itemsize:
        return None
    arr = np.frombuffer(data, dtype=dtype, count=rows * cols).reshape(rows, cols)
    if stored_bits < bits and int(arr.max(initial=0)) >> stored_bits:
        return None  # bits above BitsStored are set (e.g. overlays): let pydicom decide what they mean
    return arr


def _read_dicom(p: Path, *, pixels: bool = True, full_header: bool = True) -> tuple[np.ndarray | None, dict[str, Any]]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(p, stop_before_pixels=not pixels)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise InputError(f"{p}: not a readable DICOM file ({exc})") from None
    header = dicom_header(ds, where=str(p)) if full_header else _pixel_header(ds)
    header["format"] = "dicom"
    if not pixels:
        return None, header
    if "PixelData" not in ds:
        raise InputError(f"{p}: DICOM file has no PixelData (7FE0,0010)")
    photometric = header["photometric"]
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise InputError(
            f"{p}: field 'PhotometricInterpretation': expected MONOCHROME1 or MONOCHROME2 (grayscale); "
            f"got {photometric!r}"
        )
    try:
        stored = _native_pixels(ds)
        if stored is None:
            stored = ds.pixel_array
    except Exception as exc:  # pydicom raises several types for unsupported transfer syntaxes
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "?")
        raise InputError(f"{p}: cannot decode pixel data (transfer syntax {ts}): {exc}") from None
    slope, intercept = header["rescale_slope"], header["rescale_intercept"]
    if slope == 1.0 and intercept == 0.0 and photometric == "MONOCHROME2" and stored.dtype.itemsize <= 2:
        # Identity rescale: integers up to 16 bits are exact in float32, so skip the float64 pass.
        header["shape"] = tuple(int(x) for x in stored.shape)
        return stored.astype(np.float32), header
    arr = stored.astype(np.float64) * slope + intercept
    if photometric == "MONOCHROME1":
        # MONOCHROME1: the minimum value is displayed white. Invert within the
        # range of storable values (after rescale) so that larger = brighter,
        # as in MONOCHROME2 (DICOM PS3.3 C.7.6.3.1.2).
        bits = header["bits_stored"] or stored.dtype.itemsize * 8
        if int(ds.get("PixelRepresentation", 0)) == 1:
            lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        else:
            lo, hi = 0, 2**bits - 1
        a, b = lo * slope + intercept, hi * slope + intercept
        arr = (a + b) - arr
        header["inverted"] = True
    header["shape"] = tuple(int(x) for x in arr.shape)
    return arr.astype(np.float32), header


def _read_nifti(p: Path) -> tuple[np.ndarray, dict[str, Any]]:
    import nibabel as nib

    try:
        img = nib.load(str(p))
        arr = np.asarray(img.get_fdata(dtype=np.float32))
    except Exception as exc:  # nibabel raises ImageFileError, ValueError, OSError...
        raise InputError(f"{p}: not a readable NIfTI file ({exc})") from None
    zooms = tuple(float(z) for z in img.header.get_zooms())
    # Drop trailing singleton axes (a 2D image stored as X×Y×1).
    while arr.ndim > 2 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise InputError(f"{p}: expected a 2D or 3D NIfTI image; got shape {arr.shape}")
    return arr, {
        "format": "nifti",
        "pixel_spacing": zooms[: arr.ndim] if len(zooms) >= 2 else None,
        "shape": tuple(int(x) for x in arr.shape),
        "manufacturer": "",
        "sex": "",
        "age": None,
    }


def _read_png(p: Path) -> tuple[np.ndarray, dict[str, Any]]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            mode = im.mode
            if mode not in ("L", "I;16", "I;16B", "I;16L", "I", "1"):
                raise InputError(f"{p}: expected a grayscale PNG (8 or 16 bit); got mode {mode!r}")
            arr = np.array(im)
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{p}: not a readable PNG file ({exc})") from None
    return arr, {"format": "png", "pixel_spacing": None, "mode": mode, "shape": tuple(arr.shape),
                 "manufacturer": "", "sex": "", "age": None}


def _read_npy(p: Path) -> tuple[np.ndarray, dict[str, Any]]:
    try:
        arr = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{p}: not a readable NPY file ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf" or arr.ndim not in (2, 3):
        raise InputError(
            f"{p}: expected a 2D or 3D numeric array; got dtype {getattr(arr, 'dtype', '?')}, "
            f"shape {getattr(arr, 'shape', '?')}"
        )
    return arr, {"format": "npy", "pixel_spacing": None, "shape": tuple(arr.shape),
                 "manufacturer": "", "sex": "", "age": None}


def read_image(path: str | Path, *, full_header: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Read one image as ``float32`` raw values plus its header fields.

    Parameters
    ----------
    path : path
        DICOM, NIfTI (``.nii``/``.nii.gz``), PNG (8/16-bit grayscale) or NPY.

    Returns
    -------
    array : numpy.ndarray
        ``float32``, 2D (H, W) or 3D. DICOM: stored values × RescaleSlope +
        RescaleIntercept, MONOCHROME1 inverted so that larger is brighter;
        multi-frame → (frames, H, W). NIfTI: nibabel's scaled data in the
        file's array order (i, j[, k]); trailing singleton axes dropped.
    header : dict
        ``format``, ``shape``, ``pixel_spacing`` ((row, col[, slice]) mm or None),
        ``manufacturer``, ``sex``, ``age`` (int years or None) and, for DICOM,
        the other fields of :func:`dicom_header`. With ``full_header=False`` a
        DICOM header holds only what decoding needs and the spacing (the
        streaming path of inference, where subgroup fields come from the manifest).

    Raises
    ------
    InputError
        Missing file, unknown format, undecodable or non-grayscale content; the
        message names the file.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> arr, hdr = read_image(get_testdata_file("CT_small.dcm"))
    >>> arr.shape, arr.dtype, hdr["manufacturer"], hdr["pixel_spacing"]
    ((128, 128), dtype('float32'), 'GE MEDICAL SYSTEMS', (0.661468, 0.661468))
    """
    p = Path(path)
    fmt = image_format(p)
    if fmt == "dicom":
        arr, header = _read_dicom(p, full_header=full_header)
    elif fmt == "nifti":
        arr, header = _read_nifti(p)
    elif fmt == "png":
        arr, header = _read_png(p)
    else:
        arr, header = _read_npy(p)
    return np.asarray(arr, dtype=np.float32), header


def read_header(path: str | Path) -> dict[str, Any]:
    """Header fields only (DICOM without decoding pixels; other formats read the array)."""
    p = Path(path)
    if image_format(p) == "dicom":
        return _read_dicom(p, pixels=False)[1]
    return read_image(p)[1]


def read_mask(path: str | Path) -> np.ndarray:
    """Read a segmentation mask as ``uint8`` with 1 where the stored value is > 0.

    Raises
    ------
    InputError
        As :func:`read_image`, or when the mask has negative or non-finite values.
    """
    arr, _ = read_image(path)
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise InputError(f"{path}: mask has negative or non-finite values")
    return (arr > 0).astype(np.uint8)

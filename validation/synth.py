"""In-silico radiograph-like cohorts: anatomy, lesions, vendors, sites, patients.

No public imaging data set can be downloaded where medval is built and tested,
so the demo, the reference models and most tests use simulated patients, in
the spirit of FDA's VICTRE in-silico imaging trial [1]_. Each case is a 2D
chest-radiograph-like image (default 128×128) stored as 12-bit ``uint16``
(0..4095) with an exact lesion mask and the lesions' centres and radii.

The simulation has three layers:

* **Patient** (one :class:`numpy.random.SeedSequence` per patient): site,
  sex, age, disease status (site prevalence, rising with age), anatomy (lung
  fields, ribs, mediastinum, heart, spine, low-frequency texture) and, for a
  diseased patient, 1–3 nodules of radius ~2–9 px and varying contrast —
  some subtle enough that a good model misses them.
* **Image** (1–3 per patient; children of the patient's seed): small
  positioning shift, whether the nodules are visible in this view (a diseased
  patient's first image always shows them, later views with probability
  0.85), the acquiring vendor drawn from the site's vendor mix.
* **Acquisition** (:class:`Vendor`): effective resolution (down/up-sampling),
  blur, detector gamma and contrast, quantum and electronic noise, pixel
  spacing. ``SHIFT_VENDOR`` ("Zephyr Diagnostics") is a new scanner with
  much heavier noise, for monitoring demos of acquisition drift.

Everything is deterministic from ``seed``: patient ``i`` of a cohort with
seed ``s`` draws from ``np.random.SeedSequence(s, spawn_key=(i,))`` and its
image ``j`` from ``np.random.SeedSequence(s, spawn_key=(i, j))``, so a
cohort can be streamed in any chunking and two generations are byte-identical.
Reference-model training uses seeds < 1000, test and demo cohorts seeds
>= 2000.

References
----------
.. [1] Badano A, Graff CG, Badal A, et al. Evaluation of digital breast
   tomosynthesis as replacement of full-field digital mammography using an
   in silico imaging trial. JAMA Netw Open. 2018;1(7):e185474.
   doi:10.1001/jamanetworkopen.2018.5474
"""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from validation.errors import InputError
from validation.fileio import atomic_write_bytes, atomic_write_text

__all__ = [
    "VENDORS",
    "SITES",
    "SHIFT_VENDOR",
    "Vendor",
    "Site",
    "SynthCase",
    "synth_case",
    "iter_cases",
    "generate_cohort",
    "write_case",
    "case_to_dicom",
    "MANIFEST_COLUMNS",
]

MAX_VALUE = 4095  # 12-bit detector
ImageFormat = Literal["dicom", "npy", "png"]


# --------------------------------------------------------------------------- vendors, sites


@dataclass(frozen=True, slots=True)
class Vendor:
    """Acquisition effects of one scanner manufacturer.

    Attributes
    ----------
    name : str
        Manufacturer name as written to DICOM ``Manufacturer`` (0008,0070).
    electronic_noise, quantum_noise : float
        Standard deviations, in detector units (0..1 full scale), of additive
        Gaussian noise and of signal-dependent noise ``quantum_noise*sqrt(signal)``.
    gamma, contrast, offset : float
        Detector response ``offset + contrast * attenuation**gamma``.
    blur_sigma_px : float
        Gaussian blur (point-spread function) sigma in pixels.
    resolution : float
        Effective resolution as a fraction of the matrix (1.0 = native; 0.75 =
        acquired on a 0.75× matrix and interpolated back up).
    pixel_spacing_mm : tuple[float, float]
        (row, column) pixel spacing written to DICOM ``PixelSpacing``.
    """

    name: str
    electronic_noise: float
    quantum_noise: float
    gamma: float
    contrast: float
    offset: float
    blur_sigma_px: float
    resolution: float
    pixel_spacing_mm: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "electronic_noise": self.electronic_noise,
            "quantum_noise": self.quantum_noise,
            "gamma": self.gamma,
            "contrast": self.contrast,
            "offset": self.offset,
            "blur_sigma_px": self.blur_sigma_px,
            "resolution": self.resolution,
            "pixel_spacing_mm": list(self.pixel_spacing_mm),
        }


SHIFT_VENDOR = "Zephyr Diagnostics"

VENDORS: dict[str, Vendor] = {
    v.name: v
    for v in (
        Vendor("Aurora Medical", 0.006, 0.010, 1.00, 0.80, 0.08, 0.6, 1.00, (2.80, 2.80)),
        Vendor("Borealis Imaging", 0.010, 0.016, 0.85, 0.75, 0.10, 0.9, 0.85, (3.00, 3.00)),
        Vendor("Cygnus Systems", 0.014, 0.022, 1.15, 0.85, 0.06, 1.2, 0.70, (3.20, 3.20)),
        Vendor(SHIFT_VENDOR, 0.045, 0.050, 0.95, 0.80, 0.08, 0.7, 0.90, (3.00, 3.00)),
    )
}


@dataclass(frozen=True, slots=True)
class Site:
    """A recruiting site: its scanners, disease prevalence and population.

    Attributes
    ----------
    name : str
        Institution name (DICOM ``InstitutionName``, manifest ``site``).
    vendor_mix : tuple[tuple[str, float], ...]
        (vendor name, weight) pairs; weights are normalised.
    prevalence : float
        Patient-level disease prevalence at ``age_mean`` (logit rises
        0.04 per year of age).
    age_mean, age_sd : float
        Normal age distribution, truncated to 40..85 years.
    female_fraction : float
        Probability that a patient is female.
    weight : float
        Share of patients recruited from this site (normalised over the sites used).
    """

    name: str
    vendor_mix: tuple[tuple[str, float], ...]
    prevalence: float
    age_mean: float
    age_sd: float
    female_fraction: float
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "vendor_mix": {k: w for k, w in self.vendor_mix},
            "prevalence": self.prevalence,
            "age_mean": self.age_mean,
            "age_sd": self.age_sd,
            "female_fraction": self.female_fraction,
            "weight": self.weight,
        }


SITES: dict[str, Site] = {
    s.name: s
    for s in (
        Site("Northfield General", (("Aurora Medical", 0.6), ("Borealis Imaging", 0.4)),
             0.30, 63.0, 10.0, 0.52, 0.30),
        Site("Riverside University Hospital",
             (("Borealis Imaging", 0.5), ("Cygnus Systems", 0.3), ("Aurora Medical", 0.2)),
             0.42, 60.0, 11.0, 0.47, 0.30),
        Site("Lakeside Clinic", (("Cygnus Systems", 0.7), ("Aurora Medical", 0.3)),
             0.22, 57.0, 9.0, 0.55, 0.20),
        Site("Hillcrest Community",
             (("Aurora Medical", 0.4), ("Cygnus Systems", 0.3), ("Borealis Imaging", 0.3)),
             0.28, 67.0, 9.0, 0.50, 0.20),
    )
}

AGE_MIN, AGE_MAX = 40, 85
AGE_LOGIT_SLOPE = 0.04          # per year: prevalence rises with age
IMAGES_PER_PATIENT_P = (0.5, 0.3, 0.2)  # 1, 2, 3 images
LATER_VIEW_VISIBLE_P = 0.85     # a diseased patient's later views show the nodules
RADIUS_RANGE_PX = (2.0, 9.0)
CONTRAST_RANGE = (0.025, 0.30)  # log-uniform, in attenuation units (lung field ~0.25)
DEFAULT_EPOCH = date(2025, 1, 6)


# --------------------------------------------------------------------------- the case


@dataclass(frozen=True, slots=True)
class SynthCase:
    """One simulated image.

    Attributes
    ----------
    image : numpy.ndarray
        ``uint16`` (H, W), values 0..4095.
    mask : numpy.ndarray
        ``uint8`` (H, W), 1 inside any lesion (distance to its centre <= radius), else 0.
    record : dict
        case_id, patient_id, site, manufacturer, sex, age, label, n_lesions,
        lesions [{row, col, radius_px, contrast}], pixel_spacing_mm (row, col),
        acquired_at (ISO date, or ISO datetime when a ``start_time`` was given).
    """

    image: np.ndarray
    mask: np.ndarray
    record: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The record (the arrays are not JSON material)."""
        return dict(self.record)


def _rng(seed_seq_or_rng: Any) -> np.random.Generator:
    if isinstance(seed_seq_or_rng, np.random.Generator):
        return seed_seq_or_rng
    if isinstance(seed_seq_or_rng, np.random.SeedSequence):
        return np.random.default_rng(seed_seq_or_rng)
    if isinstance(seed_seq_or_rng, (int, np.integer)) and not isinstance(seed_seq_or_rng, bool):
        return np.random.default_rng(int(seed_seq_or_rng))
    raise TypeError(
        "'seed_seq_or_rng' must be a numpy SeedSequence, Generator or int; "
        f"got {type(seed_seq_or_rng).__name__}"
    )


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates in [-1, 1] (float32, read-only, cached)."""
    c = ((np.arange(size, dtype=np.float64) + 0.5) / size * 2.0 - 1.0).astype(np.float32)
    yy, xx = np.meshgrid(c, c, indexing="ij")
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


def _soft_ellipse(yy, xx, cy, cx, ay, ax, edge):
    """Ellipse with a logistic edge of width ``edge`` (in units of the normalised radius)."""
    d = np.sqrt(((yy - np.float32(cy)) / np.float32(ay)) ** 2 + ((xx - np.float32(cx)) / np.float32(ax)) ** 2)
    return 0.5 - 0.5 * np.tanh((d - 1.0) / np.float32(2.0 * edge))


@lru_cache(maxsize=32)
def _smooth_basis(coarse: int, size: int) -> np.ndarray:
    """(size, coarse) Gaussian-bump basis: ``B @ z @ B.T`` is smooth noise with ~size/coarse correlation."""
    u = (np.arange(size) + 0.5) / size
    c = (np.arange(coarse) + 0.5) / coarse
    b = np.exp(-0.5 * ((u[:, None] - c[None, :]) * coarse / 0.8) ** 2)
    b /= np.sqrt((b**2).sum(axis=1, keepdims=True))
    b = b.astype(np.float32)
    b.setflags(write=False)
    return b


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Matrix product without BLAS.

    numpy's einsum loops run on the calling thread: OpenBLAS would start its
    thread pool for these small products, which is slower on a busy machine
    (measured 5x) and may round differently across CPU kernels.
    """
    return np.einsum("ij,jk->ik", a, b)


def _smooth_noise(rng: np.random.Generator, coarse: int, size: int) -> np.ndarray:
    b = _smooth_basis(coarse, size)
    return _mm(_mm(b, rng.standard_normal((coarse, coarse)).astype(np.float32)), b.T)


@lru_cache(maxsize=32)
def _resample_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) resampling: box (area) average when shrinking, linear interpolation when enlarging."""
    m = np.zeros((n_out, n_in), dtype=np.float64)
    if n_out <= n_in:  # each output pixel integrates the input pixels it covers
        scale = n_in / n_out
        for i in range(n_out):
            lo, hi = i * scale, (i + 1) * scale
            for k in range(int(math.floor(lo)), min(n_in, int(math.ceil(hi)))):
                m[i, k] = min(hi, k + 1) - max(lo, k)
        m /= m.sum(axis=1, keepdims=True)
    else:
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0, n_in - 1.0)
        k0 = np.floor(src).astype(int)
        k1 = np.minimum(k0 + 1, n_in - 1)
        f = src - k0
        m[np.arange(n_out), k0] += 1.0 - f
        m[np.arange(n_out), k1] += f
    m = m.astype(np.float32)
    m.setflags(write=False)
    return m


def _patient_anatomy(rng: np.random.Generator) -> dict[str, float | np.ndarray]:
    """Patient-level anatomy parameters (shape and texture seeds)."""
    return {
        "body_ax": rng.uniform(0.80, 0.92),
        "body_ay": rng.uniform(0.92, 1.02),
        "lung_cy": rng.uniform(-0.12, 0.0),
        "lung_ay": rng.uniform(0.48, 0.60),
        "lung_ax": rng.uniform(0.22, 0.29),
        "lung_sep": rng.uniform(0.34, 0.42),
        "heart_r": rng.uniform(0.20, 0.28),
        "rib_freq": rng.uniform(3.6, 4.6),
        "rib_phase": rng.uniform(0, 2 * math.pi),
        "rib_curve": rng.uniform(0.9, 1.4),
        "rib_strength": rng.uniform(0.07, 0.12),
        "density": rng.uniform(0.0, 0.08),
        "texture_seed": int(rng.integers(0, 2**32)),
    }


def _anatomy(p: Mapping[str, Any], size: int, shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Ideal attenuation image (~0..1) and the lung-field weight, shifted by ``shift`` (pixels)."""
    yy, xx = _grid(size)
    sy, sx = shift[0] * 2.0 / size, shift[1] * 2.0 / size
    y, x = yy - sy, xx - sx
    edge = 2.5 / size
    body = _soft_ellipse(y, x, 0.08, 0.0, p["body_ay"], p["body_ax"], edge * 2)
    lungs = (
        _soft_ellipse(y, x, p["lung_cy"], -p["lung_sep"], p["lung_ay"], p["lung_ax"], edge * 3)
        + _soft_ellipse(y, x, p["lung_cy"], p["lung_sep"], p["lung_ay"], p["lung_ax"], edge * 3)
    )
    mediastinum = _soft_ellipse(y, x, -0.05, 0.0, 0.62, 0.13, edge * 3)
    heart = _soft_ellipse(y, x, 0.28, 0.10, p["heart_r"] * 0.9, p["heart_r"], edge * 4)
    spine = 0.5 - 0.5 * np.tanh((np.abs(x) - np.float32(0.06)) / np.float32(2.0 * edge))
    # Ribs: bands that curve downward laterally, seen over the lung fields.
    phase = np.float32(2 * math.pi * p["rib_freq"]) * (y - np.float32(p["rib_curve"]) * x**2) + np.float32(p["rib_phase"])
    ribs = np.clip(np.sin(phase), 0.0, None) ** 3
    tex_rng = np.random.default_rng(p["texture_seed"])
    texture = 0.03 * _smooth_noise(tex_rng, 6, size) + 0.012 * _smooth_noise(tex_rng, 20, size)
    lung_field = np.clip(lungs, 0.0, 1.0) * (1.0 - np.clip(mediastinum + heart, 0.0, 1.0))
    att = (
        0.05
        + body * (0.55 + p["density"])
        - 0.30 * lung_field
        + 0.12 * np.clip(mediastinum + heart, 0.0, 1.0) * body
        + 0.08 * spine * body
        + p["rib_strength"] * ribs * lung_field
        + texture * body
    )
    return att, lung_field


def _patient_lesions(rng: np.random.Generator, anatomy: Mapping[str, Any], size: int) -> list[dict[str, float]]:
    """1–3 nodules placed inside the (unshifted) lung fields."""
    n = int(rng.choice([1, 2, 3], p=[0.55, 0.30, 0.15]))
    _, lung = _anatomy(anatomy, size, (0.0, 0.0))
    depth = ndimage.distance_transform_edt(lung > 0.5)
    lesions = []
    lo, hi = RADIUS_RANGE_PX
    for _ in range(n):
        radius = float(rng.uniform(lo, hi))
        # Keep the whole nodule inside the lung field, away from the border (shift margin 4 px).
        idx = np.flatnonzero(depth > radius + 4.0)
        if idx.size == 0:  # pragma: no cover - lungs are always larger than a nodule
            idx = np.flatnonzero(lung > 0.5)
        k = int(idx[rng.integers(idx.size)])
        row = k // size + float(rng.uniform(-0.5, 0.5))
        col = k % size + float(rng.uniform(-0.5, 0.5))
        contrast = float(math.exp(rng.uniform(math.log(CONTRAST_RANGE[0]), math.log(CONTRAST_RANGE[1]))))
        lesions.append({"row": row, "col": col, "radius_px": radius, "contrast": contrast})
    return lesions


def _acquire(att: np.ndarray, vendor: Vendor, rng: np.random.Generator) -> np.ndarray:
    """Vendor acquisition chain: resolution, blur, detector response, noise, 12-bit quantisation."""
    size = att.shape[0]
    img = att
    if vendor.resolution < 1.0:
        small_n = max(8, int(round(size * vendor.resolution)))
        down, up = _resample_matrix(small_n, size), _resample_matrix(size, small_n)
        img = _mm(_mm(up, _mm(_mm(down, img), down.T)), up.T)
    if vendor.blur_sigma_px > 0:
        img = ndimage.gaussian_filter(img, vendor.blur_sigma_px, mode="nearest")
    signal = vendor.offset + vendor.contrast * np.clip(img, 0.0, None) ** vendor.gamma
    noise = rng.standard_normal((2, size, size), dtype=np.float32)
    signal = (
        signal
        + vendor.quantum_noise * np.sqrt(np.clip(signal, 0.0, None)) * noise[0]
        + vendor.electronic_noise * noise[1]
    )
    return np.clip(np.rint(signal * MAX_VALUE), 0, MAX_VALUE).astype(np.uint16)


def _lesion_maps(lesions: list[dict[str, float]], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Projected sphere profiles (sum) and the exact binary mask."""
    yy = np.arange(size, dtype=np.float64)[:, None]
    xx = np.arange(size, dtype=np.float64)[None, :]
    add = np.zeros((size, size))
    mask = np.zeros((size, size), dtype=np.uint8)
    for les in lesions:
        d2 = ((yy - les["row"]) ** 2 + (xx - les["col"]) ** 2) / les["radius_px"] ** 2
        inside = d2 <= 1.0
        add += les["contrast"] * np.sqrt(np.clip(1.0 - d2, 0.0, None))
        mask |= inside.astype(np.uint8)
    return add, mask


def _check_choice(name: str, value: str, options: Iterable[str]) -> None:
    options = list(options)
    if value not in options:
        raise InputError(f"'{name}' must be one of {options}; got {value!r}")


def synth_case(
    seed_seq_or_rng: Any,
    *,
    case_id: str,
    patient_id: str,
    site: str,
    manufacturer: str,
    sex: str,
    age: int,
    label: int,
    image_size: int = 128,
    patient_seed: Any = None,
    acquired_at: str | None = None,
) -> SynthCase:
    """Simulate one radiograph-like image.

    Parameters
    ----------
    seed_seq_or_rng : numpy.random.SeedSequence, numpy.random.Generator or int
        Source of the image-level randomness (shift, noise).
    case_id, patient_id, site : str
        Identifiers recorded in ``record``.
    manufacturer : str
        Key of :data:`VENDORS`; selects the acquisition effects.
    sex : {"F", "M"}
    age : int
        Years, 40..85 for the built-in population (any non-negative int accepted).
    label : {0, 1}
        1: the image shows 1–3 nodules; 0: no nodule.
    image_size : int
        Square matrix size (>= 32).
    patient_seed : SeedSequence, Generator, int or None
        Source of patient-level anatomy and nodules. Images of one patient
        that share it show the same anatomy and the same nodules (up to a
        positioning shift). ``None``: drawn from ``seed_seq_or_rng``.
    acquired_at : str or None
        ISO date/datetime to record; default ``"2025-01-06"``.

    Returns
    -------
    SynthCase

    Raises
    ------
    InputError
        Unknown manufacturer, bad sex/label/size/age.

    Examples
    --------
    >>> import numpy as np
    >>> c = synth_case(np.random.SeedSequence(2024), case_id="c1", patient_id="p1",
    ...                site="Northfield General", manufacturer="Aurora Medical",
    ...                sex="F", age=63, label=1)
    >>> c.image.dtype, c.image.shape, int(c.image.max()) <= 4095, c.record["label"]
    (dtype('uint16'), (128, 128), True, 1)
    >>> bool(c.mask.any()), 1 <= c.record["n_lesions"] <= 3
    (True, True)
    """
    _check_choice("manufacturer", manufacturer, VENDORS)
    _check_choice("sex", sex, ("F", "M"))
    if label not in (0, 1) or isinstance(label, bool):
        raise InputError(f"'label' must be 0 or 1; got {label!r}")
    if not isinstance(image_size, (int, np.integer)) or image_size < 32:
        raise InputError(f"'image_size' must be an integer >= 32; got {image_size!r}")
    if not isinstance(age, (int, np.integer)) or age < 0:
        raise InputError(f"'age' must be a non-negative integer (years); got {age!r}")
    size = int(image_size)
    rng = _rng(seed_seq_or_rng)
    prng = rng if patient_seed is None else _rng(patient_seed)
    anatomy = _patient_anatomy(prng)
    patient_lesions = _patient_lesions(prng, anatomy, size) if label == 1 else []
    vendor = VENDORS[manufacturer]

    shift = (float(rng.uniform(-3.0, 3.0)), float(rng.uniform(-3.0, 3.0)))
    att, _ = _anatomy(anatomy, size, shift)
    lesions: list[dict[str, float]] = []
    if label == 1:
        lesions = [
            {
                "row": round(les["row"] + shift[0], 2),
                "col": round(les["col"] + shift[1], 2),
                "radius_px": round(les["radius_px"], 2),
                "contrast": round(les["contrast"], 4),
            }
            for les in patient_lesions
        ]
    add, mask = _lesion_maps(lesions, size)
    image = _acquire(att + add, vendor, rng)
    record = {
        "case_id": str(case_id),
        "patient_id": str(patient_id),
        "site": str(site),
        "manufacturer": manufacturer,
        "sex": sex,
        "age": int(age),
        "label": int(label),
        "n_lesions": len(lesions),
        "lesions": lesions,
        "pixel_spacing_mm": tuple(vendor.pixel_spacing_mm),
        "acquired_at": acquired_at or DEFAULT_EPOCH.isoformat(),
    }
    return SynthCase(image=image, mask=mask, record=record)


# --------------------------------------------------------------------------- streams


def _resolve_sites(sites: Any) -> list[Site]:
    if sites is None:
        return list(SITES.values())
    if isinstance(sites, (str, Site)):
        sites = [sites]
    if isinstance(sites, Mapping):
        sites = list(sites.values())
    out = []
    for s in sites:
        if isinstance(s, Site):
            out.append(s)
        elif isinstance(s, str) and s in SITES:
            out.append(SITES[s])
        else:
            raise InputError(f"'sites': unknown site {s!r}; known: {sorted(SITES)}")
    if not out:
        raise InputError("'sites' must name at least one site; got an empty collection")
    for s in out:
        for v, _ in s.vendor_mix:
            _check_choice(f"sites[{s.name!r}].vendor_mix", v, VENDORS)
    return out


def _normalise_mix(mix: Mapping[str, float] | Iterable[tuple[str, float]], what: str) -> tuple[list[str], np.ndarray]:
    items = list(mix.items()) if isinstance(mix, Mapping) else list(mix)
    names = [n for n, _ in items]
    for n in names:
        _check_choice(what, n, VENDORS)
    w = np.array([float(x) for _, x in items], dtype=np.float64)
    if w.size == 0 or np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
        raise InputError(f"'{what}' weights must be non-negative and sum > 0; got {dict(items)}")
    return names, w / w.sum()


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def iter_cases(
    n_patients: int,
    *,
    seed: int,
    sites: Any = None,
    image_size: int = 128,
    id_prefix: str = "C",
    start_time: datetime | str | None = None,
    vendor_override: str | None = None,
    vendor_mix: Mapping[str, float] | None = None,
    prevalence: float | None = None,
    age_shift: float = 0.0,
    interval: timedelta = timedelta(minutes=20),
    start_patient: int = 0,
) -> Iterator[SynthCase]:
    """Stream simulated cases, patient by patient (never a whole cohort in memory).

    Parameters
    ----------
    n_patients : int
        Number of patients; each contributes 1–3 images (p = 0.5, 0.3, 0.2).
    seed : int
        Non-negative cohort seed. Patient ``i`` draws from
        ``SeedSequence(seed, spawn_key=(i,))``, its image ``j`` (0-based) from
        ``SeedSequence(seed, spawn_key=(i, j))``.
    sites : None, iterable of site names / :class:`Site`, or mapping
        Sites to recruit from (default all of :data:`SITES`), weighted by ``Site.weight``.
    image_size : int
    id_prefix : str
        ``patient_id = f"{id_prefix}{i:06d}"``, ``case_id = f"{patient_id}-{j+1}"``.
    start_time : datetime, ISO string or None
        Production-stream mode: patient ``i`` is acquired at
        ``start_time + (i - start_patient) * interval`` (+1 minute per further
        image) and ``acquired_at`` is an ISO datetime. ``None``: an ISO date
        in 2025 drawn per patient.
    vendor_override : str or None
        Every image is acquired on this vendor (e.g. :data:`SHIFT_VENDOR`).
    vendor_mix : mapping or None
        Replace every site's vendor mix by this {vendor: weight} mapping
        (e.g. ``{"Aurora Medical": 0.7, SHIFT_VENDOR: 0.3}`` for a partial shift).
    prevalence : float or None
        Replace every site's prevalence (population shift).
    age_shift : float
        Years added to every site's mean age (population shift).
    interval : datetime.timedelta
        Spacing of patients in production-stream mode.
    start_patient : int
        Index of the first patient (continue a stream in chunks: patient
        ``i`` is always the same patient for a given seed).

    Yields
    ------
    SynthCase

    Examples
    --------
    >>> cases = list(iter_cases(3, seed=2000))
    >>> [c.record["patient_id"] for c in cases][:2]
    ['C000000', 'C000000']
    """
    if not isinstance(n_patients, (int, np.integer)) or n_patients < 0:
        raise InputError(f"'n_patients' must be a non-negative integer; got {n_patients!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"'seed' must be a non-negative integer; got {seed!r}")
    if vendor_override is not None:
        _check_choice("vendor_override", vendor_override, VENDORS)
    if prevalence is not None and not 0.0 < prevalence < 1.0:
        raise InputError(f"'prevalence' must be in (0, 1); got {prevalence!r}")
    if isinstance(start_time, str):
        try:
            start_time = datetime.fromisoformat(start_time)
        except ValueError:
            raise InputError(f"'start_time' must be an ISO datetime; got {start_time!r}") from None
    site_list = _resolve_sites(sites)
    site_w = np.array([s.weight for s in site_list], dtype=np.float64)
    site_w = site_w / site_w.sum()
    override_mix = _normalise_mix(vendor_mix, "vendor_mix") if vendor_mix is not None else None
    site_mix = [_normalise_mix(s.vendor_mix, f"sites[{s.name!r}].vendor_mix") for s in site_list]

    for i in range(int(start_patient), int(start_patient) + int(n_patients)):
        pseq = np.random.SeedSequence(int(seed), spawn_key=(i,))
        prng = np.random.default_rng(pseq)
        site = site_list[int(prng.choice(len(site_list), p=site_w))]
        sex = "F" if prng.random() < site.female_fraction else "M"
        age = int(np.clip(np.rint(prng.normal(site.age_mean + age_shift, site.age_sd)), AGE_MIN, AGE_MAX))
        prev = site.prevalence if prevalence is None else prevalence
        p_dis = 1.0 / (1.0 + math.exp(-(_logit(prev) + AGE_LOGIT_SLOPE * (age - site.age_mean))))
        diseased = bool(prng.random() < p_dis)
        n_images = int(prng.choice(3, p=IMAGES_PER_PATIENT_P)) + 1
        day = int(prng.integers(0, 365))
        anatomy_seed = int(prng.integers(0, 2**63))
        names, w = override_mix if override_mix is not None else site_mix[site_list.index(site)]
        patient_id = f"{id_prefix}{i:06d}"
        for j in range(n_images):
            iseq = np.random.SeedSequence(int(seed), spawn_key=(i, j))
            irng = np.random.default_rng(iseq)
            vendor = vendor_override or names[int(irng.choice(len(names), p=w))]
            visible = diseased and (j == 0 or irng.random() < LATER_VIEW_VISIBLE_P)
            if start_time is not None:
                t = start_time + (i - int(start_patient)) * interval + timedelta(minutes=j)
                acquired = t.isoformat(timespec="seconds")
            else:
                acquired = (DEFAULT_EPOCH + timedelta(days=day)).isoformat()
            yield synth_case(
                irng,
                case_id=f"{patient_id}-{j + 1}",
                patient_id=patient_id,
                site=site.name,
                manufacturer=vendor,
                sex=sex,
                age=age,
                label=int(visible),
                image_size=image_size,
                patient_seed=anatomy_seed,
                acquired_at=acquired,
            )


# --------------------------------------------------------------------------- writing files

_UID_NAMESPACE = uuid.UUID("6f1c1d52-8b7e-5a39-9a55-3c2f0e7d4b10")  # medval synth UIDs

MANIFEST_COLUMNS = (
    "case_id", "patient_id", "image_path", "image_sha256", "mask_path", "mask_sha256",
    "label", "lesions", "site", "manufacturer", "sex", "age",
    "pixel_spacing_row", "pixel_spacing_col", "acquired_at",
)


def _uid(*parts: Any) -> str:
    """A deterministic DICOM UID: ``2.25.`` + a name-based (RFC 4122 version 5) UUID as an integer.

    (pydicom's ``generate_uid(prefix=None)`` ignores its entropy sources and is random.)
    """
    name = "\x1f".join(str(p) for p in parts)
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}"


def case_to_dicom(case: SynthCase, *, uid_seed: str = "") -> Any:
    """A DX (digital X-ray, for presentation) DICOM dataset for ``case``.

    UIDs are derived (``2.25.`` + hash) from ``uid_seed`` and the case/patient
    ids, and no wall-clock time is written, so the file is byte-identical on rerun.

    Returns
    -------
    pydicom.dataset.FileDataset
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

    r = case.record
    sop_class = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
    sop_uid = _uid("sop", uid_seed, r["case_id"])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    acquired = str(r["acquired_at"])
    d = acquired[:10].replace("-", "")
    t = acquired[11:19].replace(":", "") if len(acquired) >= 19 else "090000"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = d
    ds.SeriesDate = d
    ds.ContentDate = d
    ds.StudyTime = t
    ds.ContentTime = t
    ds.AccessionNumber = ""
    ds.Modality = "DX"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.Manufacturer = r["manufacturer"]
    ds.InstitutionName = r["site"]
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "medval in-silico chest radiograph"
    ds.PatientName = f"SYNTH^{r['patient_id']}"
    ds.PatientID = r["patient_id"]
    ds.PatientBirthDate = ""
    ds.PatientSex = r["sex"]
    ds.PatientAge = f"{int(r['age']):03d}Y"
    ds.BodyPartExamined = "CHEST"
    ds.StudyInstanceUID = _uid("study", uid_seed, r["patient_id"])
    ds.SeriesInstanceUID = _uid("series", uid_seed, r["case_id"])
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = ["L", "F"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = (int(x) for x in case.image.shape)
    ds.PixelSpacing = [f"{x:g}" for x in r["pixel_spacing_mm"]]
    ds.ImagerPixelSpacing = [f"{x:g}" for x in r["pixel_spacing_mm"]]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.PixelData = np.ascontiguousarray(case.image, dtype="<u2").tobytes()
    return ds


def _encode_image(arr: np.ndarray, fmt: str, case: SynthCase | None, uid_seed: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "npy":
        np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    elif fmt == "png":
        from PIL import Image

        Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG")
    elif fmt == "dicom":
        import pydicom

        ds = case_to_dicom(case, uid_seed=uid_seed)
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    else:  # pragma: no cover - checked by callers
        raise InputError(f"'fmt' must be one of ['dicom', 'npy', 'png']; got {fmt!r}")
    return buf.getvalue()


def write_case(case: SynthCase, root: str | Path, *, fmt: ImageFormat = "dicom",
               uid_seed: str = "") -> dict[str, Any]:
    """Write ``case``'s image (and mask) under ``root`` and return its manifest row.

    Images go to ``images/<case_id>.dcm|.npy|.png``, masks to
    ``masks/<case_id>.png`` (8-bit, values 0/1) or ``.npy`` for ``fmt="npy"``.
    The sha256 columns are left empty (filled by ``register_cohort``).
    """
    _check_choice("fmt", fmt, ("dicom", "npy", "png"))
    root = Path(root)
    r = case.record
    ext = {"dicom": ".dcm", "npy": ".npy", "png": ".png"}[fmt]
    image_rel = f"images/{r['case_id']}{ext}"
    mask_rel = f"masks/{r['case_id']}{'.npy' if fmt == 'npy' else '.png'}"
    atomic_write_bytes(root / image_rel, _encode_image(case.image, fmt, case, uid_seed))
    atomic_write_bytes(root / mask_rel, _encode_image(case.mask, "npy" if fmt == "npy" else "png", None, uid_seed))
    lesions = [{"row": l["row"], "col": l["col"], "radius_px": l["radius_px"]} for l in r["lesions"]]
    return {
        "case_id": r["case_id"],
        "patient_id": r["patient_id"],
        "image_path": image_rel,
        "image_sha256": "",
        "mask_path": mask_rel,
        "mask_sha256": "",
        "label": r["label"],
        "lesions": json.dumps(lesions, separators=(",", ":")),
        "site": r["site"],
        "manufacturer": r["manufacturer"],
        "sex": r["sex"],
        "age": r["age"],
        "pixel_spacing_row": f"{r['pixel_spacing_mm'][0]:g}",
        "pixel_spacing_col": f"{r['pixel_spacing_mm'][1]:g}",
        "acquired_at": r["acquired_at"],
    }


def generate_cohort(
    out_dir: str | Path,
    *,
    n_patients: int,
    seed: int,
    cohort_id: str,
    version: int = 1,
    fmt: ImageFormat = "dicom",
    sites: Any = None,
    image_size: int = 128,
    sequestered: bool = True,
    vendor_override: str | None = None,
    vendor_mix: Mapping[str, float] | None = None,
    id_prefix: str = "C",
) -> Path:
    """Generate a cohort directory and register it (hashes + digest).

    Writes ``images/``, ``masks/``, ``manifest.csv`` (rows streamed as cases are
    generated) and ``cohort.yaml``, then calls
    :func:`validation.cohorts.register_cohort`. Byte-identical on rerun with
    the same arguments.

    Parameters
    ----------
    out_dir : path
        Cohort directory; must not already hold a ``manifest.csv``.
    n_patients, seed, sites, image_size, vendor_override, vendor_mix, id_prefix
        As :func:`iter_cases`.
    cohort_id : str
    version : int
        Positive integer.
    fmt : {"dicom", "npy", "png"}
    sequestered : bool
        Recorded in ``cohort.yaml`` (test data kept apart from development).

    Returns
    -------
    pathlib.Path
        The cohort directory.
    """
    import yaml

    from validation.cohorts import register_cohort

    _check_choice("fmt", fmt, ("dicom", "npy", "png"))
    if not isinstance(version, (int, np.integer)) or isinstance(version, bool) or version < 1:
        raise InputError(f"'version' must be a positive integer; got {version!r}")
    if not isinstance(cohort_id, str) or not cohort_id.strip():
        raise InputError(f"'cohort_id' must be a non-empty string; got {cohort_id!r}")
    out = Path(out_dir)
    if (out / "manifest.csv").exists():
        raise InputError(f"{out / 'manifest.csv'}: already exists; refusing to overwrite a cohort")
    out.mkdir(parents=True, exist_ok=True)
    uid_seed = f"{cohort_id}/{version}/{seed}"
    tmp = out / "manifest.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for case in iter_cases(n_patients, seed=seed, sites=sites, image_size=image_size,
                               id_prefix=id_prefix, vendor_override=vendor_override,
                               vendor_mix=vendor_mix):
            writer.writerow(write_case(case, out, fmt=fmt, uid_seed=uid_seed))
    tmp.replace(out / "manifest.csv")
    site_names = [s.name for s in _resolve_sites(sites)]
    meta = {
        "id": cohort_id,
        "version": int(version),
        "modality": "DX",
        "task": "lesion detection (binary classification, segmentation, detection)",
        "description": (
            f"In-silico chest-radiograph-like cohort: {n_patients} patients, "
            f"{image_size}x{image_size} 12-bit images ({fmt}), sites {site_names}."
        ),
        "label_definition": "1 if the image contains at least one simulated nodule, else 0",
        "reference_standard": "simulation ground truth (exact lesion masks and centres)",
        "inclusion_criteria": ["adults aged 40-85", "one to three chest radiographs per patient"],
        "sequestered": bool(sequestered),
        "source": {
            "generator": "validation.synth",
            "seed": int(seed),
            "n_patients": int(n_patients),
            "image_size": int(image_size),
            "format": fmt,
            "sites": site_names,
            "vendor_override": vendor_override,
            "vendor_mix": dict(vendor_mix) if vendor_mix is not None else None,
        },
        "manifest": "manifest.csv",
    }
    atomic_write_text(out / "cohort.yaml", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True))
    register_cohort(out)
    return out

"""Lesion-level detection: mark-to-lesion matching, lesion sensitivity, FROC and CPM.

Input format
------------
Both inputs are mappings keyed by an image id (any hashable: case id, str, int).

``marks[image_id]``
    An :class:`ImageMarks` or a tuple ``(positions, scores)``: ``positions`` an
    array of shape ``(k, d)`` of voxel-index coordinates ``(row, col[, slice])``
    (fractional values allowed), ``scores`` shape ``(k,)``; higher = more
    suspicious. Images without marks may be left out.
``lesions[image_id]``
    An :class:`ImageLesions` or a tuple ``(centres, radii_mm)``: centres of
    shape ``(m, d)`` in voxel-index coordinates and radii in mm (``radii_mm``
    may be None when ``hit='distance'``), or ``ImageLesions.from_mask(mask)``
    for a binary/labelled mask (connected components are the lesions).
    Images without lesions may be left out.
``n_images``
    Every image read, including those with neither marks nor lesions (they add
    to the false-positive denominator). With ``clusters`` (image id -> patient
    id) the clusters mapping lists every image and ``n_images`` must equal its
    length.

Matching (``hit`` and greedy one-to-one)
----------------------------------------
A mark *hits* a lesion when

* ``'radius'`` (default): its distance in mm to the lesion centre is at most
  the lesion radius (LUNA16: a candidate inside the nodule's sphere);
* ``'distance'``: its distance to the centre is at most ``distance_mm``;
* ``'mask'``: its rounded position lies inside the lesion's mask.

Marks are processed in decreasing score (ties: input order). A mark that hits
at least one not-yet-matched lesion is a true positive for the nearest such
lesion (by centre distance in mm). A mark that hits only lesions already
matched is a *duplicate*: ``duplicates='ignore'`` (default, LUNA16) drops it
from both counts, ``'false-positive'`` counts it as a false positive. Any
other mark is a false positive. Because marks are processed by score, the
matching of the marks above any threshold is the matching of those marks
alone, so one matching serves the whole FROC curve. Greedy matching is not
optimal assignment: a high-scoring mark between two overlapping lesions takes
the nearer one even if a lower mark could only hit that one.

FROC and CPM
------------
At each distinct score threshold t (marks with score >= t are "on"):
lesion sensitivity = lesions matched by a mark >= t / all lesions, and
false positives per image = false-positive marks >= t / n_images. The curve
starts at (0, 0). Sensitivity at a false-positive rate f is read off the
curve (``interpolation``):

* ``'linear'`` (default): linear interpolation between operating points,
  constant beyond the last one — ``numpy.interp(f, fps, sens)`` exactly as the
  LUNA16 evaluation script (``noduleCADEvaluation.py``) does;
* ``'step'``: the sensitivity of the last operating point whose rate is
  <= f, i.e. one the device can actually be set to (conservative).

The competition performance metric (CPM) is the mean sensitivity at 1/8,
1/4, 1/2, 1, 2, 4 and 8 false positives per image [1]_ [2]_. Intervals are
percentile bootstrap intervals resampling images (or patients, with
``clusters``) with replacement, as LUNA16 resamples scans.

References
----------
.. [1] van Ginneken B, Armato SG, de Hoop B, et al. Comparing and combining
   algorithms for computer-aided detection of pulmonary nodules in computed
   tomography scans: the ANODE09 study. Med Image Anal 2010;14(6):707-722.
   doi:10.1016/j.media.2010.05.005
.. [2] Setio AAA, Traverso A, de Bel T, et al. Validation, comparison, and
   combination of algorithms for automatic detection of pulmonary nodules in
   computed tomography images: the LUNA16 challenge. Med Image Anal
   2017;42:1-13. doi:10.1016/j.media.2017.06.015
.. [3] Chakraborty DP. Maximum likelihood analysis of free-response receiver
   operating characteristic (FROC) data. Med Phys 1989;16(4):561-568.
   doi:10.1118/1.596358
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from validation.stats._validate import check_choice, check_confidence_level, check_positive_int
from validation.stats.results import Interval

__all__ = [
    "CPM_FP_RATES",
    "ImageMarks",
    "ImageLesions",
    "Matching",
    "FROCResult",
    "OperatingPoint",
    "match_marks",
    "froc",
    "cpm",
    "lesion_sensitivity",
]

CPM_FP_RATES: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
HitCriterion = Literal["radius", "distance", "mask"]
Duplicates = Literal["ignore", "false-positive"]
Interpolation = Literal["linear", "step"]

_FP, _TP, _DUP = 0, 1, 2


# --------------------------------------------------------------------------- inputs
@dataclass(frozen=True, slots=True)
class ImageMarks:
    """The marks on one image: positions ``(k, d)`` in voxel indices and scores ``(k,)``."""

    positions: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True, slots=True)
class ImageLesions:
    """The reference lesions on one image.

    Attributes
    ----------
    centres : numpy.ndarray, shape (m, d)
        Lesion centres in voxel-index coordinates.
    radii_mm : numpy.ndarray or None, shape (m,)
        Lesion radii in mm (needed for ``hit='radius'``).
    labels : numpy.ndarray or None
        Labelled mask (lesion ``i`` has label ``i + 1``; needed for ``hit='mask'``).
    """

    centres: np.ndarray
    radii_mm: np.ndarray | None = None
    labels: np.ndarray | None = None

    @classmethod
    def from_mask(cls, mask: Any, *, spacing: Sequence[float] | float | None = None) -> ImageLesions:
        """Lesions = face-connected components of a binary mask.

        Centres are the component centroids; with ``spacing`` the radius is the
        equivalent-sphere (3-D) or equivalent-circle (2-D) radius in mm.
        """
        arr = np.asarray(mask)
        if arr.ndim not in (2, 3) or arr.dtype.kind not in "biuf":
            raise ValueError(f"'mask' must be a 2-D or 3-D numeric mask; got shape {arr.shape}, dtype {arr.dtype}")
        labels, n = ndimage.label(arr != 0)
        idx = list(range(1, n + 1))
        centres = np.array(ndimage.center_of_mass(np.ones_like(labels), labels, idx), dtype=float).reshape(n, arr.ndim)
        radii = None
        if spacing is not None:
            sp = _spacing_tuple(spacing, arr.ndim, "spacing")
            volume = np.asarray(ndimage.sum_labels(np.ones_like(labels), labels, idx), dtype=float) * float(np.prod(sp))
            radii = (3 * volume / (4 * math.pi)) ** (1 / 3) if arr.ndim == 3 else np.sqrt(volume / math.pi)
        return cls(centres=centres, radii_mm=radii, labels=labels)


def _spacing_tuple(spacing: Any, ndim: int, name: str) -> tuple[float, ...]:
    if isinstance(spacing, numbers.Real) and not isinstance(spacing, bool):
        values = (float(spacing),) * ndim
    else:
        try:
            values = tuple(float(v) for v in spacing)
        except (TypeError, ValueError):
            raise TypeError(f"{name!r} must be a number or a sequence of {ndim} numbers (mm); got {spacing!r}") from None
    if len(values) != ndim or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"{name!r} must hold {ndim} finite values > 0 (mm); got {values}")
    return values


def _as_marks(image: Hashable, value: Any) -> ImageMarks:
    if isinstance(value, ImageMarks):
        pos, sc = value.positions, value.scores
    elif isinstance(value, tuple) and len(value) == 2:
        pos, sc = value
    else:
        raise TypeError(f"'marks'[{image!r}] must be an ImageMarks or a (positions, scores) tuple; got {type(value).__name__}")
    pos = np.asarray(pos, dtype=float)
    sc = np.asarray(sc, dtype=float)
    if pos.size == 0 and sc.size == 0:
        return ImageMarks(np.zeros((0, pos.shape[-1] if pos.ndim == 2 else 0)), np.zeros(0))
    if pos.ndim != 2 or pos.shape[1] not in (2, 3):
        raise ValueError(f"'marks'[{image!r}] positions must have shape (k, 2) or (k, 3); got {pos.shape}")
    if sc.ndim != 1 or sc.shape[0] != pos.shape[0]:
        raise ValueError(f"'marks'[{image!r}] must have one score per position; got {pos.shape[0]} positions and scores of shape {sc.shape}")
    if not np.isfinite(pos).all():
        raise ValueError(f"'marks'[{image!r}] positions contain NaN or infinite values")
    if np.isnan(sc).any():
        raise ValueError(f"'marks'[{image!r}] scores contain {int(np.isnan(sc).sum())} NaN value(s)")
    return ImageMarks(pos, sc)


def _as_lesions(image: Hashable, value: Any, hit: str) -> ImageLesions:
    if isinstance(value, ImageLesions):
        les = value
    elif isinstance(value, tuple) and len(value) == 2:
        centres, radii = value
        les = ImageLesions(np.asarray(centres, dtype=float), None if radii is None else np.asarray(radii, dtype=float))
    else:
        raise TypeError(f"'lesions'[{image!r}] must be an ImageLesions or a (centres, radii_mm) tuple; got {type(value).__name__}")
    c = np.asarray(les.centres, dtype=float)
    if c.size == 0:
        c = c.reshape(0, c.shape[-1] if c.ndim == 2 else 2)
    if c.ndim != 2 or c.shape[1] not in (2, 3) or not np.isfinite(c).all():
        raise ValueError(f"'lesions'[{image!r}] centres must be a finite array of shape (m, 2) or (m, 3); got {c.shape}")
    r = None if les.radii_mm is None else np.asarray(les.radii_mm, dtype=float).reshape(-1)
    if hit == "radius":
        if r is None:
            raise ValueError(f"'lesions'[{image!r}] needs radii_mm for hit='radius'; got None")
        if r.shape[0] != c.shape[0] or not (np.isfinite(r).all() and (r >= 0).all()):
            raise ValueError(f"'lesions'[{image!r}] radii_mm must be {c.shape[0]} finite values >= 0; got {r.tolist()}")
    if hit == "mask" and les.labels is None:
        raise ValueError(f"'lesions'[{image!r}] needs a labelled mask for hit='mask' (use ImageLesions.from_mask)")
    return ImageLesions(c, r, les.labels)


# --------------------------------------------------------------------------- matching
@dataclass(frozen=True, slots=True)
class Matching:
    """The outcome of matching marks to lesions, flat over all images.

    Attributes
    ----------
    mark_image : numpy.ndarray of int, shape (K,)
        Index (into ``images``) of each mark's image.
    mark_score : numpy.ndarray, shape (K,)
    mark_status : numpy.ndarray of int, shape (K,)
        0 false positive, 1 true positive, 2 duplicate (hit an already-matched lesion).
    mark_lesion : numpy.ndarray of int, shape (K,)
        Flat index of the lesion a mark matched (or hit, for duplicates); -1 otherwise.
    lesion_image : numpy.ndarray of int, shape (M,)
    lesion_score : numpy.ndarray, shape (M,)
        Score of the mark that detected each lesion; NaN if never detected.
    images : tuple
        Image ids in the order used by the index arrays (images with no marks
        and no lesions included when ``clusters`` names them).
    n_images : int
    hit, duplicates : str
    """

    mark_image: np.ndarray
    mark_score: np.ndarray
    mark_status: np.ndarray
    mark_lesion: np.ndarray
    lesion_image: np.ndarray
    lesion_score: np.ndarray
    images: tuple
    n_images: int
    hit: str
    duplicates: str

    def to_dict(self) -> dict:
        return {
            "n_images": self.n_images,
            "n_lesions": int(self.lesion_image.size),
            "n_marks": int(self.mark_score.size),
            "n_true_positive_marks": int((self.mark_status == _TP).sum()),
            "n_false_positive_marks": int((self.mark_status == _FP).sum()),
            "n_duplicate_marks": int((self.mark_status == _DUP).sum()),
            "hit": self.hit,
            "duplicates": self.duplicates,
        }


def _match_image(mk: ImageMarks, les: ImageLesions, sp: tuple[float, ...], hit: str, distance_mm: float | None):
    k, m = mk.scores.size, les.centres.shape[0]
    status = np.zeros(k, dtype=np.int64)
    lesion = np.full(k, -1, dtype=np.int64)
    det = np.full(m, np.nan)
    if k == 0 or m == 0:
        return status, lesion, det
    if mk.positions.shape[1] != les.centres.shape[1]:
        raise ValueError(
            f"marks are {mk.positions.shape[1]}-D but lesions are {les.centres.shape[1]}-D on the same image"
        )
    diff = (mk.positions[:, None, :] - les.centres[None, :, :]) * np.asarray(sp)
    dist = np.sqrt((diff**2).sum(-1))
    if hit == "radius":
        hits = dist <= les.radii_mm[None, :]
    elif hit == "distance":
        hits = dist <= distance_mm
    else:
        lab = les.labels
        idx = np.rint(mk.positions).astype(np.int64)
        inside = np.all((idx >= 0) & (idx < np.asarray(lab.shape)), axis=1)
        at = np.zeros(k, dtype=np.int64)
        at[inside] = lab[tuple(idx[inside].T)]
        hits = at[:, None] == (np.arange(m) + 1)[None, :]
    order = np.argsort(-mk.scores, kind="stable")
    taken = np.zeros(m, dtype=bool)
    for i in order:
        h = hits[i]
        if not h.any():
            continue
        free = h & ~taken
        if free.any():
            j = int(np.flatnonzero(free)[np.argmin(dist[i, free])])
            taken[j] = True
            status[i], lesion[i], det[j] = _TP, j, mk.scores[i]
        else:
            j = int(np.flatnonzero(h)[np.argmin(dist[i, h])])
            status[i], lesion[i] = _DUP, j
    return status, lesion, det


def match_marks(
    marks: Mapping[Hashable, Any],
    lesions: Mapping[Hashable, Any],
    n_images: int,
    *,
    spacing: Sequence[float] | float | Mapping[Hashable, Any] = 1.0,
    hit: HitCriterion = "radius",
    distance_mm: float | None = None,
    duplicates: Duplicates = "ignore",
    clusters: Mapping[Hashable, Hashable] | None = None,
) -> Matching:
    """Match marks to lesions, image by image (greedy one-to-one by score; see module notes).

    Parameters
    ----------
    marks, lesions, n_images
        See the module docstring for the input format.
    spacing : float, sequence of float, or mapping image id -> sequence
        Voxel size in mm (one for all images, or per image).
    hit : {'radius', 'distance', 'mask'}
    distance_mm : float, optional
        Required for ``hit='distance'``.
    duplicates : {'ignore', 'false-positive'}
    clusters : mapping image id -> cluster id, optional
        Lists every image; used by :func:`froc` for patient-level resampling.

    Returns
    -------
    Matching

    Raises
    ------
    ValueError, TypeError
        Malformed marks/lesions (the message names the image), bad options, or
        more images with marks/lesions than ``n_images``.
    """
    check_choice(hit, "hit", ("radius", "distance", "mask"))
    check_choice(duplicates, "duplicates", ("ignore", "false-positive"))
    n_images = check_positive_int(n_images, "n_images")
    for name, mp in (("marks", marks), ("lesions", lesions)):
        if not isinstance(mp, Mapping):
            raise TypeError(f"{name!r} must be a mapping image id -> per-image data; got {type(mp).__name__}")
    if hit == "distance":
        if distance_mm is None or isinstance(distance_mm, bool) or not isinstance(distance_mm, numbers.Real) \
                or not (math.isfinite(distance_mm) and distance_mm >= 0):
            raise ValueError(f"'distance_mm' must be a finite number >= 0 for hit='distance'; got {distance_mm!r}")
    elif distance_mm is not None:
        raise ValueError(f"'distance_mm' is only used with hit='distance'; got hit={hit!r}, distance_mm={distance_mm!r}")
    known = list(dict.fromkeys([*marks.keys(), *lesions.keys()]))
    if clusters is not None:
        if not isinstance(clusters, Mapping):
            raise TypeError(f"'clusters' must be a mapping image id -> cluster id; got {type(clusters).__name__}")
        if len(clusters) != n_images:
            raise ValueError(f"'clusters' must list every image (n_images={n_images}); got {len(clusters)} entries")
        missing = [i for i in known if i not in clusters]
        if missing:
            raise ValueError(f"'clusters' has no entry for image {missing[0]!r} (which has marks or lesions)")
        images = tuple(clusters.keys())
    else:
        if len(known) > n_images:
            raise ValueError(f"'n_images' must be at least the number of images with marks or lesions ({len(known)}); got {n_images}")
        images = tuple(known)
    pos_of = {img: i for i, img in enumerate(images)}

    mi, ms, mst, ml, li, ls = [], [], [], [], [], []
    offset = 0
    for img in images:
        les_raw = lesions.get(img)
        mk_raw = marks.get(img)
        les = _as_lesions(img, les_raw, hit) if les_raw is not None else ImageLesions(np.zeros((0, 2)), np.zeros(0))
        mk = _as_marks(img, mk_raw) if mk_raw is not None else ImageMarks(np.zeros((0, 2)), np.zeros(0))
        if isinstance(spacing, Mapping):
            if img not in spacing:
                raise ValueError(f"'spacing' has no entry for image {img!r}")
            sp_raw = spacing[img]
        else:
            sp_raw = spacing
        d = mk.positions.shape[1] if mk.scores.size else les.centres.shape[1]
        sp = _spacing_tuple(sp_raw, d, "spacing")
        status, lesion, det = _match_image(mk, les, sp, hit, distance_mm)
        mi.append(np.full(mk.scores.size, pos_of[img]))
        ms.append(mk.scores)
        mst.append(status)
        ml.append(np.where(lesion >= 0, lesion + offset, -1))
        li.append(np.full(les.centres.shape[0], pos_of[img]))
        ls.append(det)
        offset += les.centres.shape[0]
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    return Matching(
        mark_image=cat(mi, np.int64),
        mark_score=cat(ms, float),
        mark_status=cat(mst, np.int64),
        mark_lesion=cat(ml, np.int64),
        lesion_image=cat(li, np.int64),
        lesion_score=cat(ls, float),
        images=images,
        n_images=n_images,
        hit=hit,
        duplicates=duplicates,
    )


# --------------------------------------------------------------------------- FROC kernel
def _events(m: Matching):
    """Scores, image indices and TP/FP kind of the events that move the curve, sorted by score desc."""
    det = ~np.isnan(m.lesion_score)
    fp_mask = (m.mark_status == _FP) | ((m.mark_status == _DUP) if m.duplicates == "false-positive" else False)
    score = np.concatenate([m.lesion_score[det], m.mark_score[fp_mask]])
    image = np.concatenate([m.lesion_image[det], m.mark_image[fp_mask]])
    is_tp = np.concatenate([np.ones(det.sum(), bool), np.zeros(fp_mask.sum(), bool)])
    order = np.argsort(-score, kind="stable")
    score, image, is_tp = score[order], image[order], is_tp[order]
    # last index of each group of tied scores: an operating point
    last = np.flatnonzero(np.append(score[1:] != score[:-1], True)) if score.size else np.zeros(0, np.int64)
    return score, image, is_tp, last


def _curves(weights: np.ndarray, m: Matching, ev) -> tuple[np.ndarray, np.ndarray]:
    """FP/image and sensitivity at each operating point (with the (0,0) origin) per weight row."""
    score, image, is_tp, last = ev
    w_ev = weights[:, image]  # (B, E)
    tp = np.cumsum(w_ev * is_tp, axis=1)[:, last]
    fp = np.cumsum(w_ev * ~is_tp, axis=1)[:, last]
    n_les = weights[:, m.lesion_image].sum(axis=1)
    n_img = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = tp / n_les[:, None]
        fpi = fp / n_img[:, None]
    zeros = np.zeros((weights.shape[0], 1))
    sens0 = np.where(n_les[:, None] > 0, 0.0, np.nan)
    return np.hstack([zeros, fpi]), np.hstack([sens0, sens])


def _read_at(fpi: np.ndarray, sens: np.ndarray, rates: np.ndarray, interpolation: str) -> np.ndarray:
    out = np.empty((fpi.shape[0], rates.size))
    for b in range(fpi.shape[0]):
        if interpolation == "linear":
            out[b] = np.interp(rates, fpi[b], sens[b])
        else:
            k = np.searchsorted(fpi[b], rates, side="right") - 1
            out[b] = sens[b][k]
    return out


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class FROCResult:
    """A FROC curve, sensitivities at fixed FP rates with intervals, and the CPM.

    Attributes
    ----------
    thresholds : numpy.ndarray
        Score thresholds of the operating points (``inf`` for the origin).
    fp_per_image, sensitivity : numpy.ndarray
        The curve (origin first).
    fp_rates : tuple of float
        The false-positive rates read off the curve (default the CPM's seven).
    sensitivity_at : tuple of Interval
        Sensitivity at each rate with its bootstrap interval.
    cpm : Interval
        Mean of ``sensitivity_at`` (the CPM when ``fp_rates`` are the default).
    n_images, n_lesions, n_marks, n_true_positive_marks, n_false_positive_marks, n_duplicate_marks : int
    hit, duplicates, interpolation, resampling_unit : str
    n_resamples, seed : int
    confidence_level : float
    """

    thresholds: np.ndarray
    fp_per_image: np.ndarray
    sensitivity: np.ndarray
    fp_rates: tuple
    sensitivity_at: tuple
    cpm: Interval
    n_images: int
    n_lesions: int
    n_marks: int
    n_true_positive_marks: int
    n_false_positive_marks: int
    n_duplicate_marks: int
    hit: str
    duplicates: str
    interpolation: str
    resampling_unit: str
    n_resamples: int
    seed: int
    confidence_level: float

    def to_dict(self) -> dict:
        return {
            "thresholds": [None if math.isinf(t) else float(t) for t in self.thresholds],
            "fp_per_image": self.fp_per_image.tolist(),
            "sensitivity": self.sensitivity.tolist(),
            "fp_rates": list(self.fp_rates),
            "sensitivity_at": [iv.to_dict() for iv in self.sensitivity_at],
            "cpm": self.cpm.to_dict(),
            **{k: getattr(self, k) for k in (
                "n_images", "n_lesions", "n_marks", "n_true_positive_marks", "n_false_positive_marks",
                "n_duplicate_marks", "hit", "duplicates", "interpolation", "resampling_unit",
                "n_resamples", "seed", "confidence_level")},
        }


def _bootstrap_weights(m: Matching, clusters, n_resamples: int, seed: int, chunk: int):
    """Yield (chunk, n_images_known) multiplicity weights per image; images not listed are empty."""
    n_known = len(m.images)
    n_extra = m.n_images - n_known  # anonymous empty images (no clusters given)
    rng = np.random.default_rng(seed)
    if clusters is None:
        n_units = m.n_images
        unit_of = np.arange(n_known)
    else:
        ids = list(dict.fromkeys(clusters[i] for i in m.images))
        pos = {c: j for j, c in enumerate(ids)}
        unit_of = np.array([pos[clusters[i]] for i in m.images])
        n_units = len(ids)
    done = 0
    while done < n_resamples:
        b = min(chunk, n_resamples - done)
        draws = rng.integers(0, n_units, size=(b, n_units))
        counts = np.zeros((b, n_units))
        np.add.at(counts, (np.repeat(np.arange(b), n_units), draws.ravel()), 1.0)
        w = counts[:, unit_of]
        if n_extra:
            # the anonymous empty images are units n_known..n_images-1; they add to the image count only
            w = np.hstack([w, counts[:, n_known:].sum(axis=1, keepdims=True)])
        yield w
        done += b


def _weights_point(m: Matching) -> np.ndarray:
    w = np.ones((1, len(m.images)))
    extra = m.n_images - len(m.images)
    return np.hstack([w, [[float(extra)]]]) if extra else w


def froc(
    marks: Mapping[Hashable, Any],
    lesions: Mapping[Hashable, Any],
    n_images: int,
    *,
    spacing: Sequence[float] | float | Mapping[Hashable, Any] = 1.0,
    hit: HitCriterion = "radius",
    distance_mm: float | None = None,
    duplicates: Duplicates = "ignore",
    fp_rates: Sequence[float] = CPM_FP_RATES,
    interpolation: Interpolation = "linear",
    clusters: Mapping[Hashable, Hashable] | None = None,
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    seed: int = 0,
) -> FROCResult:
    """FROC curve, sensitivity at fixed false-positive rates and the CPM with bootstrap CIs.

    Parameters
    ----------
    marks, lesions, n_images, spacing, hit, distance_mm, duplicates, clusters
        See :func:`match_marks` and the module docstring.
    fp_rates : sequence of float
        Mean false positives per image at which to read sensitivity; the
        default is the CPM's 1/8 ... 8 [1]_ [2]_.
    interpolation : {'linear', 'step'}
        How sensitivity is read between operating points (module docstring);
        ``'linear'`` is the LUNA16 definition of the CPM.
    n_resamples : int
        Bootstrap resamples of images (or of clusters); LUNA16 uses 1000.
    confidence_level : float
    seed : int
        Seed of the resampling (``numpy.random.default_rng``).

    Returns
    -------
    FROCResult
        Estimates come from the full data; intervals are percentile bootstrap
        intervals. With no lesions at all, sensitivities are NaN.

    References
    ----------
    .. [1] van Ginneken B, et al. Med Image Anal 2010;14(6):707-722. doi:10.1016/j.media.2010.05.005
    .. [2] Setio AAA, et al. Med Image Anal 2017;42:1-13. doi:10.1016/j.media.2017.06.015
    .. [4] Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall, 1993.

    Examples
    --------
    >>> marks = {"a": ([[10, 10], [40, 40]], [0.9, 0.4]), "b": ([[5, 5]], [0.7])}
    >>> lesions = {"a": ([[11, 10]], [3.0]), "b": ([[30, 30]], [3.0])}
    >>> r = froc(marks, lesions, 2, n_resamples=200)
    >>> r.fp_per_image.tolist(), r.sensitivity.tolist()
    ([0.0, 0.0, 0.5, 1.0], [0.0, 0.5, 0.5, 0.5])
    """
    check_choice(interpolation, "interpolation", ("linear", "step"))
    cl = check_confidence_level(confidence_level)
    n_resamples = check_positive_int(n_resamples, "n_resamples")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"'seed' must be an integer; got {seed!r}")
    rates = np.asarray(list(fp_rates), dtype=float)
    if rates.ndim != 1 or rates.size == 0 or not (np.isfinite(rates).all() and (rates >= 0).all()):
        raise ValueError(f"'fp_rates' must be a non-empty sequence of finite values >= 0; got {list(fp_rates)!r}")
    m = match_marks(marks, lesions, n_images, spacing=spacing, hit=hit, distance_mm=distance_mm,
                    duplicates=duplicates, clusters=clusters)
    return _froc_from_matching(m, rates, interpolation, clusters, n_resamples, cl, int(seed))


def _froc_from_matching(m, rates, interpolation, clusters, n_resamples, cl, seed) -> FROCResult:
    ev = _events(m)
    w0 = _weights_point(m)
    # the extra column (anonymous empty images) has no events and no lesions
    ev_images = ev[1]
    fpi, sens = _curves(w0, m, ev)
    est = _read_at(fpi, sens, rates, interpolation)[0]
    boot = []
    for w in _bootstrap_weights(m, clusters, n_resamples, seed, chunk=250):
        f, s = _curves(w, m, (ev[0], ev_images, ev[2], ev[3]))
        boot.append(_read_at(f, s, rates, interpolation))
    boot = np.vstack(boot)
    cpm_boot = boot.mean(axis=1)
    a = (1 - cl) / 2
    n_les = int(m.lesion_image.size)

    def interval(estimate, samples, method):
        ok = samples[~np.isnan(samples)]
        lo, hi = (np.quantile(ok, [a, 1 - a]) if ok.size else (math.nan, math.nan))
        return Interval(float(estimate), float(lo), float(hi), cl, method, n_les)

    method = f"bootstrap-percentile ({'cluster' if clusters is not None else 'image'}-level, {interpolation})"
    at = tuple(interval(e, boot[:, j], method) for j, e in enumerate(est))
    thresholds = np.concatenate([[math.inf], ev[0][ev[3]]])
    return FROCResult(
        thresholds=thresholds,
        fp_per_image=fpi[0],
        sensitivity=sens[0],
        fp_rates=tuple(float(r) for r in rates),
        sensitivity_at=at,
        cpm=interval(est.mean(), cpm_boot, method),
        n_images=m.n_images,
        n_lesions=n_les,
        n_marks=int(m.mark_score.size),
        n_true_positive_marks=int((m.mark_status == _TP).sum()),
        n_false_positive_marks=int((m.mark_status == _FP).sum()),
        n_duplicate_marks=int((m.mark_status == _DUP).sum()),
        hit=m.hit,
        duplicates=m.duplicates,
        interpolation=interpolation,
        resampling_unit="cluster" if clusters is not None else "image",
        n_resamples=n_resamples,
        seed=seed,
        confidence_level=cl,
    )


def cpm(marks, lesions, n_images, **options) -> Interval:
    """Competition performance metric with its bootstrap interval (see :func:`froc`).

    The mean lesion sensitivity at 1/8, 1/4, 1/2, 1, 2, 4 and 8 false
    positives per image [1]_ [2]_. Takes the options of :func:`froc`.

    References
    ----------
    .. [1] van Ginneken B, et al. Med Image Anal 2010;14(6):707-722. doi:10.1016/j.media.2010.05.005
    .. [2] Setio AAA, et al. Med Image Anal 2017;42:1-13. doi:10.1016/j.media.2017.06.015
    """
    if "fp_rates" in options:
        raise TypeError("cpm() fixes 'fp_rates' to the CPM's seven rates; call froc() for others")
    return froc(marks, lesions, n_images, **options).cpm


# --------------------------------------------------------------------------- operating point
@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """Lesion sensitivity and false positives per image at one score threshold.

    Attributes
    ----------
    threshold : float
        Marks with ``score >= threshold`` count.
    sensitivity : Interval
        Lesion-level sensitivity (n = lesions) with a bootstrap interval.
    fp_per_image : Interval
        Mean false-positive marks per image (n = images) with a bootstrap interval.
    n_detected, n_lesions, n_false_positives, n_images : int
    """

    threshold: float
    sensitivity: Interval
    fp_per_image: Interval
    n_detected: int
    n_lesions: int
    n_false_positives: int
    n_images: int

    def to_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "sensitivity": self.sensitivity.to_dict(),
            "fp_per_image": self.fp_per_image.to_dict(),
            "n_detected": self.n_detected,
            "n_lesions": self.n_lesions,
            "n_false_positives": self.n_false_positives,
            "n_images": self.n_images,
        }


def lesion_sensitivity(
    marks: Mapping[Hashable, Any],
    lesions: Mapping[Hashable, Any],
    n_images: int,
    *,
    threshold: float,
    spacing: Sequence[float] | float | Mapping[Hashable, Any] = 1.0,
    hit: HitCriterion = "radius",
    distance_mm: float | None = None,
    duplicates: Duplicates = "ignore",
    clusters: Mapping[Hashable, Hashable] | None = None,
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    seed: int = 0,
) -> OperatingPoint:
    """Lesion-level sensitivity and FP/image at the device's operating threshold.

    Lesions on one image (or patient) are correlated, so the intervals come
    from the same image- or cluster-level percentile bootstrap as :func:`froc`
    rather than from a binomial interval that would treat lesions as independent.

    Parameters
    ----------
    threshold : float
        Marks with ``score >= threshold`` are shown to the reader.
    Others
        As in :func:`froc`.

    Returns
    -------
    OperatingPoint

    Examples
    --------
    >>> marks = {"a": ([[10, 10], [40, 40]], [0.9, 0.4]), "b": ([[5, 5]], [0.7])}
    >>> lesions = {"a": ([[11, 10]], [3.0]), "b": ([[30, 30]], [3.0])}
    >>> op = lesion_sensitivity(marks, lesions, 2, threshold=0.5, n_resamples=200)
    >>> op.sensitivity.estimate, op.fp_per_image.estimate
    (0.5, 0.5)
    """
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or math.isnan(threshold):
        raise TypeError(f"'threshold' must be a real number; got {threshold!r}")
    cl = check_confidence_level(confidence_level)
    n_resamples = check_positive_int(n_resamples, "n_resamples")
    m = match_marks(marks, lesions, n_images, spacing=spacing, hit=hit, distance_mm=distance_mm,
                    duplicates=duplicates, clusters=clusters)
    det = m.lesion_score >= threshold  # NaN (undetected) compares False
    is_fp = ((m.mark_status == _FP) | ((m.mark_status == _DUP) & (duplicates == "false-positive"))) \
        & (m.mark_score >= threshold)
    n_cols = _weights_point(m).shape[1]
    det_per = np.bincount(m.lesion_image[det], minlength=n_cols).astype(float)
    les_per = np.bincount(m.lesion_image, minlength=n_cols).astype(float)
    fp_per = np.bincount(m.mark_image[is_fp], minlength=n_cols).astype(float)
    w0 = _weights_point(m)[0]
    boot_s, boot_f = [], []
    for w in _bootstrap_weights(m, clusters, n_resamples, int(seed), chunk=1000):
        with np.errstate(invalid="ignore", divide="ignore"):
            boot_s.append((w @ det_per) / (w @ les_per))
        boot_f.append((w @ fp_per) / w.sum(axis=1))
    bs, bf = np.concatenate(boot_s), np.concatenate(boot_f)
    a = (1 - cl) / 2
    unit = "cluster" if clusters is not None else "image"

    def q(x):
        x = x[~np.isnan(x)]
        return np.quantile(x, [a, 1 - a]) if x.size else (math.nan, math.nan)

    n_les = int(les_per.sum())
    s_est = float(det_per.sum() / n_les) if n_les else math.nan
    f_est = float((w0 @ fp_per) / m.n_images)
    method = f"bootstrap-percentile ({unit}-level)"
    return OperatingPoint(
        threshold=float(threshold),
        sensitivity=Interval(s_est, *map(float, q(bs)), cl, method, n_les),
        fp_per_image=Interval(f_est, *map(float, q(bf)), cl, method, m.n_images),
        n_detected=int(det.sum()),
        n_lesions=n_les,
        n_false_positives=int(is_fp.sum()),
        n_images=m.n_images,
    )

"""Segmentation overlap and surface-distance metrics, 2-D and 3-D, with voxel spacing.

All distances are in millimetres: ``spacing`` gives the physical size of a
pixel/voxel along each array axis (anisotropic spacing is the norm in CT/MR,
e.g. ``(2.5, 0.7, 0.7)``).

Surfaces
--------
The surface (border) of a mask is the set of foreground voxels that have at
least one background face-neighbour (``mask ^ binary_erosion(mask)`` with the
face-connected structuring element; voxels on the edge of the array count as
border, as if the outside were background). Surface distances are the
Euclidean distances (in mm) from each border voxel of one mask to the nearest
border voxel of the other, computed with an exact Euclidean distance transform
(:func:`scipy.ndimage.distance_transform_edt` with ``sampling=spacing``). This
is the definition of MedPy (``medpy.metric.binary.__surface_distances``) and of
MONAI (``monai.metrics.utils.get_mask_edges`` without sub-voxel edges), so the
numbers agree with both to floating-point precision.

Empty masks (the ``empty`` convention)
--------------------------------------
Surface distances are undefined when a mask has no foreground, and Dice is 0/0
when both are empty. The caller chooses what that means; the choice is
recorded in every result and an undefined value is never silently dropped:

``"nan"`` (default)
    Undefined stays undefined: both empty -> every metric NaN; one empty ->
    Dice 0, IoU 0, surface Dice 0 (these are well defined: no overlap) and the
    distances (Hausdorff, HD95, ASSD) NaN. :func:`summarize_segmentation`
    counts NaNs per metric (``n_undefined``), so a missed lesion shows up as an
    undefined distance that is *counted*, not as a case that vanished.
``"score"``
    Empty cases are scored: both empty -> perfect agreement (Dice 1, IoU 1,
    distances 0, surface Dice 1); one empty -> Dice 0, IoU 0, surface Dice 0
    and every distance equal to ``worst_distance_mm`` (default: the diagonal
    of the image in mm, the largest distance two voxels of the array can have).
    A missed lesion then makes HD95 worse, never better (cf. MONAI issue 9095,
    where empty predictions produced ``inf``/``nan`` that averaging dropped).

References
----------
.. [1] Dice LR. Measures of the amount of ecologic association between species.
   Ecology 1945;26(3):297-302. doi:10.2307/1932409
.. [2] Huttenlocher DP, Klanderman GA, Rucklidge WJ. Comparing images using the
   Hausdorff distance. IEEE TPAMI 1993;15(9):850-863. doi:10.1109/34.232073
.. [3] Heimann T, et al. Comparison and evaluation of methods for liver
   segmentation from CT datasets. IEEE TMI 2009;28(8):1251-1265.
   doi:10.1109/TMI.2009.2013851
.. [4] Nikolov S, et al. Clinically applicable segmentation of head and neck
   anatomy for radiotherapy: deep learning algorithm development and
   validation study. J Med Internet Res 2021;23(7):e26151. doi:10.2196/26151
.. [5] Maier-Hein L, Reinke A, et al. Metrics reloaded: recommendations for
   image analysis validation. Nat Methods 2024;21:195-212.
   doi:10.1038/s41592-023-02151-z
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from validation.stats._validate import check_choice

__all__ = [
    "EmptyConvention",
    "HD95Definition",
    "SegmentationMetrics",
    "SegmentationSummary",
    "MetricSummary",
    "dice",
    "iou",
    "hausdorff",
    "hd95",
    "assd",
    "surface_dice",
    "segmentation_metrics",
    "summarize_segmentation",
]

EmptyConvention = Literal["nan", "score"]
HD95Definition = Literal["max-directed", "pooled"]
_EMPTY = ("nan", "score")
_HD95 = ("max-directed", "pooled")


# --------------------------------------------------------------------------- checks
def _check_mask(mask: Any, name: str) -> np.ndarray:
    if mask is None or isinstance(mask, (str, bytes)):
        raise TypeError(f"{name!r} must be a 2-D or 3-D binary mask array; got {mask!r}")
    arr = np.asarray(mask)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name!r} must be a binary mask of numbers or booleans; got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ValueError(f"{name!r} must be a 2-D or 3-D mask; got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name!r} must not be empty; got an array of shape {arr.shape}")
    if arr.dtype == bool:
        return arr.copy()
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{name!r} contains {int(np.isnan(arr).sum())} NaN value(s); a mask must be 0/1")
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name!r} must be a binary mask with values 0 and 1; got {arr[first].item()!r} at index {first}"
        )
    return arr.astype(bool)


def _check_pair(pred: Any, true: Any) -> tuple[np.ndarray, np.ndarray]:
    p = _check_mask(pred, "pred")
    t = _check_mask(true, "true")
    if p.shape != t.shape:
        raise ValueError(f"'pred' and 'true' must have the same shape; got {p.shape} and {t.shape}")
    return p, t


def _check_spacing(spacing: Any, ndim: int) -> tuple[float, ...]:
    if spacing is None or isinstance(spacing, (str, bytes)):
        raise TypeError(f"'spacing' must be a sequence of {ndim} positive numbers in mm; got {spacing!r}")
    if isinstance(spacing, numbers.Real) and not isinstance(spacing, bool):
        values = [float(spacing)] * ndim
    else:
        try:
            values = [float(v) for v in spacing]
        except (TypeError, ValueError):
            raise TypeError(
                f"'spacing' must be a sequence of {ndim} positive numbers in mm; got {spacing!r}"
            ) from None
    if len(values) != ndim:
        raise ValueError(
            f"'spacing' must have one value per mask axis ({ndim}); got {len(values)} values {tuple(values)}"
        )
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"'spacing' must be finite and > 0 (mm); got {tuple(values)}")
    return tuple(values)


def _check_worst(worst: Any, shape: tuple[int, ...], spacing: tuple[float, ...]) -> float:
    if worst is None:
        return float(math.sqrt(sum(((s - 1) * sp) ** 2 for s, sp in zip(shape, spacing))))
    if isinstance(worst, bool) or not isinstance(worst, numbers.Real):
        raise TypeError(f"'worst_distance_mm' must be a non-negative number or None; got {worst!r}")
    value = float(worst)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"'worst_distance_mm' must be finite and >= 0; got {worst!r}")
    return value


def _check_tolerance(tolerance_mm: Any) -> float:
    if isinstance(tolerance_mm, bool) or not isinstance(tolerance_mm, numbers.Real):
        raise TypeError(f"'tolerance_mm' must be a non-negative number; got {tolerance_mm!r}")
    value = float(tolerance_mm)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"'tolerance_mm' must be finite and >= 0; got {tolerance_mm!r}")
    return value


# --------------------------------------------------------------------------- kernels
def _border(mask: np.ndarray) -> np.ndarray:
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask ^ ndimage.binary_erosion(mask, structure=structure, iterations=1)


def _crop_to_union(p: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop both masks to the union's bounding box plus a one-voxel zero margin.

    The margin is background, exactly as ``binary_erosion`` treats the outside
    of the array, so borders and distances are unchanged; only the distance
    transform gets cheaper.
    """
    union = p | t
    idx = np.nonzero(union)
    sl = tuple(slice(int(i.min()), int(i.max()) + 1) for i in idx)
    return np.pad(p[sl], 1), np.pad(t[sl], 1)


def _surface_distances(
    p: np.ndarray, t: np.ndarray, spacing: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Directed surface distances (mm): pred border -> true border, true border -> pred border.

    Both masks must be non-empty.
    """
    p, t = _crop_to_union(p, t)
    bp, bt = _border(p), _border(t)
    dt_to_true = ndimage.distance_transform_edt(~bt, sampling=spacing)
    dt_to_pred = ndimage.distance_transform_edt(~bp, sampling=spacing)
    return dt_to_true[bp], dt_to_pred[bt]


@dataclass(frozen=True, slots=True)
class _Case:
    p: np.ndarray
    t: np.ndarray
    empty_pred: bool
    empty_true: bool


def _case(pred: Any, true: Any) -> _Case:
    p, t = _check_pair(pred, true)
    return _Case(p, t, not p.any(), not t.any())


def _empty_value(case: _Case, empty: str, *, perfect: float, worst: float) -> float | None:
    """Value under the empty convention, or None if neither mask is empty."""
    if not (case.empty_pred or case.empty_true):
        return None
    if case.empty_pred and case.empty_true:
        return perfect if empty == "score" else math.nan
    return worst if empty == "score" else math.nan


# --------------------------------------------------------------------------- overlap
def dice(pred: Any, true: Any, *, empty: EmptyConvention = "nan") -> float:
    """Dice similarity coefficient (F1 of the voxels) [1]_.

    Parameters
    ----------
    pred, true : array_like of bool or {0, 1}, 2-D or 3-D
        Predicted and reference masks of the same shape.
    empty : {'nan', 'score'}
        Convention when both masks are empty: NaN, or 1 (perfect agreement).
        When only one is empty Dice is 0 under either convention.

    Returns
    -------
    float
        ``2|P∩T| / (|P|+|T|)`` in [0, 1], or NaN (see ``empty``).

    Raises
    ------
    ValueError
        Masks of different shapes, values other than 0/1, NaN, or a bad ``empty``.

    Notes
    -----
    Overlap needs no voxel spacing: voxel counts are proportional to volumes.

    References
    ----------
    .. [1] Dice LR. Ecology 1945;26(3):297-302. doi:10.2307/1932409

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((4, 4), bool); a[1:3, 1:3] = True
    >>> b = np.zeros((4, 4), bool); b[1:3, 1:4] = True
    >>> dice(a, b)   # 2*4 / (4+6)
    0.8
    """
    check_choice(empty, "empty", _EMPTY)
    case = _case(pred, true)
    if case.empty_pred and case.empty_true:
        return 1.0 if empty == "score" else math.nan
    inter = int(np.count_nonzero(case.p & case.t))
    return 2.0 * inter / int(np.count_nonzero(case.p) + np.count_nonzero(case.t))


def iou(pred: Any, true: Any, *, empty: EmptyConvention = "nan") -> float:
    """Intersection over union (Jaccard index), ``|P∩T| / |P∪T|``.

    Parameters, conventions and errors are those of :func:`dice`; IoU equals
    ``D / (2 - D)`` for Dice ``D``.

    References
    ----------
    .. [1] Jaccard P. The distribution of the flora in the alpine zone.
       New Phytologist 1912;11(2):37-50. doi:10.1111/j.1469-8137.1912.tb05611.x

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((4, 4), bool); a[1:3, 1:3] = True
    >>> b = np.zeros((4, 4), bool); b[1:3, 1:4] = True
    >>> round(iou(a, b), 4)   # 4 / 6
    0.6667
    """
    check_choice(empty, "empty", _EMPTY)
    case = _case(pred, true)
    if case.empty_pred and case.empty_true:
        return 1.0 if empty == "score" else math.nan
    return int(np.count_nonzero(case.p & case.t)) / int(np.count_nonzero(case.p | case.t))


# --------------------------------------------------------------------------- distances
def _distance_metric(pred, true, spacing, empty, worst_distance_mm, reducer) -> float:
    check_choice(empty, "empty", _EMPTY)
    case = _case(pred, true)
    sp = _check_spacing(spacing, case.p.ndim)
    worst = _check_worst(worst_distance_mm, case.p.shape, sp)
    special = _empty_value(case, empty, perfect=0.0, worst=worst)
    if special is not None:
        return special
    d_pt, d_tp = _surface_distances(case.p, case.t, sp)
    return float(reducer(d_pt, d_tp))


def hausdorff(
    pred: Any,
    true: Any,
    *,
    spacing: Sequence[float] | float,
    empty: EmptyConvention = "nan",
    worst_distance_mm: float | None = None,
) -> float:
    """Symmetric Hausdorff distance between the mask surfaces, in mm [2]_.

    Parameters
    ----------
    pred, true : array_like of bool or {0, 1}, 2-D or 3-D
        Predicted and reference masks of the same shape.
    spacing : sequence of float or float
        Voxel size in mm along each array axis (one number means isotropic).
    empty : {'nan', 'score'}
        Empty-mask convention (module docstring): both empty -> NaN or 0; one
        empty -> NaN or ``worst_distance_mm``.
    worst_distance_mm : float, optional
        The distance given to a one-sided empty case under ``empty='score'``.
        Default: the image diagonal in mm, ``sqrt(sum(((shape-1)*spacing)**2))``.

    Returns
    -------
    float
        ``max(max_p d(p, T), max_t d(t, P))`` over border voxels.

    Raises
    ------
    ValueError, TypeError
        Bad masks, spacing, or option values (the message names the argument).

    References
    ----------
    .. [2] Huttenlocher DP, Klanderman GA, Rucklidge WJ. IEEE TPAMI
       1993;15(9):850-863. doi:10.1109/34.232073

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool); a[2, 2] = True
    >>> b = np.zeros((8, 8), bool); b[2, 5] = True
    >>> hausdorff(a, b, spacing=(1.0, 0.5))   # 3 columns * 0.5 mm
    1.5
    """
    return _distance_metric(
        pred, true, spacing, empty, worst_distance_mm, lambda a, b: max(a.max(), b.max())
    )


def hd95(
    pred: Any,
    true: Any,
    *,
    spacing: Sequence[float] | float,
    definition: HD95Definition = "max-directed",
    empty: EmptyConvention = "nan",
    worst_distance_mm: float | None = None,
) -> float:
    """95th-percentile Hausdorff distance, in mm, under either published definition.

    Parameters
    ----------
    pred, true, spacing, empty, worst_distance_mm
        As in :func:`hausdorff`.
    definition : {'max-directed', 'pooled'}
        ``'max-directed'`` (default): the larger of the two directed 95th
        percentiles, ``max(P95_p d(p, T), P95_t d(t, P))`` — the definition of
        MONAI (``compute_hausdorff_distance(..., percentile=95)``) and of
        DeepMind's ``surface-distance`` package, and the one of the segmentation
        challenges (Medical Segmentation Decathlon, Metrics Reloaded [5]_).
        ``'pooled'``: the 95th percentile of both directions' distances
        pooled together — MedPy's ``medpy.metric.binary.hd95``. The pooled
        variant lets the larger surface dominate, so a small spurious blob or a
        small missed region (few border voxels) moves it little; the
        max-directed variant keeps the Hausdorff distance's symmetry of
        treatment of the two masks, which is why it is the default.

    Returns
    -------
    float
        Percentiles use linear interpolation between order statistics
        (``numpy.percentile``'s default and ``torch.quantile``'s, as in MedPy
        and MONAI). ``hd95 <= hausdorff`` under both definitions.

    References
    ----------
    .. [2] Huttenlocher DP, et al. IEEE TPAMI 1993;15(9):850-863. doi:10.1109/34.232073
    .. [5] Maier-Hein L, Reinke A, et al. Nat Methods 2024;21:195-212.
       doi:10.1038/s41592-023-02151-z

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool); a[2, 2] = True
    >>> b = np.zeros((8, 8), bool); b[2, 5] = True
    >>> hd95(a, b, spacing=1.0)
    3.0
    """
    check_choice(definition, "definition", _HD95)
    if definition == "max-directed":
        def reducer(a, b):
            return max(np.percentile(a, 95), np.percentile(b, 95))
    else:
        def reducer(a, b):
            return np.percentile(np.concatenate([a, b]), 95)
    return _distance_metric(pred, true, spacing, empty, worst_distance_mm, reducer)


def assd(
    pred: Any,
    true: Any,
    *,
    spacing: Sequence[float] | float,
    empty: EmptyConvention = "nan",
    worst_distance_mm: float | None = None,
) -> float:
    """Average symmetric surface distance, in mm [3]_.

    The mean of all border-to-border distances in both directions pooled:
    ``(sum_p d(p, T) + sum_t d(t, P)) / (|∂P| + |∂T|)`` (Heimann et al. 2009;
    MedPy 0.5 ``assd`` and MONAI ``compute_average_surface_distance(...,
    symmetric=True)`` compute exactly this). Parameters as in :func:`hausdorff`.

    References
    ----------
    .. [3] Heimann T, et al. IEEE TMI 2009;28(8):1251-1265. doi:10.1109/TMI.2009.2013851

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool); a[2, 2] = True
    >>> b = np.zeros((8, 8), bool); b[2, 5] = True
    >>> assd(a, b, spacing=2.0)
    6.0
    """
    return _distance_metric(
        pred, true, spacing, empty, worst_distance_mm,
        lambda a, b: np.concatenate([a, b]).mean(),
    )


def surface_dice(
    pred: Any,
    true: Any,
    *,
    spacing: Sequence[float] | float,
    tolerance_mm: float,
    empty: EmptyConvention = "nan",
) -> float:
    """Normalised surface Dice (NSD) at a tolerance, Nikolov et al. 2021 [4]_.

    The fraction of both surfaces lying within ``tolerance_mm`` of the other:
    ``(|{p: d(p,T) <= tau}| + |{t: d(t,P) <= tau}|) / (|∂P| + |∂T|)``, counting
    border voxels (MONAI ``compute_surface_dice(..., use_subvoxels=False)``;
    the DeepMind implementation weights border elements by surface area).

    Parameters
    ----------
    pred, true, spacing
        As in :func:`hausdorff`.
    tolerance_mm : float
        Acceptable surface deviation tau in mm (e.g. the inter-observer variation).
    empty : {'nan', 'score'}
        Both empty: NaN or 1. One empty: 0 under either convention (no border
        voxel of the non-empty mask is within any tolerance of nothing).

    Returns
    -------
    float in [0, 1]

    References
    ----------
    .. [4] Nikolov S, et al. J Med Internet Res 2021;23(7):e26151. doi:10.2196/26151

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool); a[2, 2] = True
    >>> b = np.zeros((8, 8), bool); b[2, 5] = True
    >>> surface_dice(a, b, spacing=1.0, tolerance_mm=3.0), surface_dice(a, b, spacing=1.0, tolerance_mm=2.0)
    (1.0, 0.0)
    """
    check_choice(empty, "empty", _EMPTY)
    tau = _check_tolerance(tolerance_mm)
    case = _case(pred, true)
    sp = _check_spacing(spacing, case.p.ndim)
    if case.empty_pred and case.empty_true:
        return 1.0 if empty == "score" else math.nan
    if case.empty_pred or case.empty_true:
        return 0.0
    d_pt, d_tp = _surface_distances(case.p, case.t, sp)
    return float((np.count_nonzero(d_pt <= tau) + np.count_nonzero(d_tp <= tau)) / (d_pt.size + d_tp.size))


# --------------------------------------------------------------------------- per case
@dataclass(frozen=True, slots=True)
class SegmentationMetrics:
    """Every segmentation metric of one case, with what was done to get it.

    Attributes
    ----------
    dice, iou, hausdorff, hd95, assd, surface_dice : float
        Metric values (mm for distances); NaN where undefined under ``empty``.
        ``surface_dice`` is NaN when no ``tolerance_mm`` was given.
    empty_true, empty_pred : bool
        Whether the reference / prediction has no foreground.
    volume_true_mm3, volume_pred_mm3 : float
        Foreground volume (area in mm² for 2-D masks).
    spacing : tuple of float
    tolerance_mm : float or None
    hd95_definition : str
    empty : str
        The empty-mask convention applied.
    worst_distance_mm : float
        The distance a one-sided empty case receives under ``empty='score'``.
    """

    dice: float
    iou: float
    hausdorff: float
    hd95: float
    assd: float
    surface_dice: float
    empty_true: bool
    empty_pred: bool
    volume_true_mm3: float
    volume_pred_mm3: float
    spacing: tuple[float, ...]
    tolerance_mm: float | None
    hd95_definition: str
    empty: str
    worst_distance_mm: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d["spacing"] = list(self.spacing)
        return d


def segmentation_metrics(
    pred: Any,
    true: Any,
    *,
    spacing: Sequence[float] | float,
    tolerance_mm: float | None = None,
    hd95_definition: HD95Definition = "max-directed",
    empty: EmptyConvention = "nan",
    worst_distance_mm: float | None = None,
) -> SegmentationMetrics:
    """All metrics of one case from a single pair of distance transforms.

    Parameters
    ----------
    pred, true, spacing, empty, worst_distance_mm
        As in :func:`hausdorff`.
    tolerance_mm : float, optional
        Tolerance for :func:`surface_dice`; without it ``surface_dice`` is NaN.
    hd95_definition : {'max-directed', 'pooled'}
        See :func:`hd95`.

    Returns
    -------
    SegmentationMetrics
        Values identical to calling each metric function separately.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.zeros((16, 16), bool); t[4:8, 4:8] = True
    >>> m = segmentation_metrics(np.zeros_like(t), t, spacing=(0.5, 0.5), empty="score")
    >>> m.dice, m.empty_pred, round(m.hausdorff, 3)   # missed lesion: worst distance
    (0.0, True, 10.607)
    """
    check_choice(empty, "empty", _EMPTY)
    check_choice(hd95_definition, "hd95_definition", _HD95)
    case = _case(pred, true)
    sp = _check_spacing(spacing, case.p.ndim)
    worst = _check_worst(worst_distance_mm, case.p.shape, sp)
    tau = None if tolerance_mm is None else _check_tolerance(tolerance_mm)
    voxel = float(np.prod(sp))
    nan = math.nan

    if case.empty_pred or case.empty_true:
        both = case.empty_pred and case.empty_true
        dist = _empty_value(case, empty, perfect=0.0, worst=worst)
        if both:
            overlap = 1.0 if empty == "score" else nan
            nsd = overlap
        else:
            overlap = 0.0
            nsd = 0.0
        values = dict(dice=overlap, iou=overlap, hausdorff=dist, hd95=dist, assd=dist, surface_dice=nsd)
    else:
        inter = np.count_nonzero(case.p & case.t)
        n_p, n_t = np.count_nonzero(case.p), np.count_nonzero(case.t)
        d_pt, d_tp = _surface_distances(case.p, case.t, sp)
        pooled = np.concatenate([d_pt, d_tp])
        if hd95_definition == "max-directed":
            h95 = max(np.percentile(d_pt, 95), np.percentile(d_tp, 95))
        else:
            h95 = np.percentile(pooled, 95)
        nsd = (
            nan
            if tau is None
            else (np.count_nonzero(d_pt <= tau) + np.count_nonzero(d_tp <= tau)) / pooled.size
        )
        values = dict(
            dice=2.0 * inter / (n_p + n_t),
            iou=inter / (n_p + n_t - inter),
            hausdorff=float(pooled.max()),
            hd95=float(h95),
            assd=float(pooled.mean()),
            surface_dice=float(nsd),
        )
    if tau is None:
        values["surface_dice"] = nan
    return SegmentationMetrics(
        **{k: float(v) for k, v in values.items()},
        empty_true=case.empty_true,
        empty_pred=case.empty_pred,
        volume_true_mm3=float(np.count_nonzero(case.t)) * voxel,
        volume_pred_mm3=float(np.count_nonzero(case.p)) * voxel,
        spacing=sp,
        tolerance_mm=tau,
        hd95_definition=hd95_definition,
        empty=empty,
        worst_distance_mm=worst,
    )


# --------------------------------------------------------------------------- cohort summary
_METRICS = ("dice", "iou", "hausdorff", "hd95", "assd", "surface_dice")


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """Distribution of one metric over cases; undefined (NaN) cases are counted, not hidden.

    Attributes
    ----------
    mean, median, q1, q3, minimum, maximum : float
        Over the ``n_defined`` cases with a value (NaN if there are none).
    n_defined, n_undefined : int
    """

    mean: float
    median: float
    q1: float
    q3: float
    minimum: float
    maximum: float
    n_defined: int
    n_undefined: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SegmentationSummary:
    """Per-metric summaries over a cohort and the empty-mask accounting.

    Attributes
    ----------
    metrics : dict of str to MetricSummary
    n_cases, n_empty_true, n_empty_pred, n_both_empty, n_missed, n_false_alarm : int
        ``n_missed``: reference non-empty, prediction empty; ``n_false_alarm``:
        reference empty, prediction non-empty.
    empty, hd95_definition : str
    """

    metrics: dict
    n_cases: int
    n_empty_true: int
    n_empty_pred: int
    n_both_empty: int
    n_missed: int
    n_false_alarm: int
    empty: str
    hd95_definition: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["metrics"] = {k: v.to_dict() for k, v in self.metrics.items()}
        return d


def summarize_segmentation(cases: Sequence[SegmentationMetrics]) -> SegmentationSummary:
    """Summarise per-case metrics, counting every undefined value.

    Parameters
    ----------
    cases : sequence of SegmentationMetrics
        From :func:`segmentation_metrics`, all with the same ``empty`` and
        ``hd95_definition`` (mixing conventions is refused).

    Returns
    -------
    SegmentationSummary

    Raises
    ------
    ValueError
        Empty input, or cases computed under different conventions.
    TypeError
        An element that is not a :class:`SegmentationMetrics`.
    """
    cases = list(cases)
    if not cases:
        raise ValueError("'cases' must contain at least one SegmentationMetrics; got an empty sequence")
    for i, c in enumerate(cases):
        if not isinstance(c, SegmentationMetrics):
            raise TypeError(f"'cases'[{i}] must be a SegmentationMetrics; got {type(c).__name__}")
    for attr in ("empty", "hd95_definition"):
        seen = sorted({getattr(c, attr) for c in cases})
        if len(seen) > 1:
            raise ValueError(f"'cases' mix {attr!r} conventions {seen}; summarise one convention at a time")
    out = {}
    for name in _METRICS:
        v = np.array([getattr(c, name) for c in cases], dtype=float)
        ok = v[~np.isnan(v)]
        if ok.size:
            q1, med, q3 = np.percentile(ok, [25, 50, 75])
            s = MetricSummary(float(ok.mean()), float(med), float(q1), float(q3), float(ok.min()),
                              float(ok.max()), int(ok.size), int(v.size - ok.size))
        else:
            nan = math.nan
            s = MetricSummary(nan, nan, nan, nan, nan, nan, 0, int(v.size))
        out[name] = s
    et = np.array([c.empty_true for c in cases])
    ep = np.array([c.empty_pred for c in cases])
    return SegmentationSummary(
        metrics=out,
        n_cases=len(cases),
        n_empty_true=int(et.sum()),
        n_empty_pred=int(ep.sum()),
        n_both_empty=int((et & ep).sum()),
        n_missed=int((~et & ep).sum()),
        n_false_alarm=int((et & ~ep).sum()),
        empty=cases[0].empty,
        hd95_definition=cases[0].hd95_definition,
    )

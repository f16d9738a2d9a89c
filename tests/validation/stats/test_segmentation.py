"""Segmentation metrics against MONAI 1.6.1 and MedPy 0.5.2 on the same masks.

The peers are called live on the masks below (both are test dependencies), so
the exact call sits next to each comparison. Masks are deterministic
ellipsoids with anisotropic spacing, in 2-D and 3-D.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from validation.stats.segmentation import (
    SegmentationMetrics,
    assd,
    dice,
    hausdorff,
    hd95,
    iou,
    segmentation_metrics,
    summarize_segmentation,
    surface_dice,
)

torch = pytest.importorskip("torch")
monai_metrics = pytest.importorskip("monai.metrics")
medpy_binary = pytest.importorskip("medpy.metric.binary")

# MONAI 1.6 warns that an argument it passes itself is deprecated.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def ellipsoid(shape, centre, radii):
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    r = sum(((g - c) / rr) ** 2 for g, c, rr in zip(grids, centre, radii))
    return r <= 1.0


CASES = {
    "2d": dict(
        pred=ellipsoid((48, 64), (22, 30), (9, 14)) | ellipsoid((48, 64), (40, 55), (2, 3)),
        true=ellipsoid((48, 64), (24, 33), (10, 12)),
        spacing=(0.7, 1.3),
    ),
    "3d": dict(
        pred=ellipsoid((20, 32, 36), (9, 15, 18), (5, 8, 10)),
        true=ellipsoid((20, 32, 36), (10, 17, 16), (6, 7, 9)) | ellipsoid((20, 32, 36), (3, 4, 30), (1, 2, 2)),
        spacing=(2.5, 0.8, 0.6),
    ),
}


def as_tensor(mask):
    return torch.as_tensor(mask[None, None].astype(np.float32))


@pytest.fixture(params=sorted(CASES))
def case(request):
    return CASES[request.param]


# ----------------------------------------------------------------- independent software
def test_dice_matches_monai_and_medpy(case):
    p, t = case["pred"], case["true"]
    # MONAI 1.6.1: DiceMetric(include_background=True)(y_pred, y); .aggregate()
    metric = monai_metrics.DiceMetric(include_background=True)
    metric(as_tensor(p), as_tensor(t))
    expected_monai = metric.aggregate().item()
    # MedPy 0.5.2: medpy.metric.binary.dc(result, reference)
    expected_medpy = medpy_binary.dc(p, t)
    assert dice(p, t) == pytest.approx(expected_medpy, rel=1e-12)
    assert dice(p, t) == pytest.approx(expected_monai, rel=1e-6)  # MONAI computes in float32
    # IoU = D / (2 - D) (identity of the two overlap indices)
    d = dice(p, t)
    assert iou(p, t) == pytest.approx(d / (2 - d), rel=1e-12)


def test_hausdorff_matches_monai_and_medpy(case):
    p, t, sp = case["pred"], case["true"], case["spacing"]
    # MONAI: compute_hausdorff_distance(y_pred, y, include_background=True, spacing=sp)
    expected_monai = monai_metrics.compute_hausdorff_distance(
        as_tensor(p), as_tensor(t), include_background=True, spacing=sp
    ).item()
    # MedPy: medpy.metric.binary.hd(result, reference, voxelspacing=sp)
    expected_medpy = medpy_binary.hd(p, t, voxelspacing=sp)
    assert hausdorff(p, t, spacing=sp) == pytest.approx(expected_medpy, rel=1e-12)
    assert hausdorff(p, t, spacing=sp) == pytest.approx(expected_monai, rel=1e-6)


def test_hd95_max_directed_matches_monai(case):
    p, t, sp = case["pred"], case["true"], case["spacing"]
    # MONAI: compute_hausdorff_distance(y_pred, y, include_background=True, percentile=95, spacing=sp)
    expected = monai_metrics.compute_hausdorff_distance(
        as_tensor(p), as_tensor(t), include_background=True, percentile=95, spacing=sp
    ).item()
    assert hd95(p, t, spacing=sp, definition="max-directed") == pytest.approx(expected, rel=1e-6)
    assert hd95(p, t, spacing=sp) == hd95(p, t, spacing=sp, definition="max-directed")  # the default


def test_hd95_pooled_matches_medpy(case):
    p, t, sp = case["pred"], case["true"], case["spacing"]
    # MedPy: medpy.metric.binary.hd95(result, reference, voxelspacing=sp)
    expected = medpy_binary.hd95(p, t, voxelspacing=sp)
    assert hd95(p, t, spacing=sp, definition="pooled") == pytest.approx(expected, rel=1e-12)


def test_the_two_hd95_definitions_differ_on_these_masks(case):
    # The masks carry a small extra blob on one side, so the definitions disagree;
    # this guards against one silently computing the other.
    p, t, sp = case["pred"], case["true"], case["spacing"]
    assert hd95(p, t, spacing=sp, definition="pooled") != pytest.approx(
        hd95(p, t, spacing=sp, definition="max-directed"), rel=1e-3
    )


def test_assd_matches_monai_and_medpy(case):
    p, t, sp = case["pred"], case["true"], case["spacing"]
    # MONAI: compute_average_surface_distance(y_pred, y, include_background=True, symmetric=True, spacing=sp)
    expected_monai = monai_metrics.compute_average_surface_distance(
        as_tensor(p), as_tensor(t), include_background=True, symmetric=True, spacing=sp
    ).item()
    # MedPy 0.5.2: medpy.metric.binary.assd(result, reference, voxelspacing=sp) (pooled mean)
    expected_medpy = medpy_binary.assd(p, t, voxelspacing=sp)
    assert assd(p, t, spacing=sp) == pytest.approx(expected_medpy, rel=1e-12)
    assert assd(p, t, spacing=sp) == pytest.approx(expected_monai, rel=1e-6)


@pytest.mark.parametrize("tol", [0.5, 1.0, 2.0, 4.0])
def test_surface_dice_matches_monai(case, tol):
    p, t, sp = case["pred"], case["true"], case["spacing"]
    # MONAI: compute_surface_dice(y_pred, y, class_thresholds=[tol], include_background=True, spacing=sp)
    expected = monai_metrics.compute_surface_dice(
        as_tensor(p), as_tensor(t), [tol], include_background=True, spacing=sp
    ).item()
    assert surface_dice(p, t, spacing=sp, tolerance_mm=tol) == pytest.approx(expected, rel=1e-6)


def test_segmentation_metrics_equals_the_single_functions(case):
    p, t, sp = case["pred"], case["true"], case["spacing"]
    for definition in ("max-directed", "pooled"):
        m = segmentation_metrics(p, t, spacing=sp, tolerance_mm=2.0, hd95_definition=definition)
        assert m.dice == dice(p, t)
        assert m.iou == iou(p, t)
        assert m.hausdorff == hausdorff(p, t, spacing=sp)
        assert m.hd95 == hd95(p, t, spacing=sp, definition=definition)
        assert m.assd == assd(p, t, spacing=sp)
        assert m.surface_dice == surface_dice(p, t, spacing=sp, tolerance_mm=2.0)
        assert not m.empty_pred and not m.empty_true
        voxel = float(np.prod(sp))
        assert m.volume_true_mm3 == pytest.approx(t.sum() * voxel)
        d = m.to_dict()
        assert d["spacing"] == list(sp) and d["hd95_definition"] == definition and d["empty"] == "nan"


def test_spacing_matters():
    # Same masks, spacing (1, 1) vs (1, 3): a purely column-wise offset scales by 3.
    a = np.zeros((9, 9), bool)
    a[4, 2] = True
    b = np.zeros((9, 9), bool)
    b[4, 6] = True
    assert hausdorff(a, b, spacing=(1.0, 1.0)) == 4.0
    assert hausdorff(a, b, spacing=(1.0, 3.0)) == 12.0
    assert hausdorff(a, b, spacing=2.0) == 8.0  # scalar = isotropic


# ----------------------------------------------------------------- hand-derived
def test_single_voxels_3d_hand_derived():
    # One voxel each at (1,1,1) and (3,2,1), spacing (2.5, 0.8, 0.6):
    # every surface is that one voxel, so all distances equal
    # sqrt((2*2.5)^2 + (1*0.8)^2 + 0) = sqrt(25 + 0.64) = sqrt(25.64).
    a = np.zeros((5, 5, 5), bool)
    a[1, 1, 1] = True
    b = np.zeros((5, 5, 5), bool)
    b[3, 2, 1] = True
    sp = (2.5, 0.8, 0.6)
    d = math.sqrt(25.64)
    for f in (hausdorff, assd):
        assert f(a, b, spacing=sp) == pytest.approx(d, rel=1e-12)
    for definition in ("max-directed", "pooled"):
        assert hd95(a, b, spacing=sp, definition=definition) == pytest.approx(d, rel=1e-12)
    assert dice(a, b) == 0.0
    assert dice(a, a) == 1.0
    assert hausdorff(a, a, spacing=sp) == 0.0
    assert surface_dice(a, b, spacing=sp, tolerance_mm=d) == 1.0
    assert surface_dice(a, b, spacing=sp, tolerance_mm=d - 1e-9) == 0.0


def test_square_vs_shifted_square_hand_derived():
    # true: 3x3 square rows 2..4, cols 2..4; pred: the same shifted one column right (cols 3..5).
    # Borders: all 8 ring voxels of each square (the centre is interior).
    # Dice = 2*6/(9+9) = 2/3. pred->true directed distances (spacing 1):
    # ring voxels in col 3..4 lie on/in true; are they on true's *border*? true's border is its ring:
    # pred ring = {(2,3),(2,4),(2,5),(3,3),(3,5),(4,3),(4,4),(4,5)}; true ring = {(2,2),(2,3),(2,4),(3,2),
    # (3,4),(4,2),(4,3),(4,4)}. Distances pred->true ring: (2,3)0 (2,4)0 (2,5)1 (3,3)1 (3,5)1 (4,3)0 (4,4)0
    # (4,5)1 -> four 0s and four 1s; by symmetry true->pred likewise. Hausdorff 1, ASSD 8/16 = 0.5.
    t = np.zeros((7, 8), bool)
    t[2:5, 2:5] = True
    p = np.zeros((7, 8), bool)
    p[2:5, 3:6] = True
    assert dice(p, t) == pytest.approx(2 / 3)
    assert iou(p, t) == pytest.approx(6 / 12)
    assert hausdorff(p, t, spacing=1.0) == 1.0
    assert assd(p, t, spacing=1.0) == 0.5
    # 95th percentile (linear) of [0,0,0,0,1,1,1,1]: position 0.95*7 = 6.65 -> between 1 and 1 = 1.
    assert hd95(p, t, spacing=1.0) == 1.0
    # Surface Dice at tolerance 0.5: 8 of 16 border voxels within tolerance.
    assert surface_dice(p, t, spacing=1.0, tolerance_mm=0.5) == 0.5


def test_mask_touching_the_array_edge_matches_medpy():
    # Edge voxels count as border (outside = background), as in MedPy and MONAI.
    t = np.zeros((10, 10), bool)
    t[0:6, 0:6] = True
    p = np.zeros((10, 10), bool)
    p[0:5, 2:9] = True
    sp = (0.9, 1.1)
    assert hausdorff(p, t, spacing=sp) == pytest.approx(medpy_binary.hd(p, t, voxelspacing=sp))
    assert assd(p, t, spacing=sp) == pytest.approx(medpy_binary.assd(p, t, voxelspacing=sp))


# ----------------------------------------------------------------- empty masks
def test_both_empty_conventions():
    z = np.zeros((6, 6), bool)
    for f in (dice, iou):
        assert math.isnan(f(z, z))
        assert f(z, z, empty="score") == 1.0
    for f in (hausdorff, assd, hd95):
        assert math.isnan(f(z, z, spacing=1.0))
        assert f(z, z, spacing=1.0, empty="score") == 0.0
    assert math.isnan(surface_dice(z, z, spacing=1.0, tolerance_mm=1.0))
    assert surface_dice(z, z, spacing=1.0, tolerance_mm=1.0, empty="score") == 1.0
    # MONAI agrees that both-empty is undefined: compute_hausdorff_distance returns NaN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monai_hd = monai_metrics.compute_hausdorff_distance(as_tensor(z), as_tensor(z), include_background=True)
    assert math.isnan(monai_hd.item())


def test_one_empty_missed_lesion_is_never_better():
    t = np.zeros((16, 20), bool)
    t[5:9, 6:10] = True
    z = np.zeros_like(t)
    sp = (0.5, 0.8)
    # Diagonal in mm between the corner voxel centres: sqrt((15*0.5)^2 + (19*0.8)^2)
    diag = math.sqrt(7.5**2 + 15.2**2)
    for pred, true in ((z, t), (t, z)):  # missed lesion, and false alarm
        assert dice(pred, true) == 0.0 and dice(pred, true, empty="score") == 0.0
        assert iou(pred, true) == 0.0
        assert surface_dice(pred, true, spacing=sp, tolerance_mm=2.0) == 0.0
        for f in (hausdorff, hd95, assd):
            assert math.isnan(f(pred, true, spacing=sp))
            assert f(pred, true, spacing=sp, empty="score") == pytest.approx(diag)
            assert f(pred, true, spacing=sp, empty="score", worst_distance_mm=50.0) == 50.0
    # A missed lesion scores worse than any prediction that touches the image
    near = np.zeros_like(t)
    near[0, 0] = True
    assert hd95(z, t, spacing=sp, empty="score") >= hd95(near, t, spacing=sp, empty="score")


def test_summary_counts_undefined_cases():
    t = np.zeros((12, 12), bool)
    t[3:7, 3:7] = True
    p = np.zeros_like(t)
    p[4:8, 3:7] = True
    z = np.zeros_like(t)
    cases = [
        segmentation_metrics(p, t, spacing=1.0, tolerance_mm=1.0),
        segmentation_metrics(z, t, spacing=1.0, tolerance_mm=1.0),  # missed
        segmentation_metrics(z, z, spacing=1.0, tolerance_mm=1.0),  # both empty
        segmentation_metrics(p, z, spacing=1.0, tolerance_mm=1.0),  # false alarm
    ]
    s = summarize_segmentation(cases)
    assert (s.n_cases, s.n_missed, s.n_false_alarm, s.n_both_empty) == (4, 1, 1, 1)
    assert (s.n_empty_true, s.n_empty_pred) == (2, 2)
    # Dice: defined for 3 cases (0.75, 0, 0), undefined for the both-empty one.
    # p vs t: |P∩T| = 3 rows x 4 = 12, |P| = |T| = 16 -> 24/32 = 0.75
    assert s.metrics["dice"].n_defined == 3 and s.metrics["dice"].n_undefined == 1
    assert s.metrics["dice"].mean == pytest.approx(0.25)
    # HD95: defined only for the first case; the other three are counted as undefined.
    assert s.metrics["hd95"].n_defined == 1 and s.metrics["hd95"].n_undefined == 3
    assert s.to_dict()["metrics"]["hd95"]["n_undefined"] == 3
    scored = summarize_segmentation(
        [segmentation_metrics(x, y, spacing=1.0, empty="score") for x, y in ((p, t), (z, t), (z, z))]
    )
    assert scored.metrics["hd95"].n_undefined == 0
    assert scored.metrics["hd95"].maximum == pytest.approx(math.sqrt(2) * 11)
    with pytest.raises(ValueError, match="mix 'empty' conventions"):
        summarize_segmentation([cases[0], scored_case := segmentation_metrics(p, t, spacing=1.0, empty="score")])
    assert isinstance(scored_case, SegmentationMetrics)


# ----------------------------------------------------------------- properties
masks_2d = arrays(np.bool_, st.tuples(st.integers(2, 9), st.integers(2, 9)), elements=st.booleans())


@settings(max_examples=60, deadline=None)
@given(masks_2d, st.data())
def test_properties_dice_symmetric_bounded_and_hd_at_least_hd95(a, data):
    b = data.draw(arrays(np.bool_, a.shape, elements=st.booleans()))
    sp = data.draw(st.tuples(st.floats(0.2, 3.0), st.floats(0.2, 3.0)))
    d = dice(a, b, empty="score")
    assert d == dice(b, a, empty="score")
    assert 0.0 <= d <= 1.0
    if a.any() and b.any():
        h = hausdorff(a, b, spacing=sp)
        assert h == pytest.approx(hausdorff(b, a, spacing=sp))
        for definition in ("max-directed", "pooled"):
            h95 = hd95(a, b, spacing=sp, definition=definition)
            assert 0.0 <= h95 <= h + 1e-12
        assert assd(a, b, spacing=sp) <= h + 1e-12
        assert 0.0 <= surface_dice(a, b, spacing=sp, tolerance_mm=1.0) <= 1.0


@settings(max_examples=25, deadline=None)
@given(arrays(np.bool_, (4, 5, 6), elements=st.booleans()))
def test_property_identical_masks_are_perfect_3d(a):
    if a.any():
        m = segmentation_metrics(a, a, spacing=(2.0, 1.0, 0.5), tolerance_mm=0.0)
        assert (m.dice, m.iou, m.hausdorff, m.hd95, m.assd, m.surface_dice) == (1, 1, 0, 0, 0, 1)


# ----------------------------------------------------------------- bad arguments
def test_bad_arguments():
    a = np.zeros((4, 4), bool)
    a[1, 1] = True
    with pytest.raises(ValueError, match="'pred' and 'true' must have the same shape"):
        dice(a, np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"'true' must be a binary mask with values 0 and 1; got 2"):
        dice(a, a.astype(int) * 2)
    with pytest.raises(ValueError, match="'pred' contains 1 NaN"):
        dice(np.where(a, np.nan, 0.0), a)
    with pytest.raises(ValueError, match="'pred' must be a 2-D or 3-D mask"):
        dice(np.zeros(4), np.zeros(4))
    with pytest.raises(TypeError, match="'pred' must be a binary mask"):
        dice(np.array([["a"]]), np.array([["a"]]))
    with pytest.raises(ValueError, match=r"'spacing' must have one value per mask axis \(2\); got 3"):
        hausdorff(a, a, spacing=(1, 1, 1))
    with pytest.raises(ValueError, match=r"'spacing' must be finite and > 0 \(mm\); got \(1.0, -1.0\)"):
        hausdorff(a, a, spacing=(1, -1))
    with pytest.raises(TypeError, match="'spacing' must be a sequence"):
        hausdorff(a, a, spacing=None)
    with pytest.raises(ValueError, match="'empty' must be one of 'nan', 'score'; got 'zero'"):
        dice(a, a, empty="zero")
    with pytest.raises(ValueError, match="'definition' must be one of 'max-directed', 'pooled'; got 'max'"):
        hd95(a, a, spacing=1.0, definition="max")
    with pytest.raises(ValueError, match="'tolerance_mm' must be finite and >= 0; got -1"):
        surface_dice(a, a, spacing=1.0, tolerance_mm=-1)
    with pytest.raises(ValueError, match="'worst_distance_mm' must be finite and >= 0; got nan"):
        hausdorff(a, a, spacing=1.0, worst_distance_mm=float("nan"))
    with pytest.raises(ValueError, match="'cases' must contain at least one"):
        summarize_segmentation([])

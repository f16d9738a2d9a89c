"""Detection: matching, FROC and CPM.

Expected values come from (1) a worked example derived by hand below, (2) the
LUNA16 evaluation script's FROC formula re-implemented on scikit-learn's
``roc_curve`` (as ``noduleCADEvaluation.computeFROC`` does), and (3) an
explicit, slow bootstrap that rebuilds each resampled data set.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from validation.stats.detection import (
    CPM_FP_RATES,
    ImageLesions,
    ImageMarks,
    cpm,
    froc,
    lesion_sensitivity,
    match_marks,
)

# ---------------------------------------------------------------- the worked example
# 2-D, spacing 1 mm, hit = within the lesion radius, 5 images (E has nothing).
# Lesions: A: L1 (10,10) r3, L2 (30,30) r4;  B: L3 (20,20) r2;  C: L4 (50,50) r5.
# Marks:   A: m1 (11,10) .95 -> L1 (1 mm <= 3)            TP
#             m2 (10,12) .60 -> L1 again (2 mm)           duplicate (ignored, LUNA16)
#             m3 (60,60) .80                               FP
#          B: m4 (21,21) .70 -> L3 (sqrt2 <= 2)            TP
#             m5 (0,0)   .30                               FP
#          C: m6 (50,58) .90 -> 8 mm > 5                   FP
#             m7 (52,51) .40 -> L4 (sqrt5 <= 5)            TP
#          D: m8 (5,5)   .40 (tied with m7)                FP
# L2 is never detected. n_lesions = 4, n_images = 5.
# Operating points (threshold: TP, FP -> FP/image, sensitivity):
#   inf: 0,0 -> (0, 0)       .95: 1,0 -> (0, .25)     .90: 1,1 -> (.2, .25)
#   .80: 1,2 -> (.4, .25)    .70: 2,2 -> (.4, .50)    .40: 3,3 -> (.6, .75)  (tie: TP and FP together)
#   .30: 3,4 -> (.8, .75)
# Linear (LUNA16 np.interp): f=1/8 -> .25; 1/4 -> .25; 1/2 -> .5 + (.75-.5)*(.5-.4)/(.6-.4) = .625;
#   f = 1, 2, 4, 8 are beyond the last point (.8) -> .75.  CPM = (.25+.25+.625+4*.75)/7 = 4.125/7.
# Step: f=1/2 -> last point with FP/image <= .5 is (.4, .5) -> .5.  CPM = (.25+.25+.5+3)/7 = 4/7.
MARKS = {
    "A": ([[11, 10], [10, 12], [60, 60]], [0.95, 0.60, 0.80]),
    "B": ([[21, 21], [0, 0]], [0.70, 0.30]),
    "C": ([[50, 58], [52, 51]], [0.90, 0.40]),
    "D": ([[5, 5]], [0.40]),
}
LESIONS = {
    "A": ([[10, 10], [30, 30]], [3.0, 4.0]),
    "B": ([[20, 20]], [2.0]),
    "C": ([[50, 50]], [5.0]),
}


def test_worked_example_matching():
    m = match_marks(MARKS, LESIONS, 5)
    # marks flattened in image order A, B, C, D: status 1 TP, 0 FP, 2 duplicate
    assert m.mark_status.tolist() == [1, 2, 0, 1, 0, 0, 1, 0]
    assert m.mark_lesion.tolist() == [0, 0, -1, 2, -1, -1, 3, -1]
    np.testing.assert_array_equal(m.lesion_score, [0.95, np.nan, 0.70, 0.40])
    assert m.to_dict()["n_duplicate_marks"] == 1


def test_worked_example_curve_and_cpm():
    r = froc(MARKS, LESIONS, 5, n_resamples=200)
    np.testing.assert_allclose(r.fp_per_image, [0, 0, 0.2, 0.4, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(r.sensitivity, [0, 0.25, 0.25, 0.25, 0.5, 0.75, 0.75])
    assert r.thresholds[0] == math.inf
    np.testing.assert_allclose(r.thresholds[1:], [0.95, 0.90, 0.80, 0.70, 0.40, 0.30])
    assert [iv.estimate for iv in r.sensitivity_at] == pytest.approx([0.25, 0.25, 0.625, 0.75, 0.75, 0.75, 0.75])
    assert r.cpm.estimate == pytest.approx(4.125 / 7)
    step = froc(MARKS, LESIONS, 5, interpolation="step", n_resamples=200)
    assert step.cpm.estimate == pytest.approx(4 / 7)
    assert (r.n_lesions, r.n_images, r.n_marks, r.n_false_positive_marks) == (4, 5, 8, 4)
    assert cpm(MARKS, LESIONS, 5, n_resamples=200).estimate == pytest.approx(4.125 / 7)
    d = r.to_dict()
    assert d["thresholds"][0] is None and d["cpm"]["estimate"] == pytest.approx(4.125 / 7)


def test_worked_example_duplicates_as_false_positives():
    # m2 (.60) becomes an FP: between .70 and .40 a new point (.6, .5) appears at t=.60,
    # and the tie at .40 moves to (.8, .75), the last point .30 to (1.0, .75).
    # Linear at f=1/2: between (.4,.5) and (.6,.5) -> .5 ; f=1 -> .75.
    r = froc(MARKS, LESIONS, 5, duplicates="false-positive", n_resamples=50)
    np.testing.assert_allclose(r.fp_per_image, [0, 0, 0.2, 0.4, 0.4, 0.6, 0.8, 1.0])
    assert r.sensitivity_at[2].estimate == pytest.approx(0.5)
    assert r.sensitivity_at[3].estimate == pytest.approx(0.75)


def test_worked_example_operating_point():
    # threshold .5: detected L1 (.95), L3 (.70) -> 2/4; FPs m6 (.90), m3 (.80) -> 2/5 per image
    op = lesion_sensitivity(MARKS, LESIONS, 5, threshold=0.5, n_resamples=500)
    assert (op.n_detected, op.n_lesions, op.n_false_positives) == (2, 4, 2)
    assert op.sensitivity.estimate == 0.5 and op.fp_per_image.estimate == pytest.approx(0.4)
    assert 0.0 <= op.sensitivity.lower <= 0.5 <= op.sensitivity.upper <= 1.0
    assert op.to_dict()["sensitivity"]["n"] == 4


def test_hit_criteria():
    # distance: within 1.5 mm of the centre only -> m1 (1 mm) and m4 (1.41 mm); m7 (2.24 mm) misses
    m = match_marks(MARKS, LESIONS, 5, hit="distance", distance_mm=1.5)
    assert m.mark_status.tolist() == [1, 0, 0, 1, 0, 0, 0, 0]
    # anisotropic spacing: column spacing 3 mm makes m1->L1 3 mm (<=3, hit) and m7->L4 sqrt(4+9)=3.6 (<=5)
    m = match_marks(MARKS, LESIONS, 5, spacing=(1.0, 3.0))
    assert m.mark_status[0] == 1 and m.mark_status[6] == 1
    # m2 at (10,12): 6 mm from L1 with column spacing 3 -> no longer a duplicate, an FP
    assert m.mark_status[1] == 0
    # mask: a labelled mask; marks are rounded to the nearest voxel
    mask = np.zeros((20, 20), np.uint8)
    mask[2:6, 2:6] = 1
    mask[12:15, 10:18] = 1
    les = ImageLesions.from_mask(mask, spacing=(0.5, 0.5))
    assert les.centres.tolist() == [[3.5, 3.5], [13.0, 13.5]]
    assert les.radii_mm[0] == pytest.approx(math.sqrt(16 * 0.25 / math.pi))
    marks = {"x": ImageMarks(np.array([[5.4, 5.4], [11.6, 11.0], [9.0, 9.0]]), np.array([0.9, 0.8, 0.7]))}
    mm = match_marks(marks, {"x": les}, 1, hit="mask")
    assert mm.mark_status.tolist() == [1, 1, 0]  # (5,5) in lesion 1; (12,11) in lesion 2; (9,9) background


def test_greedy_takes_the_nearest_free_lesion_in_score_order():
    # Two overlapping lesions; the high mark hits both and takes the nearer (L_b);
    # the low mark hits only L_b (taken) -> duplicate. Documented greedy behaviour.
    lesions = {"i": ([[10, 10], [10, 14]], [5.0, 5.0])}
    marks = {"i": ([[10, 13], [10, 17]], [0.9, 0.5])}
    m = match_marks(marks, lesions, 1)
    assert m.mark_status.tolist() == [1, 2] and m.mark_lesion.tolist() == [1, 1]


# ---------------------------------------------------------------- LUNA16 formula
def luna16_cpm(marks, lesions, n_images, rates=CPM_FP_RATES):
    """LUNA16 noduleCADEvaluation.computeFROC on non-overlapping lesions.

    Each lesion's score is the max score of the marks inside its radius; marks in
    no lesion are FPs; other marks in a detected lesion are ignored. Then
    fpr, tpr = sklearn.metrics.roc_curve(gt, prob);
    fps = fpr * (n_candidates - n_detected) / n_images; sens = tpr * n_detected / n_lesions;
    sensitivity at rate f = np.interp(f, fps, sens).
    """
    gt, prob, n_les = [], [], 0
    for img in set(marks) | set(lesions):
        pos, sc = (np.asarray(a, float) for a in marks.get(img, (np.zeros((0, 2)), np.zeros(0))))
        cen, rad = (np.asarray(a, float) for a in lesions.get(img, (np.zeros((0, 2)), np.zeros(0))))
        n_les += len(cen)
        inside = np.zeros(len(sc), bool)
        for c, r in zip(cen, rad):
            hit = np.sqrt(((pos - c) ** 2).sum(1)) <= r
            inside |= hit
            if hit.any():
                gt.append(1)
                prob.append(sc[hit].max())
        gt += [0] * int((~inside).sum())
        prob += sc[~inside].tolist()
    gt, prob = np.array(gt), np.array(prob)
    fpr, tpr, _ = roc_curve(gt, prob)
    n_det = int(gt.sum())
    fps = fpr * (len(gt) - n_det) / n_images
    sens = tpr * n_det / n_les
    return np.interp(rates, fps, sens)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cpm_matches_luna16_formula_on_random_data(seed):
    rng = np.random.default_rng(seed)
    marks, lesions = {}, {}
    n_images = 40
    for i in range(n_images):
        n_les = rng.integers(0, 3)
        # lesions on a coarse grid, radius < half the grid step: never overlapping
        cells = rng.choice(16, size=n_les, replace=False)
        cen = np.stack([cells // 4 * 25 + 12, cells % 4 * 25 + 12], 1).astype(float)
        rad = rng.uniform(3, 10, n_les)
        if n_les:
            lesions[i] = (cen, rad)
        k = rng.integers(0, 6)
        pos = rng.uniform(0, 100, (k, 2))
        # some marks near lesions
        if n_les:
            near = cen[rng.integers(0, n_les, 2)] + rng.normal(0, 3, (2, 2))
            pos = np.vstack([pos, near])
        sc = np.round(rng.uniform(0, 1, len(pos)), 2)  # rounding creates ties
        if len(pos):
            marks[i] = (pos, sc)
    r = froc(marks, lesions, n_images, n_resamples=100)
    expected = luna16_cpm(marks, lesions, n_images)
    np.testing.assert_allclose([iv.estimate for iv in r.sensitivity_at], expected, atol=1e-12)
    assert r.cpm.estimate == pytest.approx(expected.mean(), abs=1e-12)


# ---------------------------------------------------------------- bootstrap
def test_image_bootstrap_equals_explicit_resampling():
    # The vectorised weights must equal rebuilding each resampled data set:
    # replicate the generator's draws (one chunk of <= 250 rows, integers(0, n_units, (B, n_units))).
    n_images, B, seed = 5, 40, 7
    r = froc(MARKS, LESIONS, n_images, n_resamples=B, seed=seed)
    images = ["A", "B", "C", "D"]  # order of first appearance; the 5th image (E) is anonymous and empty
    draws = np.random.default_rng(seed).integers(0, n_images, size=(B, n_images))
    cpms = []
    for row in draws:
        mk, le = {}, {}
        for j, u in enumerate(row):
            if u < 4:
                img = images[u]
                if img in MARKS:
                    mk[(j, img)] = MARKS[img]
                if img in LESIONS:
                    le[(j, img)] = LESIONS[img]
        if not le:
            cpms.append(np.nan)
            continue
        cpms.append(froc(mk, le, n_images, n_resamples=1).cpm.estimate)
    cpms = np.array(cpms)
    cpms = cpms[~np.isnan(cpms)]
    lo, hi = np.quantile(cpms, [0.025, 0.975])
    assert (r.cpm.lower, r.cpm.upper) == pytest.approx((lo, hi), abs=1e-12)


def test_cluster_bootstrap_and_determinism():
    clusters = {"A": "p1", "B": "p1", "C": "p2", "D": "p3", "E": "p3"}
    r1 = froc(MARKS, LESIONS, 5, clusters=clusters, n_resamples=300, seed=3)
    r2 = froc(MARKS, LESIONS, 5, clusters=clusters, n_resamples=300, seed=3)
    assert r1.cpm == r2.cpm and r1.resampling_unit == "cluster"
    assert r1.cpm.estimate == pytest.approx(4.125 / 7)  # estimate does not depend on clustering
    for iv in r1.sensitivity_at:
        assert 0.0 <= iv.lower <= iv.upper <= 1.0


def test_no_lesions_gives_nan_sensitivity_not_a_crash():
    r = froc({"a": ([[1, 1]], [0.5])}, {}, 3, n_resamples=20)
    assert r.n_lesions == 0 and math.isnan(r.cpm.estimate)
    assert r.fp_per_image.tolist() == pytest.approx([0, 1 / 3])


# ---------------------------------------------------------------- bad arguments
def test_bad_arguments():
    with pytest.raises(ValueError, match="'hit' must be one of 'radius', 'distance', 'mask'; got 'near'"):
        froc(MARKS, LESIONS, 5, hit="near")
    with pytest.raises(ValueError, match="'distance_mm' must be a finite number >= 0 for hit='distance'; got None"):
        froc(MARKS, LESIONS, 5, hit="distance")
    with pytest.raises(ValueError, match="'n_images' must be at least the number of images with marks or lesions"):
        froc(MARKS, LESIONS, 3)
    with pytest.raises(ValueError, match=r"'marks'\['x'\] must have one score per position"):
        froc({"x": ([[1, 2], [3, 4]], [0.5])}, {}, 1)
    with pytest.raises(ValueError, match=r"'marks'\['x'\] scores contain 1 NaN"):
        froc({"x": ([[1, 2]], [np.nan])}, {}, 1)
    with pytest.raises(ValueError, match=r"'lesions'\['x'\] needs radii_mm for hit='radius'"):
        froc({}, {"x": ([[1, 2]], None)}, 1)
    with pytest.raises(ValueError, match="'clusters' must list every image"):
        froc(MARKS, LESIONS, 5, clusters={"A": 1})
    with pytest.raises(ValueError, match="'interpolation' must be one of 'linear', 'step'; got 'cubic'"):
        froc(MARKS, LESIONS, 5, interpolation="cubic")
    with pytest.raises(ValueError, match="'confidence_level' must be in"):
        froc(MARKS, LESIONS, 5, confidence_level=95)
    with pytest.raises(TypeError, match="'marks' must be a mapping"):
        froc([MARKS], LESIONS, 5)
    with pytest.raises(TypeError, match="'threshold' must be a real number"):
        lesion_sensitivity(MARKS, LESIONS, 5, threshold=None)

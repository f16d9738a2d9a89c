"""Report figures: curve thinning (bounded, faithful), deterministic SVG, the STARD flow diagram."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports import figures


def _roc(n_pos, n_neg, seed):
    """Empirical ROC of random scores: one point per case (ties impossible with continuous scores)."""
    rng = np.random.default_rng(seed)
    scores = np.r_[rng.normal(1, 1, n_pos), rng.normal(0, 1, n_neg)]
    labels = np.r_[np.ones(n_pos), np.zeros(n_neg)]
    order = np.argsort(-scores)
    tpr = np.r_[0, np.cumsum(labels[order]) / n_pos]
    fpr = np.r_[0, np.cumsum(1 - labels[order]) / n_neg]
    return fpr, tpr


def test_thin_curve_bounds_100k_point_roc():
    fpr, tpr = _roc(30_000, 70_000, 1)
    keep = figures.thin_curve(fpr, tpr, max_points=400)
    assert keep.size <= 400
    assert keep[0] == 0 and keep[-1] == fpr.size - 1
    assert np.all(np.diff(keep) > 0)


@settings(max_examples=40, deadline=None)
@given(n_pos=st.integers(1, 3000), n_neg=st.integers(1, 3000), seed=st.integers(0, 10_000),
       max_points=st.integers(4, 600))
def test_thin_curve_properties(n_pos, n_neg, seed, max_points):
    """At most max_points kept; every dropped point lies within delta (L1) of the last kept point before it.

    delta = 2 / (max_points - 2) on axes scaled to [0, 1] (derivation in thin_curve's docstring).
    """
    fpr, tpr = _roc(n_pos, n_neg, seed)
    keep = figures.thin_curve(fpr, tpr, max_points=max_points)
    assert keep.size <= max_points
    assert keep[0] == 0 and keep[-1] == fpr.size - 1
    if fpr.size > max_points:
        delta = 2.0 / (max_points - 2)
        last = np.searchsorted(keep, np.arange(fpr.size), side="right") - 1
        dist = np.abs(fpr - fpr[keep[last]]) + np.abs(tpr - tpr[keep[last]])
        assert dist.max() < delta + 1e-12


def test_thin_curve_short_curve_unchanged():
    assert figures.thin_curve([0, 0.5, 1], [0, 0.7, 1]).tolist() == [0, 1, 2]


def test_thin_curve_bad_arguments():
    with pytest.raises(ValueError, match="'x' and 'y' must be 1-D of equal length"):
        figures.thin_curve([0, 1], [0, 1, 2])
    with pytest.raises(ValueError, match="'max_points' must be at least 4; got 2"):
        figures.thin_curve([0, 1], [0, 1], max_points=2)


def _roc_dict():
    fpr, tpr = _roc(200, 300, 3)
    grid = np.linspace(0, 1, 21)
    tg = np.asarray([tpr[fpr <= g].max() for g in grid])
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "fpr_grid": grid.tolist(),
            "lower": np.clip(tg - 0.05, 0, 1).tolist(), "upper": np.clip(tg + 0.05, 0, 1).tolist(),
            "confidence_level": 0.95}


def test_svg_is_deterministic_and_clean():
    a = figures.roc_figure(_roc_dict(), operating_point=(0.1, 0.8), auc_label="AUC 0.760")
    b = figures.roc_figure(_roc_dict(), operating_point=(0.1, 0.8), auc_label="AUC 0.760")
    assert a == b
    assert a.startswith("<svg")
    assert "<metadata" not in a and "dc:date" not in a and "<?xml" not in a
    ids = re.findall(r'\bid="([^"]+)"', a)
    assert ids and all(i.startswith("fig-roc-") for i in ids)
    # svg.fonttype 'none': labels stay text (selectable, extractable by pdftotext).
    assert "Sensitivity (true-positive rate)" in a


def test_roc_band_length_mismatch_names_field():
    bad = _roc_dict()
    bad["lower"] = bad["lower"][:-1]
    with pytest.raises(ValueError, match="outcome.curves.roc: fpr_grid, lower and upper must have equal lengths"):
        figures.roc_figure(bad)


def test_non_numeric_curve_value_names_field():
    bad = _roc_dict()
    bad["tpr"][3] = "x"
    with pytest.raises(ValueError, match=r"outcome.curves.roc.tpr: expected numbers; got 'x'"):
        figures.roc_figure(bad)


def test_flow_diagram_counts_and_reasons():
    flow = {"eligible": 1010, "excluded": [{"reason": "unreadable <DICOM>", "n": 7}, {"reason": "age < 18", "n": 3}],
            "indeterminate": 4, "analysed": 996, "positive": 250, "negative": 746}
    svg = figures.flow_diagram(flow, confusion={"threshold": 0.5, "tp": 200, "fn": 50, "fp": 70, "tn": 676})
    for text in ("n = 1,010", "Excluded: n = 10", "unreadable &lt;DICOM&gt;: n = 7", "age &lt; 18: n = 3",
                 "n = 1,000",  # index test performed = eligible − excluded = 1010 − 10
                 "n = 4 (reported, not dropped)", "n = 996", "n = 250", "n = 746",
                 "Index test + (TP)", "n = 200", "n = 50", "n = 70", "n = 676"):
        assert text in svg, text
    assert svg.count("<rect") == 1 + 1 + 1 + 1 + 1 + 2 + 4  # eligible, excluded, performed, indeterminate, analysed, classes, 2x2


def test_forest_and_distribution_and_froc_render():
    strata = [{"level": "Site A", "n": 40, "estimate": 0.8, "lower": 0.65, "upper": 0.9, "small": False},
              {"level": "A very long site name indeed", "n": 9, "estimate": "nan", "lower": "nan", "upper": "nan",
               "small": True}]
    svg = figures.forest_figure(strata, name="t", overall=0.8)
    assert "Site A" in svg and "A very long sit…" in svg
    dist = figures.distribution_figure([0.1, 0.5, 0.9, "nan"], name="dice", label="Dice", reference=0.7,
                                       reference_label="threshold")
    assert "median 0.5" in dist
    x = np.linspace(0, 8, 50_000)
    froc = figures.froc_figure({"fp_per_image": x.tolist(), "sensitivity": (1 - np.exp(-x)).tolist()},
                               points=[{"fp_per_image": 1, "estimate": 0.63, "lower": 0.6, "upper": 0.66}])
    # 50,000 points are thinned to at most MAX_CURVE_POINTS vertices in the plotted path.
    assert len(froc) < 200_000

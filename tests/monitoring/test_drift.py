"""Tests for monitoring.drift.

Reference values come from independent software run in the test on the same
data, named at each comparison:

- evidently 0.7.23 (installed): ``Report([DataDriftPreset(method=M)])`` on the
  same frames; its per-column ``ValueDrift`` values are read from
  ``snapshot.dict()["metrics"]``.
- SciPy 1.17: ``scipy.stats.ks_2samp``, ``scipy.stats.wasserstein_distance``,
  ``scipy.spatial.distance.jensenshannon``, ``scipy.stats.chi2_contingency``.
- statsmodels 0.15: ``multipletests`` (Holm, BH) and ``proportions_ztest``.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

os.environ.setdefault("DO_NOT_TRACK", "1")

from monitoring import drift  # noqa: E402
from monitoring.drift import (  # noqa: E402
    chi_square,
    drift_table,
    embedding_drift,
    jensen_shannon,
    ks,
    output_drift,
    psi,
    wasserstein_normed,
)
from validation.errors import InputError  # noqa: E402

NUMERIC = ["age", "intensity", "noise", "shifted"]
CATEGORICAL = ["site", "vendor"]


# evidently 0.7 imports litestar and numpy.core, which warn on import
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

def _frames(seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference 800 rows, current 600 rows (evidently's zero-fill is then exactly 1e-4:
    the smallest non-empty proportion, >= 1/800, exceeds 1e-4; get_binned_data)."""
    rng = np.random.default_rng(seed)
    n1, n2 = 800, 600
    ref = pd.DataFrame({
        "age": rng.normal(60, 10, n1).round(1),
        "intensity": rng.gamma(2.0, 300.0, n1),
        "noise": rng.normal(0, 1, n1),
        "shifted": rng.normal(0, 1, n1),
        "site": rng.choice(["A", "B", "C"], n1, p=[0.5, 0.3, 0.2]),
        "vendor": rng.choice(["Acme", "Borealis", "Cobalt"], n1),
    })
    cur = pd.DataFrame({
        "age": rng.normal(62, 11, n2).round(1),
        "intensity": rng.gamma(2.0, 330.0, n2),
        "noise": rng.normal(0, 1, n2),
        "shifted": rng.normal(0.8, 1.3, n2),
        "site": rng.choice(["A", "B", "C"], n2, p=[0.3, 0.3, 0.4]),
        # a vendor never seen in the reference
        "vendor": rng.choice(["Acme", "Borealis", "Cobalt", "Zephyr Diagnostics"], n2),
    })
    return ref, cur


@pytest.fixture(scope="module")
def frames():
    return _frames()


def _evidently_values(ref, cur, method, columns):
    """Per-column drift values from evidently 0.7.23:
    Report([DataDriftPreset(columns=..., method=method)]).run(current, reference)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    num = [c for c in columns if c in NUMERIC]
    cat = [c for c in columns if c in CATEGORICAL]
    dd = DataDefinition(numerical_columns=num, categorical_columns=cat)
    snap = Report([DataDriftPreset(columns=columns, method=method)]).run(
        Dataset.from_pandas(cur[columns], data_definition=dd), Dataset.from_pandas(ref[columns], data_definition=dd))
    out = {}
    for m in snap.dict()["metrics"]:
        if m["config"]["type"].endswith("ValueDrift"):
            out[m["config"]["column"]] = float(m["value"])
    return out


@pytest.fixture(scope="module")
def evidently_values(frames):
    ref, cur = frames
    return {
        "ks": _evidently_values(ref, cur, "ks", NUMERIC),
        "psi": _evidently_values(ref, cur, "psi", NUMERIC + CATEGORICAL),
        "wasserstein": _evidently_values(ref, cur, "wasserstein", NUMERIC),
        "jensenshannon": _evidently_values(ref, cur, "jensenshannon", NUMERIC + CATEGORICAL),
    }


# --------------------------------------------------------------------------- agreement with evidently
@pytest.mark.parametrize("col", NUMERIC)
def test_ks_matches_evidently_and_scipy(frames, evidently_values, col):
    ref, cur = frames
    r = ks(ref[col], cur[col])
    sp = stats.ks_2samp(ref[col], cur[col])  # SciPy 1.17, method="auto" (exact here)
    assert r.statistic == sp.statistic
    assert r.p_value == pytest.approx(sp.pvalue, rel=1e-12)
    # evidently 0.7.23 "ks" reports the p-value of scipy.stats.ks_2samp
    assert r.p_value == pytest.approx(evidently_values["ks"][col], rel=1e-12)


@pytest.mark.parametrize("col", NUMERIC + CATEGORICAL)
def test_psi_matches_evidently(frames, evidently_values, col):
    ref, cur = frames
    binning = "categories" if col in CATEGORICAL else "sturges"
    r = psi(ref[col], cur[col], binning=binning, epsilon=1e-4)
    assert r.statistic == pytest.approx(evidently_values["psi"][col], rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("col", NUMERIC)
def test_wasserstein_matches_evidently_and_scipy(frames, evidently_values, col):
    ref, cur = frames
    r = wasserstein_normed(ref[col], cur[col])
    # SciPy 1.17: wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)
    expected = stats.wasserstein_distance(ref[col], cur[col]) / max(float(np.std(ref[col])), 0.001)
    assert r.statistic == pytest.approx(expected, rel=1e-12)
    assert r.statistic == pytest.approx(evidently_values["wasserstein"][col], rel=1e-12)


@pytest.mark.parametrize("col", NUMERIC + CATEGORICAL)
def test_jensen_shannon_matches_evidently_and_scipy(frames, evidently_values, col):
    ref, cur = frames
    binning = "categories" if col in CATEGORICAL else "sturges"
    r = jensen_shannon(ref[col], cur[col], binning=binning)
    assert r.statistic == pytest.approx(evidently_values["jensenshannon"][col], rel=1e-12)
    if col in NUMERIC:
        # SciPy/NumPy: Sturges bins over reference + current, then jensenshannon of proportions
        edges = np.histogram_bin_edges(np.concatenate([ref[col], cur[col]]), bins="sturges")
        p = np.histogram(ref[col], edges)[0] / len(ref)
        q = np.histogram(cur[col], edges)[0] / len(cur)
        assert r.statistic == pytest.approx(distance.jensenshannon(p, q), rel=1e-12)
        assert r.details["bins"] == len(edges) - 1


def test_psi_with_missing_values_matches_evidently_after_exclusion():
    ref, cur = _frames(seed=11)
    cur.loc[[3, 50, 51], "noise"] = np.nan
    ref.loc[[0], "noise"] = np.nan
    ev = _evidently_values(ref, cur, "psi", ["noise"])
    r = psi(ref["noise"], cur["noise"], binning="sturges")
    assert r.statistic == pytest.approx(ev["noise"], rel=1e-12)  # evidently drops NaN silently
    assert r.n_excluded == 4
    assert r.details["n_excluded_reference"] == 1 and r.details["n_excluded_current"] == 3
    assert (r.n_reference, r.n_current) == (799, 597)


# --------------------------------------------------------------------------- agreement with SciPy at scale
@pytest.mark.parametrize("shift", [0.0, 0.02, 0.05])
def test_ks_asymptotic_branch_matches_scipy(shift):
    rng = np.random.default_rng(3)
    a = rng.normal(size=20_000).round(3)  # ties on purpose
    b = rng.normal(shift, size=30_000).round(3)
    r = ks(a, b)
    sp = stats.ks_2samp(a, b)  # max(n) > 10,000 -> SciPy uses method="asymp"
    assert r.statistic == sp.statistic
    assert r.p_value == pytest.approx(sp.pvalue, rel=1e-8)
    assert r.details["p_method"].startswith("asymp")


def test_smirnov_series_matches_scipy_special():
    from scipy.special import smirnov

    for n in (141, 5_000, 90_909):
        for nx2 in (2.2, 5.0, 40.0):
            x = math.sqrt(nx2 / n)
            # scipy.special.smirnov(n, x), SciPy 1.17
            assert drift._smirnov_sf(float(n), x) == pytest.approx(smirnov(n, x), rel=1e-8)


def test_quantile_psi_by_hand():
    # Reference 0..99: deciles at 9.9, 19.8, ... -> 10 bins of 10 values each.
    # Current: 50 values in the first decile bin, 50 spread evenly (5 per bin).
    # r_i = 0.1 for all i; c_1 = 0.55, c_i = 0.05 (i >= 2).
    # PSI = (0.1-0.55) ln(0.1/0.55) + 9 (0.1-0.05) ln(0.1/0.05)
    ref = np.arange(100, dtype=float)
    cur = np.r_[np.full(50, 1.0), np.repeat(np.arange(5, 100, 10, dtype=float), 5)]
    r = psi(ref, cur, bins=10, binning="quantile")
    expected = (0.1 - 0.55) * math.log(0.1 / 0.55) + 9 * (0.1 - 0.05) * math.log(0.1 / 0.05)
    assert r.statistic == pytest.approx(expected, rel=1e-12)
    assert r.details["bins"] == 10
    assert r.drifted and r.threshold == 0.1


def test_chi_square_matches_scipy_and_cramers_v(frames):
    ref, cur = frames
    r = chi_square(ref["site"], cur["site"])
    table = pd.crosstab(np.r_[np.zeros(len(ref)), np.ones(len(cur))], np.r_[ref["site"], cur["site"]])
    res = stats.chi2_contingency(table.to_numpy(), correction=False)  # SciPy 1.17
    assert r.statistic == pytest.approx(res.statistic, rel=1e-12)
    assert r.p_value == pytest.approx(res.pvalue, rel=1e-12)
    # Cramér's V for a 2 x k table = sqrt(chi2 / n); scipy.stats.contingency.association agrees
    v = stats.contingency.association(table.to_numpy(), method="cramer")
    assert r.effect_size == pytest.approx(v, rel=1e-12)


# --------------------------------------------------------------------------- edge cases
def test_nan_counted_never_dropped_silently():
    a = np.r_[np.arange(50.0), [np.nan, np.inf]]
    b = np.r_[np.arange(50.0) + 0.5, [np.nan]]
    for fn in (ks, wasserstein_normed, psi, jensen_shannon):
        r = fn(a, b)
        assert r.n_excluded == 3, fn.__name__
        assert r.details["n_excluded_reference"] == 2
        assert r.n_reference == 50 and r.n_current == 50
    r = chi_square(pd.Series(["a", None, "b"] * 10), pd.Series(["a", "b", np.nan] * 10))
    assert r.n_excluded == 20 and r.n_reference == 20


def test_constant_columns():
    const = np.full(200, 3.0)
    r = ks(const, const)
    assert r.statistic == 0.0 and r.p_value == 1.0 and not r.drifted
    w = wasserstein_normed(const, const + 0.01)
    # evidently floors the reference SD at 0.001: 0.01 / 0.001 = 10
    assert w.statistic == pytest.approx(10.0) and w.details["sd_reference"] == 0.0
    p = psi(const, np.r_[np.full(100, 3.0), np.full(100, 4.0)])
    # Quantile edges collapse to [3]: bins (-inf, 3], (3, inf).
    # r = (1, 1e-4 filled), c = (0.5, 0.5): PSI = 0.5 ln 2 + (1e-4 - 0.5) ln(1e-4 / 0.5)
    assert p.details["bins"] == 2
    assert p.statistic == pytest.approx(0.5 * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5), rel=1e-12)
    c = chi_square(["x"] * 10, ["x"] * 20)
    assert c.statistic == 0.0 and c.p_value == 1.0 and not c.drifted


def test_empty_windows_raise_clear_errors():
    with pytest.raises(InputError, match=r"'current' has no finite values.*n=0"):
        ks([1.0, 2.0], [])
    with pytest.raises(InputError, match=r"'reference' has no finite values.*2 NaN/inf excluded"):
        psi([np.nan, np.nan], [1.0])
    with pytest.raises(InputError, match=r"'current' has no non-missing values"):
        chi_square(["a"], [None, None])
    ref, _ = _frames()
    with pytest.raises(InputError, match=r"'current' window is empty \(0 rows\)"):
        drift_table(ref, ref.iloc[:0], numeric=["age"])
    with pytest.raises(InputError, match=r"column 'noise'.*'current' has no finite values"):
        drift_table(ref, ref.assign(noise=np.nan), numeric=["noise"])


def test_unseen_categories_reported(frames):
    ref, cur = frames
    r = chi_square(ref["vendor"], cur["vendor"])
    assert r.details["unseen_in_reference"] == ["Zephyr Diagnostics"]
    assert math.isfinite(r.statistic) and r.drifted
    p = psi(ref["vendor"], cur["vendor"], binning="categories")
    assert p.details["unseen_in_reference"] == ["Zephyr Diagnostics"]
    assert p.details["empty_bins_reference"] == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"'bins' must be an integer >= 2; got 1"):
        psi([1.0, 2.0], [1.0], bins=1)
    with pytest.raises(ValueError, match=r"'binning' must be one of"):
        psi([1.0, 2.0], [1.0], binning="equal")
    with pytest.raises(ValueError, match=r"'epsilon' must be in \(0, 1\); got 0"):
        psi([1.0, 2.0], [1.0], epsilon=0)
    with pytest.raises(TypeError, match=r"'reference' must be numeric; got dtype object"):
        ks(pd.Series(["a", "b"]), [1.0])
    with pytest.raises(ValueError, match=r"'significance_level' must be in \(0, 1\); got 1.5"):
        ks([1.0], [1.0], significance_level=1.5)
    ref, cur = _frames()
    with pytest.raises(InputError, match=r"'current': column 'bmi' not found"):
        drift_table(ref.assign(bmi=1.0), cur, numeric=["bmi"])
    with pytest.raises(ValueError, match=r"'method' must be one of"):
        drift_table(ref, cur, numeric=["age"], method="kl")
    with pytest.raises(ValueError, match=r"'multiplicity' must be one of 'bh', 'holm', 'none'; got 'fdr'"):
        drift_table(ref, cur, numeric=["age"], multiplicity="fdr")
    with pytest.raises(TypeError, match=r"column 'site' \(listed as numeric\)"):
        drift_table(ref, cur, numeric=["site"])


# --------------------------------------------------------------------------- drift_table
@pytest.mark.parametrize("multiplicity,sm_method", [("bh", "fdr_bh"), ("holm", "holm")])
def test_drift_table_multiplicity_matches_statsmodels(frames, multiplicity, sm_method):
    from statsmodels.stats.multitest import multipletests

    ref, cur = frames
    rep = drift_table(ref, cur, numeric=NUMERIC, categorical=CATEGORICAL, multiplicity=multiplicity,
                      min_effect=0.0)
    raw = np.array([r.p_value for r in rep.results])
    expected = multipletests(raw, method=sm_method)[1]  # statsmodels 0.15
    np.testing.assert_allclose([r.p_adjusted for r in rep.results], expected, rtol=1e-12)
    assert rep.n_features == 6
    assert rep["shifted"].drifted and rep["vendor"].drifted and not rep["noise"].drifted
    assert rep.share_drifted == rep.n_drifted / 6
    json.dumps(rep.to_dict())  # JSON-ready
    assert list(rep.to_frame()["feature"]) == NUMERIC + CATEGORICAL


def test_large_window_tiny_shift_needs_effect_size():
    """evidently issue #50: with 200,000 rows per window every p-value is tiny.

    A 0.03 SD mean shift is 'significant' but its KS D (~0.012) is far below the
    0.1 minimum effect, so drift_table does not flag it; the plain test does.
    """
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 200_000)})
    cur = pd.DataFrame({"x": rng.normal(0.03, 1, 200_000)})
    plain = ks(ref["x"], cur["x"])
    assert plain.p_value < 1e-6 and plain.drifted
    rep = drift_table(ref, cur, numeric=["x"], min_effect=0.1)
    assert rep["x"].p_adjusted < 1e-6
    assert rep["x"].effect_size < 0.02
    assert not rep["x"].drifted


@pytest.mark.parametrize("method", ["psi", "wasserstein", "jensenshannon"])
def test_drift_table_distance_methods(frames, method):
    ref, cur = frames
    rep = drift_table(ref, cur, numeric=NUMERIC, categorical=CATEGORICAL, method=method,
                      categorical_method="psi" if method == "psi" else "jensenshannon")
    r = rep["shifted"]
    assert r.threshold_on == "statistic" and r.p_value is None and r.p_adjusted is None
    assert r.drifted == (r.statistic >= r.threshold)
    assert rep["shifted"].drifted


# --------------------------------------------------------------------------- embeddings and outputs
def test_mmd_statistic_by_definition():
    # MMD^2 (biased) = mean k(x,x') + mean k(y,y') - 2 mean k(x,y), Gretton et al. (2012) eq. 5,
    # bandwidth = median pairwise distance of the pooled sample; computed here with explicit loops.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.normal(0.5, size=(5, 3))
    z = np.vstack([x, y])
    dists = [np.linalg.norm(z[i] - z[j]) for i in range(11) for j in range(i + 1, 11)]
    bw = float(np.median(dists))

    def kern(u, v):
        return math.exp(-np.sum((u - v) ** 2) / (2 * bw * bw))

    kxx = np.mean([kern(a, b) for a in x for b in x])
    kyy = np.mean([kern(a, b) for a in y for b in y])
    kxy = np.mean([kern(a, b) for a in x for b in y])
    r = embedding_drift(x, y, n_permutations=50)
    assert r.statistic == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-10)
    assert r.details["bandwidth"] == pytest.approx(bw, rel=1e-12)
    assert r.p_value >= 1 / 51 and r.p_value <= 1.0


def test_mmd_detects_shift_and_not_noise():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(300, 8))
    same = embedding_drift(ref, rng.normal(size=(300, 8)), n_permutations=200, seed=0)
    moved = embedding_drift(ref, rng.normal(0.4, 1.0, size=(300, 8)), n_permutations=200, seed=0)
    assert not same.drifted and same.p_value > 0.05
    assert moved.drifted and moved.p_value == pytest.approx(1 / 201)


def test_embedding_nan_rows_counted_and_subsampled():
    rng = np.random.default_rng(2)
    ref = rng.normal(size=(1500, 4))
    ref[:3, 1] = np.nan
    r = embedding_drift(ref, rng.normal(size=(200, 4)), max_samples=500, n_permutations=20)
    assert r.n_excluded == 3 and r.n_reference == 500
    assert r.details["n_reference_total"] == 1497
    with pytest.raises(ValueError, match=r"embedding widths differ"):
        embedding_drift(ref, rng.normal(size=(10, 3)))


def test_classifier_embedding_drift():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(400, 6))
    moved = embedding_drift(ref, rng.normal(0.5, 1.0, size=(400, 6)), method="classifier")
    assert moved.method == "classifier" and moved.drifted
    assert moved.details["auc_lower"] > 0.5 and moved.effect_size > 0.6
    same = embedding_drift(ref, rng.normal(size=(400, 6)), method="classifier")
    assert same.effect_size < 0.6


def test_output_drift_matches_statsmodels():
    from statsmodels.stats.proportion import proportions_ztest

    rng = np.random.default_rng(4)
    ref = rng.beta(2, 5, 3000)
    cur = np.r_[rng.beta(2, 4, 2000), [np.nan]]
    dist, rate = output_drift(ref, cur, threshold=0.4)
    assert dist.kind == rate.kind == "output"
    x1, x2 = int(np.sum(ref >= 0.4)), int(np.nansum(cur >= 0.4))
    # statsmodels 0.15: proportions_ztest([x_cur, x_ref], [n_cur, n_ref]) (pooled variance)
    z, p = proportions_ztest([x2, x1], [2000, 3000])
    assert rate.statistic == pytest.approx(z, rel=1e-10)
    assert rate.p_value == pytest.approx(p, rel=1e-10)
    h = 2 * math.asin(math.sqrt(x2 / 2000)) - 2 * math.asin(math.sqrt(x1 / 3000))
    assert rate.effect_size == pytest.approx(h, rel=1e-12)
    assert rate.n_excluded == 1 and rate.details["positives_current"] == x2

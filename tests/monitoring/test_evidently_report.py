"""Tests for monitoring.evidently_report: evidently 0.7.23's DataDriftPreset beside medval.

The comparisons run evidently (installed, 0.7.23) and medval's functions on the
same frames; the agreement of the statistics themselves is tested in
test_drift.py, here the wrapper's reading of evidently's snapshot is checked.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from monitoring.drift import jensen_shannon, ks, psi, wasserstein_normed
from monitoring.evidently_report import evidently_drift_report
from validation.errors import InputError
from validation.hashing import sha256_file


# evidently 0.7 imports litestar and numpy.core, which warn on import
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

def _frames(n_ref=1200, n_cur=900):
    rng = np.random.default_rng(21)
    ref = pd.DataFrame({"score": rng.beta(2, 5, n_ref), "age": rng.normal(60, 10, n_ref),
                        "site": rng.choice(["A", "B", "C"], n_ref)})
    cur = pd.DataFrame({"score": rng.beta(2.6, 5, n_cur), "age": rng.normal(60, 10, n_cur),
                        "site": rng.choice(["A", "B", "C", "D"], n_cur)})
    cur.loc[[5, 6], "age"] = np.nan
    return ref, cur


def test_auto_methods_recorded_and_values_match_medval(tmp_path):
    ref, cur = _frames()
    out = evidently_drift_report(ref, cur, tmp_path / "ev" / "drift.html", numeric=["score", "age"],
                                 categorical=["site"])
    # evidently 0.7.23 auto choice with > 1000 reference rows: normed Wasserstein / Jensen-Shannon
    assert out["score"].method == "Wasserstein distance (normed)"
    assert out["site"].method == "Jensen-Shannon distance"
    assert out["score"].value == pytest.approx(wasserstein_normed(ref["score"], cur["score"]).statistic, rel=1e-12)
    assert out["age"].value == pytest.approx(wasserstein_normed(ref["age"], cur["age"]).statistic, rel=1e-12)
    assert out["site"].value == pytest.approx(
        jensen_shannon(ref["site"], cur["site"], binning="categories").statistic, rel=1e-12)
    assert out["age"].n_missing_current == 2  # evidently dropped them; medval reports them
    assert out.n_drifted == sum(c.drifted for c in out.columns)
    assert out.dataset_drift == (out.share_drifted >= 0.5)
    assert out.evidently_version == "0.7.23"
    html = tmp_path / "ev" / "drift.html"
    assert html.exists() and html.stat().st_size > 10_000
    assert out.html_sha256 == sha256_file(html)
    assert not (tmp_path / "ev" / "drift.tmp").exists()
    json.dumps(out.to_dict())


@pytest.mark.parametrize("method", ["ks", "psi"])
def test_forced_method(tmp_path, method):
    ref, cur = _frames(600, 500)
    out = evidently_drift_report(ref, cur, tmp_path / "d.html", numeric=["score"], categorical=[], method=method)
    col = out["score"]
    assert col.method == method and out.method_requested == method
    if method == "ks":
        r = ks(ref["score"], cur["score"])
        assert col.value_is_p_value and col.value == pytest.approx(r.p_value, rel=1e-12)
        assert col.drifted == (col.value < col.threshold) == r.drifted
    else:
        r = psi(ref["score"], cur["score"], binning="sturges")
        assert not col.value_is_p_value and col.value == pytest.approx(r.statistic, rel=1e-12)
        assert col.drifted == (col.value >= 0.1)


def test_errors(tmp_path):
    ref, cur = _frames(50, 50)
    with pytest.raises(InputError, match=r"'current' window is empty"):
        evidently_drift_report(ref, cur.iloc[:0], tmp_path / "x.html", numeric=["score"], categorical=[])
    with pytest.raises(InputError, match=r"'reference': column 'bmi' not found"):
        evidently_drift_report(ref, cur, tmp_path / "x.html", numeric=["bmi"], categorical=[])

"""The reference profile: built from a validation run, checked against it, stored with its hash."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from _monitoring_support import monitoring_data
from monitoring.logs import image_statistics
from monitoring.profile import build_reference_profile, design_effect, load_reference_profile
from validation.errors import InputError, IntegrityError


@pytest.fixture(scope="module")
def data(request):
    return monitoring_data(request.config.cache.mkdir("medval-monitoring"))


def test_profile_covers_the_cohort_and_matches_the_run(data):
    from validation.cohorts import load_cohort

    prof = load_reference_profile(data["run_dir"])
    cohort = load_cohort(data["cohort_dir"])
    assert len(prof.frame) == len(cohort.manifest) == prof.meta["n_cases"]
    preds = pd.read_parquet(data["run_dir"] / "predictions.parquet").set_index("case_id")
    f = prof.frame.set_index("case_id")
    np.testing.assert_allclose(f["score"], preds.loc[f.index, "score"], atol=1e-6, rtol=0)
    assert prof.meta["cohort"]["digest"] == cohort.digest
    results = json.loads((data["run_dir"] / "results.json").read_text())
    assert prof.model_sha256 == results["inputs"]["model"]["sha256"]
    assert prof.meta["validated"]["sensitivity"]["lower"] == pytest.approx(
        results["outcome"]["metrics"]["sensitivity"]["lower"])


def test_profile_image_statistics_equal_the_logging_function(data):
    """Both sides of every drift test use monitoring.logs.image_statistics on the raw stored pixels."""
    from validation.imageio import read_image
    from validation.cohorts import load_cohort

    cohort = load_cohort(data["cohort_dir"])
    prof = load_reference_profile(data["run_dir"]).frame.set_index("case_id")
    for _, row in cohort.manifest.head(3).iterrows():
        img, _ = read_image(data["cohort_dir"] / row["image_path"])
        st = image_statistics(np.asarray(img, dtype=np.float32)).iloc[0]
        for col in ("img_mean", "img_noise", "img_sharpness", "img_p95"):
            assert prof.loc[row["case_id"], col] == pytest.approx(st[col], rel=1e-9)


def test_tampered_profile_is_refused(data, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(data["run_dir"], run)
    f = pd.read_parquet(run / "reference_profile.parquet")
    f.loc[0, "score"] = 0.5
    f.to_parquet(run / "reference_profile.parquet", index=False)
    with pytest.raises(IntegrityError, match="reference_profile.parquet: sha256"):
        load_reference_profile(run)


def test_profile_refuses_a_run_whose_scores_differ(data, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(data["run_dir"], run)
    p = pd.read_parquet(run / "predictions.parquet")
    p.loc[0, "score"] = p.loc[0, "score"] + 0.01
    p.to_parquet(run / "predictions.parquet", index=False)
    with pytest.raises(IntegrityError, match=f"case '{p.loc[0, 'case_id']}'"):
        build_reference_profile(run, cohort_dir=data["cohort_dir"], model_dir=data["model_dir"])


def test_missing_run_files(tmp_path):
    with pytest.raises(InputError, match="no results.json"):
        build_reference_profile(tmp_path)
    with pytest.raises(InputError, match="no reference profile"):
        load_reference_profile(tmp_path)


def test_design_effect_by_hand():
    # Two patients with two images each, y = [1, 1, 0, 0]: ybar = 0.5, cluster totals of
    # (y - ybar) = +1, -1; V_cluster = 2/(2-1) * (1 + 1) / 4^2 = 0.25; V_iid = s^2 / n =
    # (1/3) / 4 = 1/12; DE = 0.25 / (1/12) = 3.
    assert design_effect(np.array([1.0, 1, 0, 0]), np.array(["a", "a", "b", "b"])) == pytest.approx(3.0)
    # Independent images (one per patient): floored at 1.
    assert design_effect(np.array([1.0, 0, 1, 0]), np.array(["a", "b", "c", "d"])) == 1.0

"""Production logs: image statistics, capture beside inference, validated reading, label join."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _monitoring_support import classifier_dir
from monitoring.logs import (
    IMAGE_STAT_COLUMNS,
    capture,
    capture_batch,
    image_statistics,
    join_labels,
    read_logs,
)
from validation.errors import InputError


@pytest.fixture(scope="module")
def model(request):
    from validation.models import load_locked_model

    return load_locked_model(classifier_dir(request.config.cache.mkdir("medval-monitoring")))


@pytest.fixture(scope="module")
def images():
    from validation.synth import iter_cases

    cases = list(iter_cases(6, seed=5900))
    return cases


@pytest.fixture()
def logdir(model, images, tmp_path):
    d = tmp_path / "logs"
    capture_batch(
        np.stack([c.image for c in images]),
        model=model,
        case_ids=[c.record["case_id"] for c in images],
        sites=[c.record["site"] for c in images],
        manufacturers=[c.record["manufacturer"] for c in images],
        timestamps="2026-01-05T10:00:00",
        spacing=np.array([c.record["pixel_spacing_mm"] for c in images]),
        out_dir=d,
        part_name="part-000.parquet",
    )
    return d


# ---------------------------------------------------------------- image statistics

def test_noise_estimate_recovers_white_noise_sigma():
    # Derivation: on a linear ramp the 4-neighbour Laplacian is exactly 0, so the
    # residual is the Laplacian of the noise, sd = sqrt(20) * sigma; MAD * 1.4826 / sqrt(20)
    # recovers sigma (to sampling error ~1% on 254^2 pixels).
    rng = np.random.default_rng(5001)
    ramp = np.add.outer(np.arange(256.0), 2.0 * np.arange(256.0)) + 500.0
    for sigma in (5.0, 20.0):
        img = ramp + rng.normal(0.0, sigma, size=(256, 256))
        assert image_statistics(img)["img_noise"].iloc[0] == pytest.approx(sigma, rel=0.03)


def test_percentiles_and_moments_match_numpy():
    rng = np.random.default_rng(5002)
    imgs = rng.integers(0, 4096, size=(3, 32, 40)).astype(np.uint16)
    st = image_statistics(imgs, spacing=[[0.5, 0.6]] * 3)
    flat = imgs.reshape(3, -1).astype(float)
    # numpy 2.x np.percentile (linear interpolation) is the reference.
    np.testing.assert_allclose(st["img_p05"], np.percentile(flat, 5, axis=1))
    np.testing.assert_allclose(st["img_p95"], np.percentile(flat, 95, axis=1))
    np.testing.assert_allclose(st["img_mean"], flat.mean(axis=1))
    np.testing.assert_allclose(st["img_std"], flat.std(axis=1))
    assert st["img_rows"].tolist() == [32] * 3 and st["img_cols"].tolist() == [40] * 3
    assert st["spacing_col"].tolist() == [0.6] * 3
    assert list(st.columns) == list(IMAGE_STAT_COLUMNS)


def test_sharpness_is_zero_on_a_plane_and_drops_with_blur():
    from scipy import ndimage

    plane = np.add.outer(np.arange(64.0), np.arange(64.0))
    assert image_statistics(plane)["img_sharpness"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(5003)
    img = rng.normal(1000, 50, size=(64, 64))
    blurred = ndimage.gaussian_filter(img, 1.5)
    s = image_statistics(np.stack([img, blurred]))["img_sharpness"]
    assert s.iloc[1] < 0.1 * s.iloc[0]


def test_the_new_vendor_is_noisier_by_this_measure():
    from validation.synth import SHIFT_VENDOR, iter_cases

    base = np.stack([c.image for c in iter_cases(8, seed=5004, vendor_override="Aurora Medical")])
    new = np.stack([c.image for c in iter_cases(8, seed=5004, vendor_override=SHIFT_VENDOR)])
    assert image_statistics(new)["img_noise"].median() > 2 * image_statistics(base)["img_noise"].median()


@pytest.mark.parametrize("bad, msg", [(np.zeros((2, 2)), "at least 3x3"), (np.zeros(5), "shape"),
                                      (np.full((1, 4, 4), np.nan), "non-finite")])
def test_image_statistics_refuses_bad_input(bad, msg):
    with pytest.raises(InputError, match=msg):
        image_statistics(bad)


# ---------------------------------------------------------------- capture

def test_capture_batch_record_matches_the_model(model, images, logdir):
    logs = read_logs(logdir, reference_sha256=model.lock.sha256)
    assert logs.n_read == logs.n_kept == len(images) and logs.exclusions == ()
    f = logs.frame.set_index("case_id")
    direct = model.predict(np.stack([c.image for c in images]))
    ids = [c.record["case_id"] for c in images]
    np.testing.assert_allclose(f.loc[ids, "score"], direct["score"], rtol=0, atol=1e-7)
    emb = f.loc[ids, [f"emb_{k}" for k in range(direct["embedding"].shape[1])]].to_numpy()
    np.testing.assert_allclose(emb, direct["embedding"], rtol=0, atol=1e-7)
    t = model.lock.operating_threshold
    assert (f.loc[ids, "decision"].to_numpy() == (direct["score"] >= t)).all()
    assert (f["model_sha256"] == model.lock.sha256).all()
    assert str(f["timestamp"].dt.tz) == "UTC"


def test_capture_single_record(model, images, tmp_path):
    c = images[0]
    rec = capture(c.image, model=model, case_id="X1", site=c.record["site"],
                  manufacturer=c.record["manufacturer"], timestamp="2026-01-06T08:00:00+01:00",
                  acquisition={"kvp": 110}, out_dir=tmp_path)
    assert rec["case_id"] == "X1" and rec["acq_kvp"] == 110
    assert rec["timestamp"] == pd.Timestamp("2026-01-06T07:00:00Z")
    assert len(list(tmp_path.glob("*.parquet"))) == 1


def test_log_parts_are_append_only(model, images, logdir):
    with pytest.raises(InputError, match="append-only"):
        capture_batch(np.stack([images[0].image]), model=model, case_ids=["Y"], sites="s", manufacturers="m",
                      timestamps="2026-01-05", out_dir=logdir, part_name="part-000.parquet")


# ---------------------------------------------------------------- malformed logs

def _rewrite(logdir, fn):
    p = logdir / "part-000.parquet"
    fn(pd.read_parquet(p)).to_parquet(p, index=False)
    return p


def test_missing_column_names_file_and_column(logdir):
    p = _rewrite(logdir, lambda f: f.drop(columns=["img_noise"]))
    with pytest.raises(InputError, match=rf"{p.name}: missing required column\(s\) 'img_noise'"):
        read_logs(logdir)


def test_wrong_type_names_file_and_column(logdir):
    p = _rewrite(logdir, lambda f: f.assign(score=f["score"].astype(str)))
    with pytest.raises(InputError, match=rf"{p.name}: column 'score': expected float values; got dtype object"):
        read_logs(logdir)


def test_timestamp_as_text_is_refused(logdir):
    _rewrite(logdir, lambda f: f.assign(timestamp=f["timestamp"].astype(str)))
    with pytest.raises(InputError, match="column 'timestamp': expected datetime"):
        read_logs(logdir)


def test_nan_scores_are_counted_and_reported(logdir, images):
    def poison(f):
        f = f.copy()
        f.loc[f.index[:2], "score"] = np.nan
        return f

    _rewrite(logdir, poison)
    logs = read_logs(logdir)
    assert logs.n_read == len(images) and logs.n_kept == len(images) - 2 and logs.n_excluded == 2
    (ex,) = logs.exclusions
    assert (ex.file, ex.column, ex.reason, ex.n) == ("part-000.parquet", "score", "score is NaN", 2)
    with pytest.raises(InputError, match=r"part-000.parquet: column 'score': score is NaN in 2 row\(s\)"):
        read_logs(logdir, on_invalid="raise")


def test_unknown_model_sha_is_excluded_or_refused(logdir, model, images):
    def other(f):
        f = f.copy()
        f.loc[f.index[0], "model_sha256"] = "0" * 64
        return f

    _rewrite(logdir, other)
    logs = read_logs(logdir, reference_sha256=model.lock.sha256)
    assert logs.n_excluded == 1 and logs.exclusions[0].column == "model_sha256"
    assert logs.to_dict()["exclusions"][0]["example_case_ids"] == [images[0].record["case_id"]]
    with pytest.raises(InputError, match=r"column 'model_sha256': model sha256 differs from the reference .*\(got '0000"):
        read_logs(logdir, reference_sha256=model.lock.sha256, on_invalid="raise")


def test_duplicate_case_across_parts_is_excluded(logdir):
    import shutil

    shutil.copy(logdir / "part-000.parquet", logdir / "part-001.parquet")
    logs = read_logs(logdir)
    assert logs.n_excluded == logs.n_kept and logs.exclusions[0].reason == "duplicate case_id"


def test_mixed_embedding_widths_are_refused(logdir):
    f = pd.read_parquet(logdir / "part-000.parquet")
    emb = [c for c in f.columns if c.startswith("emb_")]
    f.drop(columns=[emb[-1]]).assign(case_id=f["case_id"] + "b").to_parquet(logdir / "part-001.parquet")
    with pytest.raises(InputError, match=f"part-001.parquet: {len(emb) - 1} embedding columns; earlier files have {len(emb)}"):
        read_logs(logdir)


def test_no_files_and_corrupt_file(tmp_path):
    with pytest.raises(InputError, match="no such log file"):
        read_logs(tmp_path / "nope")
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="x.parquet: not a readable parquet log file"):
        read_logs(tmp_path)


# ---------------------------------------------------------------- labels

def test_join_labels_counts(logdir, images):
    logs = read_logs(logdir)
    ids = [c.record["case_id"] for c in images]
    labels = pd.DataFrame({"case_id": ids[:3] + ["ghost"], "label": [1, 0, 1, 0]})
    j = join_labels(logs, labels)
    assert (j.n_labelled, j.n_unlabelled, j.n_unmatched_labels) == (3, len(ids) - 3, 1)
    assert j.unmatched_examples == ("ghost",)
    got = j.frame.set_index("case_id")["label"]
    assert got[ids[0]] == 1 and got[ids[1]] == 0 and pd.isna(got[ids[4]])


@pytest.mark.parametrize("labels, msg", [
    (pd.DataFrame({"case_id": ["a"], "label": [2]}), "column 'label': expected 0 or 1; got '2' for case 'a'"),
    (pd.DataFrame({"case_id": ["a", "a"], "label": [0, 1]}), "labelled more than once"),
    (pd.DataFrame({"case_id": ["a"]}), "missing required column 'label'"),
])
def test_join_labels_refuses_bad_labels(logdir, labels, msg):
    with pytest.raises(InputError, match=msg):
        join_labels(read_logs(logdir), labels)

"""run_inference: streaming batches, parquet/npy outputs, cache keyed by (model sha256, cohort digest).

Uses the committed reference models on small in-silico cohorts (seeds >= 2000).
Expected scores are the model's own ``predict`` on the images read one by one
with ``validation.imageio.read_image`` — an independent path through the code
(no batching, no reader thread, no cache).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from validation.errors import InputError
from validation.inference import Predictions, cache_key, run_inference
from validation.models import load_locked_model

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[2]
CLASSIFIER = REPO / "reference_models" / "lesion-classifier" / "1"
SEGMENTER = REPO / "reference_models" / "lesion-segmenter" / "1"


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    from validation.synth import generate_cohort

    return generate_cohort(tmp_path_factory.mktemp("cohort") / "c", n_patients=14, seed=2301,
                           cohort_id="inference-test", fmt="dicom")


@pytest.fixture(scope="module")
def classifier():
    return load_locked_model(CLASSIFIER)


@pytest.fixture(scope="module")
def segmenter():
    return load_locked_model(SEGMENTER)


def _cohort(path):
    from validation.cohorts import load_cohort

    return load_cohort(path)


def _direct(model, cohort):
    from validation.imageio import read_image

    images = np.stack([read_image(cohort.root / p)[0] for p in cohort.manifest["image_path"]])
    return model.predict(images)


def test_scores_match_direct_prediction(tmp_path, cohort_dir, classifier):
    cohort = _cohort(cohort_dir)
    preds = run_inference(classifier, cohort, cache_dir=tmp_path, batch_size=8)  # several batches + a short one
    assert isinstance(preds, Predictions) and preds.cached is False and preds.masks is None
    assert preds.path == tmp_path / cache_key(classifier.lock.sha256, cohort.digest)
    assert preds.path.name == f"{classifier.lock.sha256[:16]}-{cohort.digest[:16]}"
    assert (preds.path / "predictions.parquet").is_file()
    table = preds.table
    assert table["case_id"].tolist() == cohort.manifest["case_id"].tolist()
    k = classifier.lock.outputs[1]["shape"][1]
    assert list(table.columns) == ["case_id", "score", *[f"emb_{i}" for i in range(k)]]
    direct = _direct(classifier, cohort)
    np.testing.assert_allclose(table["score"].to_numpy(), direct["score"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(table[[f"emb_{i}" for i in range(k)]].to_numpy(), direct["embedding"],
                               rtol=1e-5, atol=1e-6)
    assert preds.to_dict()["n_cases"] == cohort.n_cases


def test_cache_hit_does_not_rescore(tmp_path, cohort_dir, classifier, monkeypatch):
    cohort = _cohort(cohort_dir)
    first = run_inference(classifier, cohort, cache_dir=tmp_path)
    assert first.cached is False

    def _boom(*a, **k):
        raise AssertionError("the model was run on a cache hit")

    monkeypatch.setattr(classifier, "run", _boom)
    second = run_inference(classifier, cohort, cache_dir=tmp_path)
    assert second.cached is True and second.path == first.path
    pd.testing.assert_frame_equal(first.table, second.table)


def test_two_cold_runs_give_identical_scores(tmp_path, cohort_dir, classifier):
    cohort = _cohort(cohort_dir)
    a = run_inference(classifier, cohort, cache_dir=tmp_path / "a")
    b = run_inference(load_locked_model(CLASSIFIER), cohort, cache_dir=tmp_path / "b")
    assert a.cached is False and b.cached is False
    assert a.table["score"].to_numpy().tobytes() == b.table["score"].to_numpy().tobytes()
    assert (a.path / "predictions.parquet").read_bytes() == (b.path / "predictions.parquet").read_bytes()


def test_different_cohort_is_a_cache_miss(tmp_path, cohort_dir, classifier):
    from validation.synth import generate_cohort

    other = _cohort(generate_cohort(tmp_path / "other", n_patients=3, seed=2302, cohort_id="other", fmt="npy"))
    a = run_inference(classifier, _cohort(cohort_dir), cache_dir=tmp_path / "cache")
    b = run_inference(classifier, other, cache_dir=tmp_path / "cache")
    assert b.cached is False and a.path != b.path
    assert len(b.table) == other.n_cases


@pytest.mark.parametrize("damage", ["flip_parquet_byte", "truncate_parquet", "delete_meta", "edit_meta_key",
                                    "delete_parquet"])
def test_corrupted_cache_is_rebuilt(tmp_path, cohort_dir, classifier, damage):
    cohort = _cohort(cohort_dir)
    good = run_inference(classifier, cohort, cache_dir=tmp_path)
    parquet = good.path / "predictions.parquet"
    meta = good.path / "cache.json"
    if damage == "flip_parquet_byte":
        data = bytearray(parquet.read_bytes())
        data[len(data) // 2] ^= 0xFF
        parquet.write_bytes(bytes(data))
    elif damage == "truncate_parquet":
        parquet.write_bytes(parquet.read_bytes()[:100])
    elif damage == "delete_meta":
        meta.unlink()
    elif damage == "edit_meta_key":
        meta.write_text(meta.read_text().replace(cohort.digest, "0" * 64))
    elif damage == "delete_parquet":
        parquet.unlink()
    rebuilt = run_inference(classifier, cohort, cache_dir=tmp_path)
    assert rebuilt.cached is False
    pd.testing.assert_frame_equal(rebuilt.table, good.table)
    again = run_inference(classifier, cohort, cache_dir=tmp_path)
    assert again.cached is True
    # nothing partial or rejected left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == [good.path.name]


def test_edited_score_in_cache_is_not_trusted(tmp_path, cohort_dir, classifier):
    """Rewriting the parquet with a changed score (a valid file) fails its sha256 and is rebuilt."""
    cohort = _cohort(cohort_dir)
    good = run_inference(classifier, cohort, cache_dir=tmp_path)
    edited = good.table.copy()
    edited.loc[0, "score"] = 0.999
    edited.to_parquet(good.path / "predictions.parquet", index=False)
    rebuilt = run_inference(classifier, cohort, cache_dir=tmp_path)
    assert rebuilt.cached is False
    assert rebuilt.table.loc[0, "score"] == good.table.loc[0, "score"]


def test_segmenter_writes_memmapped_probability_maps(tmp_path, cohort_dir, segmenter):
    cohort = _cohort(cohort_dir)
    preds = run_inference(segmenter, cohort, cache_dir=tmp_path, batch_size=5)
    assert isinstance(preds.masks, np.memmap)
    assert preds.masks.shape == (cohort.n_cases, 128, 128) and preds.masks.dtype == np.float32
    direct = _direct(segmenter, cohort)["probability"]
    np.testing.assert_allclose(np.asarray(preds.masks), direct, rtol=1e-5, atol=1e-6)
    # table score = the image's peak probability
    np.testing.assert_allclose(preds.table["score"].to_numpy(), direct.reshape(len(direct), -1).max(axis=1),
                               rtol=1e-6)
    hit = run_inference(segmenter, cohort, cache_dir=tmp_path)
    assert hit.cached is True and isinstance(hit.masks, np.memmap)
    # damage the maps -> rebuilt
    del hit, preds
    path = tmp_path / cache_key(segmenter.lock.sha256, cohort.digest) / "masks.npy"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    again = run_inference(segmenter, cohort, cache_dir=tmp_path)
    assert again.cached is False
    np.testing.assert_allclose(np.asarray(again.masks), direct, rtol=1e-5, atol=1e-6)


def test_reader_error_propagates_and_leaves_no_cache(tmp_path, classifier):
    from validation.synth import generate_cohort

    cohort = _cohort(generate_cohort(tmp_path / "c", n_patients=4, seed=2303, cohort_id="broken", fmt="npy"))
    # Damage an image *after* the cohort was verified and loaded: the reader thread fails.
    victim = cohort.root / cohort.manifest["image_path"].iloc[-1]
    victim.write_bytes(b"garbage")
    cache = tmp_path / "cache"
    with pytest.raises(Exception) as exc:
        run_inference(classifier, cohort, cache_dir=cache, batch_size=2)
    assert victim.name in str(exc.value)
    assert list(cache.iterdir()) == []  # no entry, no partial directory


def test_bad_arguments(tmp_path, cohort_dir, classifier):
    cohort = _cohort(cohort_dir)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="'batch_size'"):
            run_inference(classifier, cohort, cache_dir=tmp_path, batch_size=bad)


def test_paths_are_accepted(tmp_path, cohort_dir):
    preds = run_inference(CLASSIFIER, cohort_dir, cache_dir=tmp_path)
    assert preds.cached is False and len(preds.table) == _cohort(cohort_dir).n_cases

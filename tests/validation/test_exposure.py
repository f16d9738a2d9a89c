"""Test-set exposure: every scoring of a cohort counts, by digest, with a warning past the limit.

Run entries are written with the payload keys the runner uses
(validation/runner.py: cohort_id, cohort_version, cohort_digest, model_id,
model_version, model_sha256, mode). Expected counts are the number of
entries appended in each test.
"""

from __future__ import annotations

import pytest

from validation.audit import AuditStore
from validation.exposure import exposure

DIGEST = "d" * 64
OTHER = "e" * 64


def _run(store, *, digest=DIGEST, model="lesion-classifier", version=1, sha="a" * 64, mode="regulatory",
         cohort_id="demo-test", cohort_version=1):
    return store.append("run", {
        "run_id": f"run-{len(store) + 1}", "mode": mode, "protocol_id": "lesion-classification",
        "model_id": model, "model_version": version, "model_sha256": sha,
        "cohort_id": cohort_id, "cohort_version": cohort_version, "cohort_digest": digest,
        "verdict": "PASS"}, actor="qa")


@pytest.fixture()
def store(tmp_path) -> AuditStore:
    return AuditStore(tmp_path / "audit.sqlite")


def test_unscored_cohort_has_zero_exposure(store):
    e = exposure(store, DIGEST, limit=5)
    assert (e.count, e.by_models, e.warning, e.first_run_at) == (0, (), None, None)


def test_counts_every_run_of_the_digest_by_model_and_mode(store):
    _run(store, version=1, sha="a" * 64)
    _run(store, version=1, sha="a" * 64, mode="exploratory")
    _run(store, version=2, sha="b" * 64)
    _run(store, model="lesion-segmenter", sha="c" * 64)
    _run(store, digest=OTHER)                                    # another cohort: not counted
    store.append("protocol.lock", {"cohort_digest": DIGEST}, actor="qa")  # not a run: not counted
    e = exposure(store, DIGEST, limit=5)
    assert e.count == 4
    assert [(m["model_id"], m["version"], m["sha256"][0], m["runs"]) for m in e.by_models] == [
        ("lesion-classifier", 1, "a", 2), ("lesion-classifier", 2, "b", 1), ("lesion-segmenter", 1, "c", 1)]
    assert e.by_mode == {"regulatory": 3, "exploratory": 1}
    assert e.cohort_ids == ("demo-test v1",)
    assert e.warning is None and not e.exceeded
    assert exposure(store, OTHER).count == 1
    d = e.to_dict()
    assert d["count"] == 4 and d["limit"] == 5 and len(d["by_models"]) == 3


def test_warning_fires_only_past_the_limit(store):
    for _ in range(3):
        _run(store)
    at_limit = exposure(store, DIGEST, limit=3)
    assert at_limit.count == 3 and at_limit.warning is None
    _run(store)
    past = exposure(store, DIGEST, limit=3)
    assert past.count == 4 and past.exceeded
    assert "demo-test v1" in past.warning and "scored 4 times" in past.warning
    assert "exposure limit of 3" in past.warning
    assert exposure(store, DIGEST).warning is None  # no limit given: counted, never warned


def test_filter_by_cohort_id_and_version(store):
    _run(store, cohort_id="demo-test", cohort_version=1)
    _run(store, cohort_id="renamed-copy", cohort_version=3)   # same bytes registered under another name
    assert exposure(store, DIGEST).count == 2                   # exposure follows content
    assert exposure(store, DIGEST, cohort_id="demo-test").count == 1
    assert exposure(store, DIGEST, cohort_id="renamed-copy", cohort_version=3).count == 1


def test_counts_across_store_instances_and_processes(store):
    _run(store)
    again = AuditStore(store.path)
    _run(again)
    assert exposure(AuditStore(store.path), DIGEST).count == 2


@pytest.mark.parametrize(("kw", "match"), [
    ({"cohort_digest": ""}, "'cohort_digest' must be a non-empty string"),
    ({"limit": 0}, "'limit' must be a positive integer or None; got 0"),
    ({"limit": True}, "'limit' must be a positive integer or None; got True"),
])
def test_bad_arguments(store, kw, match):
    args = {"cohort_digest": DIGEST} | kw
    with pytest.raises(ValueError, match=match):
        exposure(store, args.pop("cohort_digest"), **args)

"""The training recipes: one training step on tiny data exports a valid, lockable ONNX model.

The recipes run in a subprocess (they switch torch to deterministic algorithms
and fix its thread count, which must not leak into other tests). Each takes a
few seconds: a handful of in-silico patients, one optimiser step, export twice
(the export must be byte-identical), threshold on the tiny tuning split, lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from reference_models.recipes import common
from validation.models import load_locked_model

REPO = Path(__file__).resolve().parents[2]


def _run_recipe(module: str, out: Path, *extra: str) -> dict:
    env = dict(os.environ, ORT_DISABLE_TELEMETRY="1", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", module, "--out", str(out), "--epochs", "1", "--max-steps", "1", "--threads", "1",
         *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout[proc.stdout.rindex("{"):])


@pytest.mark.parametrize(
    "module, model_id, task, outputs",
    [
        ("reference_models.recipes.train_classifier", "lesion-classifier", "binary-classification",
         {"score": ["batch"], "embedding": ["batch", 46]}),
        ("reference_models.recipes.train_segmenter", "lesion-segmenter", "segmentation",
         {"probability": ["batch", 128, 128]}),
    ],
    ids=["classifier", "segmenter"],
)
def test_one_step_exports_a_valid_locked_onnx(tmp_path, module, model_id, task, outputs):
    out = tmp_path / model_id / "1"
    summary = _run_recipe(module, out, "--n-train-patients", "4", "--n-tune-patients", "16")
    assert summary["model_id"] == model_id and summary["version"] == 1
    onnx_path = out / "model.onnx"
    proto = onnx.load(str(onnx_path))
    onnx.checker.check_model(proto, full_check=True)
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {common.OPSET}
    assert len(proto.graph.input) == 1 and proto.graph.input[0].name == "image"
    model = load_locked_model(out)
    assert model.lock.sha256 == hashlib.sha256(onnx_path.read_bytes()).hexdigest() == summary["sha256"]
    assert model.lock.task == task
    assert {o["name"]: o["shape"] for o in model.lock.outputs} == outputs
    t = model.lock.training
    assert t["steps"] == 1 and t["export"]["byte_deterministic"] is True
    assert all(v < common.MAX_TRAINING_SEED for k, v in t["seeds"].items() if k != "torch")
    assert (out / "MODEL_CARD.md").read_text().startswith(f"# Model card: {model_id} v1")
    # dynamic batch axis: batches of 1 and 3 both run
    imgs = np.full((3, 128, 128), 1000, np.uint16)
    for n in (1, 3):
        res = model.predict(imgs[:n])
        for name, shape in outputs.items():
            assert res[name].shape == (n, *shape[1:])


@pytest.mark.slow
def test_training_is_reproducible(tmp_path):
    """Two runs of the recipe (2 optimiser steps) give byte-identical ONNX files."""
    shas = [
        _run_recipe("reference_models.recipes.train_classifier", tmp_path / f"run{i}" / "1", "--max-steps", "2",
                    "--n-train-patients", "6", "--n-tune-patients", "16")["sha256"]
        for i in range(2)
    ]
    assert shas[0] == shas[1]


# ------------------------------------------------------------------ recipe helpers


def test_choose_threshold_derivation():
    # 10 positives with scores 0.1..1.0; target 0.90 -> k = floor(0.1*10) = 1 -> t = 2nd smallest = 0.2:
    # 9 of 10 positives have score >= 0.2 (sensitivity 0.90).
    pos = np.linspace(0.1, 1.0, 10)
    scores = np.concatenate([pos, [0.05, 0.5]])
    labels = np.array([1] * 10 + [0, 0])
    t = common.choose_threshold(scores, labels, target_sensitivity=0.90)
    assert t == pytest.approx(0.2)
    assert (pos >= t).mean() >= 0.90
    # rounding is downwards: 0.123456 -> 0.1234
    assert common.choose_threshold(np.array([0.123456, 0.9, 0.0]), np.array([1, 1, 0]),
                                   target_sensitivity=1.0) == 0.1234
    with pytest.raises(ValueError, match="positive and negative"):
        common.choose_threshold(np.array([0.1, 0.2]), np.array([1, 1]))


def test_auc_matches_scikit_learn():
    from sklearn.metrics import roc_auc_score  # scikit-learn, roc_auc_score(y_true, y_score)

    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounded: many ties
    assert common.auc_mann_whitney(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_dice_summary_hand_example():
    from reference_models.recipes.train_segmenter import dice_summary

    truth = np.zeros((2, 4, 4), np.uint8)
    truth[0, :2, :2] = 1  # 4 pixels
    prob = np.zeros((2, 4, 4), np.float32)
    prob[0, :2, :1] = 0.9  # 2 predicted pixels, both inside: Dice = 2*2/(2+4) = 0.6667
    s = dice_summary(prob, truth, 0.5)
    assert s["n_with_lesion"] == 1 and s["dice_mean"] == pytest.approx(0.6667)
    assert s["n_without_lesion"] == 1 and s["empty_prediction_rate_without_lesion"] == 1.0


def test_training_seeds_are_refused_in_the_test_range():
    with pytest.raises(ValueError, match=r"'seed' must be in \[0, 1000\)"):
        common.load_cases(2, seed=2000, id_prefix="TRN")

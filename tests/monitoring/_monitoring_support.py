"""Shared helpers for the monitoring tests: a locked classifier and a validated reference run.

The classifier is ``reference_models/lesion-classifier/1`` when it exists.
Until then (and as a fallback) the tests build a small real ONNX classifier:
a fixed filter bank (difference-of-Gaussians blob detectors at lesion scales,
a Laplacian, local contrast) pooled into an 8-d embedding, with a logistic
head fitted by scikit-learn on in-silico training cases (seeds < 1000, as for
the reference models), exported with ``torch.onnx.export(dynamo=False,
opset_version=18)`` and locked with ``validation.models.lock_model``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from filelock import FileLock

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[2]
REFERENCE_MODEL = REPO / "reference_models" / "lesion-classifier" / "1"

INTENSITY_SCALE = 1.0 / 4095.0


def reference_model_dir() -> Path | None:
    """The shipped locked classifier when it has landed and verifies, else None."""
    if not (REFERENCE_MODEL / "model.lock.json").is_file():
        return None
    try:
        from validation.models import load_locked_model

        load_locked_model(REFERENCE_MODEL)
    except Exception:
        return None
    return REFERENCE_MODEL


def _gauss(sigma: float, size: int = 25) -> np.ndarray:
    r = np.arange(size) - size // 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def build_fixture_classifier(out_dir: Path, *, n_patients: int = 220, seed: int = 11) -> Path:
    """Train (fit a logistic head) and lock a small ONNX classifier in ``out_dir``."""
    import torch
    from sklearn.linear_model import LogisticRegression

    from validation.models import lock_model
    from validation.synth import iter_cases

    cases = list(iter_cases(n_patients, seed=seed, id_prefix="T"))
    images = np.stack([c.image for c in cases]).astype(np.float32)
    labels = np.array([c.record["label"] for c in cases])
    mean = float((images * INTENSITY_SCALE).mean())
    std = float((images * INTENSITY_SCALE).std())

    kernels = np.stack(
        [
            _gauss(1.5) - _gauss(3.0),
            _gauss(3.0) - _gauss(6.0),
            _gauss(0.8) - _gauss(1.6),
            np.pad(np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64), 11),
        ]
    ).astype(np.float32)

    class Features(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bank = torch.nn.Conv2d(1, 4, 25, padding=12, bias=False)
            self.bank.weight.data = torch.from_numpy(kernels[:, None])

        def forward(self, x):
            r = self.bank(x)
            mx = torch.amax(r[:, :3], dim=(2, 3))
            mn = torch.amax(-r[:, :3], dim=(2, 3))
            rough = torch.mean(torch.abs(r[:, 3:4]), dim=(2, 3))
            level = torch.mean(x, dim=(2, 3))
            return torch.cat([mx, mn, rough, level], dim=1)  # (B, 8)

    feats = Features().eval()
    with torch.no_grad():
        x = torch.from_numpy((images * INTENSITY_SCALE - mean) / std)[:, None]
        f = feats(x).numpy()
    mu, sd = f.mean(axis=0), f.std(axis=0) + 1e-6
    clf = LogisticRegression(C=1.0, max_iter=2000).fit((f - mu) / sd, labels)

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = feats
            self.register_buffer("mu", torch.from_numpy(mu.astype(np.float32)))
            self.register_buffer("sd", torch.from_numpy(sd.astype(np.float32)))
            self.head = torch.nn.Linear(8, 1)
            self.head.weight.data = torch.from_numpy(clf.coef_.astype(np.float32))
            self.head.bias.data = torch.from_numpy(clf.intercept_.astype(np.float32))

        def forward(self, x):
            emb = (self.features(x) - self.mu) / self.sd
            return torch.sigmoid(self.head(emb))[:, 0], emb

    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "model.onnx"
    model = Classifier().eval()
    torch.onnx.export(
        model,
        (torch.zeros(2, 1, 128, 128),),
        str(onnx_path),
        input_names=["image"],
        output_names=["score", "embedding"],
        dynamic_axes={"image": {0: "batch"}, "score": {0: "batch"}, "embedding": {0: "batch"}},
        dynamo=False,
        opset_version=18,
    )
    with torch.no_grad():
        train_scores = model(x)[0].numpy()
    # Threshold at 90% training sensitivity (the operating-point rule of the reference recipe).
    pos = np.sort(train_scores[labels == 1])
    threshold = float(pos[int(np.floor(0.10 * len(pos)))])
    lock_model(
        onnx_path,
        model_id="lesion-classifier",
        version=1,
        task="binary-classification",
        threshold=threshold,
        preprocessing={"intensity_scale": INTENSITY_SCALE, "mean": mean, "std": std, "image_size": [128, 128]},
        intended_use="Test fixture: flags radiographs with suspected nodules (in-silico only).",
        training={"recipe": "tests/monitoring/_monitoring_support.py", "seeds": [seed], "n_cases": len(cases)},
    )
    (out_dir / "MODEL_CARD.md").write_text("# Test-fixture lesion classifier\n")
    return out_dir


def classifier_dir(tmp_root: Path) -> Path:
    """The shipped reference classifier if present, else the fixture classifier (built once)."""
    ref = reference_model_dir()
    if ref is not None:
        return ref
    target = tmp_root / "fixture-classifier"
    if not (target / "model.lock.json").is_file():
        build_fixture_classifier(target)
    return target


def make_reference_run(root: Path, model_dir: Path, *, n_patients: int = 300, seed: int = 2026) -> tuple[Path, Path]:
    """A validation run directory for ``model_dir`` on an in-silico cohort, with its reference profile.

    Uses ``validation.runner.run_validation`` (exploratory mode, no report)
    when the runner can run; otherwise writes the parts of a run directory the
    profile reads: ``predictions.parquet`` from ``validation.inference.run_inference``
    and ``results.json`` with the inputs and Wilson intervals of sensitivity and
    specificity from ``validation.stats.proportion_ci``. Returns (run_dir, cohort_dir).
    """
    import pandas as pd

    from monitoring.profile import build_reference_profile
    from validation.cohorts import load_cohort
    from validation.fileio import atomic_write_json
    from validation.inference import run_inference
    from validation.models import load_locked_model
    from validation.synth import generate_cohort

    cohort_dir = root / "cohort"
    if not (cohort_dir / "cohort.yaml").is_file():
        generate_cohort(cohort_dir, n_patients=n_patients, seed=seed, cohort_id="monitor-reference", fmt="npy")
    run_dir = root / "run"
    if not (run_dir / "results.json").is_file():
        try:
            from validation.runner import run_validation

            run_validation(
                REPO / "protocols" / "lesion-classification.v1.yaml",
                out_dir=run_dir,
                model_dir=model_dir,
                cohort_dir=cohort_dir,
                exploratory=True,
                audit_db=root / "audit.sqlite",
                cache_dir=root / "cache",
                report=False,
            )
        except ImportError:
            from validation.stats import proportion_ci

            model = load_locked_model(model_dir)
            cohort = load_cohort(cohort_dir)
            preds = run_inference(model, cohort, cache_dir=root / "cache").table
            cases = cohort.manifest.merge(preds[["case_id", "score"]], on="case_id")
            t = model.lock.operating_threshold
            y, d = cases["label"].to_numpy(), cases["score"].to_numpy() >= t
            tp, fn = int((d & (y == 1)).sum()), int((~d & (y == 1)).sum())
            tn, fp = int((~d & (y == 0)).sum()), int((d & (y == 0)).sum())
            metrics = {
                "sensitivity": proportion_ci(tp, tp + fn, method="wilson").to_dict(),
                "specificity": proportion_ci(tn, tn + fp, method="wilson").to_dict(),
            }
            run_dir.mkdir(parents=True, exist_ok=True)
            cases.to_parquet(run_dir / "predictions.parquet", index=False)
            atomic_write_json(
                run_dir / "results.json",
                {
                    "schema_version": "1.0",
                    "inputs": {
                        "model": {"id": model.lock.model_id, "version": model.lock.version,
                                  "sha256": model.lock.sha256, "threshold": t},
                        "cohort": {"id": cohort.meta["id"], "version": cohort.meta["version"],
                                   "digest": cohort.digest, "n_cases": int(len(cases))},
                    },
                    "outcome": {"metrics": metrics},
                    "context": {"run_id": "fixture-run"},
                },
            )
    if not (run_dir / "reference_profile.json").is_file():
        build_reference_profile(run_dir, cohort_dir=cohort_dir, model_dir=model_dir)
    return run_dir, cohort_dir


# --------------------------------------------------------------------------- cached test data

TEST_PATIENTS_PER_WEEK = 150  # as the demo: ~250 images a week (the plan tests windows of at least 100)
TEST_WEEKS = 8
SHIFT_WEEK = 5
PLAN = REPO / "protocols" / "monitoring-lesion-classifier.v1.yaml"


def _key(*paths: Path, extra: str = "") -> str:
    from validation.hashing import sha256_bytes, sha256_file

    parts = [sha256_file(p) for p in paths] + [extra]
    return sha256_bytes("|".join(parts).encode())[:16]


def monitoring_data(cache_root: Path) -> dict:
    """Model, reference run and the shifted demo stream, built once and cached by content.

    The cache key covers the model bytes and the generator/logging/stream code,
    so a change to any of them rebuilds the data.
    """
    import validation.synth as synth_mod

    import monitoring.logs as logs_mod
    import monitoring.profile as profile_mod
    import monitoring.stream as stream_mod

    cache_root.mkdir(parents=True, exist_ok=True)
    model_dir = classifier_dir(cache_root)
    key = _key(
        model_dir / "model.onnx",
        Path(synth_mod.__file__),
        Path(logs_mod.__file__),
        Path(profile_mod.__file__),
        Path(stream_mod.__file__),
        extra=f"{TEST_PATIENTS_PER_WEEK}-{TEST_WEEKS}-{SHIFT_WEEK}",
    )
    root = cache_root / key
    root.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers share this cache: one builds, the others wait and then reuse it.
    with FileLock(str(cache_root / f"{key}.lock")):
        return _build_monitoring_data(root, model_dir)


def _build_monitoring_data(root: Path, model_dir: Path) -> dict:
    run_dir, cohort_dir = make_reference_run(root, model_dir)
    stream_dir = root / "stream"
    if not (stream_dir / "stream.json").is_file():
        from monitoring.stream import generate_stream

        shutil.rmtree(stream_dir, ignore_errors=True)
        generate_stream(
            stream_dir,
            model=model_dir,
            weeks=TEST_WEEKS,
            patients_per_week=TEST_PATIENTS_PER_WEEK,
            shift_from_week=SHIFT_WEEK,
            seed=5000,
        )
    return {
        "model_dir": model_dir,
        "run_dir": run_dir,
        "cohort_dir": cohort_dir,
        "stream_dir": stream_dir,
        "logs_dir": stream_dir / "logs",
        "labels": stream_dir / "labels.csv",
        "root": root,
    }


def control_logs_dir(data: dict) -> Path:
    """The control stream: the same traffic without the new scanner.

    ``generate_stream(shift_from_week=None)`` produces exactly the shifted
    stream's base traffic (same seed, same patients; the new scanner's patients
    come from seed + 1) — ``test_stream.py`` checks this on two weeks — so the
    control logs are the shifted logs without the new vendor's rows, re-written
    as part files.
    """
    out = data["root"] / "control-logs"
    with FileLock(str(data["root"] / "control-logs.lock")):
        return _write_control_logs(data, out)


def _write_control_logs(data: dict, out: Path) -> Path:
    import pandas as pd

    from validation.synth import SHIFT_VENDOR

    if not out.is_dir():
        tmp = data["root"] / "control-logs.tmp"
        shutil.rmtree(tmp, ignore_errors=True)  # a run killed half-way leaves a partial copy
        tmp.mkdir(parents=True)
        for part in sorted(data["logs_dir"].glob("*.parquet")):
            frame = pd.read_parquet(part)
            frame = frame[frame["manufacturer"] != SHIFT_VENDOR]
            if len(frame):
                frame.to_parquet(tmp / part.name, index=False)
        tmp.rename(out)
    return out

"""Recipe: the ``lesion-classifier`` reference model (small MONAI DenseNet, score + embedding).

Usage::

    python -m reference_models.recipes.train_classifier --out reference_models/lesion-classifier/1

Trains on in-silico cases (generator seed 11, ids ``TRN…``), chooses the locked
operating threshold on a held-out tuning split (seed 12, ids ``TUN…``) as the
largest threshold with sensitivity >= 0.90 there, exports ONNX (opset 18,
dynamic batch, byte-deterministic), and writes ``model.lock.json`` and
``MODEL_CARD.md``. Test cohorts use seeds >= 2000 and are never touched here.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from reference_models.recipes import common

MODEL_ID = "lesion-classifier"
TRAIN_SEED, TUNE_SEED, TORCH_SEED = 11, 12, 20240611
TRAIN_PREFIX, TUNE_PREFIX = "TRN", "TUN"
ARCH = {
    "spatial_dims": 2,
    "in_channels": 1,
    "out_channels": 1,
    "init_features": 16,
    "growth_rate": 8,
    "block_config": (3, 3, 3),
    "bn_size": 4,
}
# A full-resolution 5x5 conv stem before DenseNet's stride-2 conv0 + max-pool, so that
# faint lesions a few pixels wide are filtered before the first downsampling.
STEM_CHANNELS = 8
INTENDED_USE = (
    "Reference model for medval's validation and monitoring demos and tests: flags 128x128 "
    "radiograph-like in-silico images that contain at least one lesion. Not a medical device; "
    "not for clinical use or for real patient images."
)


def build_module():
    """MONAI DenseNet wrapped to return (sigmoid score (B,), pooled embedding (B,K)).

    A full-resolution stem (5×5 conv, 8 channels, batch norm, ReLU) precedes
    DenseNet's stride-2 7×7 conv and max-pool, which otherwise see a faint
    lesion of radius 2–3 px only after a 4× reduction.

    The head pools with a global *max* instead of MONAI's global average: a
    lesion covers a few cells of the final 8×8 feature map, and averaging over
    all 64 cells dilutes its signal into the background's (the first version
    with average pooling reached a tuning AUC of only 0.88).
    """
    import torch
    from monai.networks.nets import DenseNet

    class ClassifierWithEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = torch.nn.Sequential(
                torch.nn.Conv2d(1, STEM_CHANNELS, 5, padding=2, bias=False),
                torch.nn.BatchNorm2d(STEM_CHANNELS),
                torch.nn.ReLU(inplace=True),
            )
            self.net = DenseNet(**{**ARCH, "in_channels": STEM_CHANNELS})

        def embed(self, x):
            feats = self.net.features(self.stem(x))
            return torch.amax(self.net.class_layers.relu(feats), dim=(2, 3))

        def forward(self, x):
            emb = self.embed(x)
            logit = self.net.class_layers.out(emb)
            return torch.sigmoid(logit).reshape(-1), emb

        def logits(self, x):
            return self.net.class_layers.out(self.embed(x)).reshape(-1)

    return ClassifierWithEmbedding()


def train(
    out_dir: str | Path,
    *,
    n_train_patients: int = 1200,
    n_tune_patients: int = 300,
    epochs: int = 16,
    batch_size: int = 32,
    lr: float = 2e-3,
    max_steps: int | None = None,
    threads: int = 1,
    target_sensitivity: float = 0.90,
    verbose: bool = True,
) -> dict:
    """Train, export, choose the threshold on the tuning split, lock and write the model card.

    Returns the lock as a dict.
    """
    import monai
    import torch

    from validation.models import lock_model

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    say = print if verbose else (lambda *a, **k: None)
    common.set_determinism(TORCH_SEED, threads=threads)

    train_set = common.load_cases(n_train_patients, seed=TRAIN_SEED, id_prefix=TRAIN_PREFIX)
    tune_set = common.load_cases(n_tune_patients, seed=TUNE_SEED, id_prefix=TUNE_PREFIX)
    say(f"data: train {train_set.to_dict()}\n      tune  {tune_set.to_dict()}  ({time.perf_counter() - t0:.1f}s)")
    mean, std = common.normalisation(train_set.images)
    x_all = torch.from_numpy(common.preprocess(train_set.images, mean, std))
    y_all = torch.from_numpy(train_set.labels.astype(np.float32))

    module = build_module()
    opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=1e-4)
    n = len(y_all)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total, 1), pct_start=0.15)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(TORCH_SEED)
    step = 0
    epochs_run = 0
    for epoch in range(epochs):
        module.train()
        perm = torch.randperm(n, generator=gen)
        running = 0.0
        for b in range(steps_per_epoch):
            if step >= total:
                break
            idx = perm[b * batch_size : (b + 1) * batch_size]
            xb, yb = x_all[idx], y_all[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5  # left-right flips only
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(module.logits(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item() * len(idx)
            step += 1
        epochs_run += 1
        say(f"epoch {epoch + 1}/{epochs}: loss {running / n:.4f}  step {step}  ({time.perf_counter() - t0:.0f}s)")
        if step >= total:
            break

    module.eval()
    onnx_path = out_dir / "model.onnx"
    example = torch.from_numpy(common.preprocess(train_set.images[:2], mean, std))
    sha = common.export_onnx(module, onnx_path, example=example, output_names=["score", "embedding"])
    say(f"exported {onnx_path} sha256 {sha}")

    # Threshold and tuning performance from the exported artifact itself (onnxruntime).
    tune_out = common.onnx_outputs(onnx_path, tune_set.images, mean, std)
    threshold = common.choose_threshold(tune_out["score"], tune_set.labels, target_sensitivity=target_sensitivity)
    tuning = common.binary_summary(tune_out["score"], tune_set.labels, threshold)
    train_out = common.onnx_outputs(onnx_path, train_set.images, mean, std)
    training_perf = common.binary_summary(train_out["score"], train_set.labels, threshold)
    say(f"threshold {threshold}: tuning {tuning}\n  training {training_perf}")

    recipe_files = [Path(__file__), Path(common.__file__)]
    training = {
        "recipe": "python -m reference_models.recipes.train_classifier",
        "recipe_files": {common.relpath(p): common.file_sha256(p) for p in recipe_files},
        "generator": "validation.synth.iter_cases",
        "generator_sha256": common.file_sha256(common.REPO_ROOT / "validation" / "synth.py"),
        "seeds": {"train": TRAIN_SEED, "tune": TUNE_SEED, "torch": TORCH_SEED},
        "n_cases": {"train": int(len(train_set.labels)), "tune": int(len(tune_set.labels))},
        "n_patients": {"train": n_train_patients, "tune": n_tune_patients},
        "splits": {"train": train_set.to_dict(), "tune": tune_set.to_dict()},
        "case_id_prefixes": [TRAIN_PREFIX, TUNE_PREFIX],
        "patient_id_prefixes": [TRAIN_PREFIX, TUNE_PREFIX],
        "data_digest": common.combined_digest(train_set, tune_set),
        "epochs": epochs_run,
        "steps": step,
        "batch_size": batch_size,
        "optimizer": {"name": "AdamW", "lr_max": lr, "weight_decay": 1e-4, "schedule": "OneCycleLR pct_start=0.15"},
        "loss": "BCEWithLogitsLoss (unweighted)",
        "augmentation": "random left-right flip (p=0.5)",
        "architecture": {"monai": "DenseNet", "head_pooling": "global max", "stem_channels": STEM_CHANNELS,
                         "stem": "Conv2d(1, stem_channels, 5, padding=2) + BatchNorm2d + ReLU", **{k: list(v) if isinstance(v, tuple) else v for k, v in ARCH.items()}},
        "threshold_rule": f"largest threshold with sensitivity >= {target_sensitivity} on the tuning split "
        "(onnxruntime scores of the exported file), rounded down to 4 decimals",
        "tuning_performance": tuning,
        "training_performance": training_perf,
        "export": {"exporter": "torch.onnx.export(dynamo=False)", "opset": common.OPSET, "byte_deterministic": True},
        "monai_version": monai.__version__,
        "torch_version": torch.__version__,
        "environment": common.environment(),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    lock = lock_model(
        onnx_path,
        model_id=MODEL_ID,
        version=int(out_dir.name) if out_dir.name.isdigit() else 1,
        task="binary-classification",
        threshold=threshold,
        preprocessing={
            "intensity_scale": common.INTENSITY_SCALE,
            "mean": mean,
            "std": std,
            "image_size": [128, 128],
            "spacing_mm": None,
            "resampling": "none: images are used on their native 128x128 grid",
            "windowing": "none: full 12-bit range (0..4095)",
            "formula": "x = (raw * intensity_scale - mean) / std, shape (B,1,H,W) float32",
        },
        intended_use=INTENDED_USE,
        training=training,
    )
    write_model_card(out_dir, lock.to_dict())
    say(f"locked {out_dir} in {time.perf_counter() - t0:.0f}s")
    return lock.to_dict()


def write_model_card(out_dir: Path, lock: dict) -> Path:
    from validation.fileio import atomic_write_text

    t = lock["training"]
    tp = t["tuning_performance"]
    emb = next(o for o in lock["outputs"] if o["name"] == "embedding")
    text = f"""# Model card: {lock['model_id']} v{lock['version']}

| | |
|---|---|
| Task | {lock['task']} (image-level: at least one lesion present) |
| File | `{lock['file']}` — sha256 `{lock['sha256']}` |
| Format | ONNX opset {lock['opset']}, IR {lock['onnx_ir_version']}, producer {lock['producer']} |
| Input | `{lock['inputs'][0]['name']}` {lock['inputs'][0]['shape']} float32 |
| Outputs | `score` {next(o for o in lock['outputs'] if o['name'] == 'score')['shape']} sigmoid probability; `embedding` {emb['shape']} penultimate pooled features (for drift monitoring) |
| Locked operating threshold | **{lock['operating_threshold']}** (positive if `score >= threshold`) |
| Locked at | {lock['locked_at']} |

## Intended use

{lock['intended_use']}

Out of scope: any real radiograph, any image size other than 128×128, any other
bit depth than 12-bit (0..4095), clinical decision making.

## Architecture

A full-resolution stem (5×5 conv → {t['architecture']['stem_channels']} channels, batch norm, ReLU) feeding
MONAI `DenseNet` (2D, {t['architecture']['stem_channels']} input channels, init_features {t['architecture']['init_features']},
growth_rate {t['architecture']['growth_rate']}, block_config {t['architecture']['block_config']},
bn_size {t['architecture']['bn_size']}), wrapped so that the graph returns the sigmoid
of the single logit as `score` and the globally *max*-pooled features before the
linear layer as `embedding` (K = {emb['shape'][1]}). Max pooling replaces MONAI's
global average pooling: a small lesion covers a few cells of the final 8×8 map,
and averaging dilutes its signal.

Preprocessing (locked): `x = (raw × {lock['preprocessing']['intensity_scale']:.10g} − {lock['preprocessing']['mean']}) / {lock['preprocessing']['std']}`,
native 128×128 grid, no resampling, no windowing.

## Training data

In-silico radiograph-like images from medval's generator (`validation.synth.iter_cases`,
generator file sha256 `{t['generator_sha256'][:16]}…`), several sites and vendors.

| split | generator seed | patients | images | positive images | id prefix | data digest |
|---|---|---|---|---|---|---|
| train | {t['splits']['train']['seed']} | {t['splits']['train']['n_patients']} | {t['splits']['train']['n_cases']} | {t['splits']['train']['n_positive']} | `{t['splits']['train']['id_prefix']}` | `{t['splits']['train']['data_digest'][:16]}…` |
| tune | {t['splits']['tune']['seed']} | {t['splits']['tune']['n_patients']} | {t['splits']['tune']['n_cases']} | {t['splits']['tune']['n_positive']} | `{t['splits']['tune']['id_prefix']}` | `{t['splits']['tune']['data_digest'][:16]}…` |

Training and tuning seeds are below 1000; test and demo cohorts use seeds ≥ 2000,
so the image streams never overlap, and their ids never start with
{', '.join('`' + p + '`' for p in t['case_id_prefixes'])}.

Training: {t['epochs']} epochs ({t['steps']} steps), batch {t['batch_size']}, AdamW (max lr
{t['optimizer']['lr_max']}, one-cycle), {t['loss']}, augmentation: {t['augmentation']};
torch {t['torch_version']}, MONAI {t['monai_version']}, deterministic algorithms,
{t['environment']['torch_threads']} CPU threads, torch seed {t['seeds']['torch']}.

## Operating threshold

{t['threshold_rule']}. Chosen on the tuning split only — never on test data.

## Performance on the tuning split (not a validation result)

| n | TP | FN | TN | FP | sensitivity | specificity | AUC |
|---|---|---|---|---|---|---|---|
| {tp['n']} | {tp['tp']} | {tp['fn']} | {tp['tn']} | {tp['fp']} | {tp['sensitivity']} | {tp['specificity']} | {tp['auc']} |

These numbers were used to set the threshold and are therefore optimistic.
The performance claim comes only from a medval validation run on a sequestered
test cohort under a locked protocol.

## Limitations

- Trained and tuned on simulated images only; the simulation has no real
  anatomy, pathology mimics, devices or positioning errors.
- Small lesions with low contrast (radius ≈ 2 px, contrast ≈ 0.04) are often missed.
- Performance varies by vendor (noise, blur, resolution); check subgroup results.
- Scores are approximately, not formally, calibrated.
- The embedding is for drift monitoring only; it has no clinical meaning.

## Ethical considerations

No patient data were used. Because the model is a reference for testing a
validation tool, it must not be deployed. Sex and age are simulated attributes;
subgroup differences in this model reflect the generator, not any population.
"""
    return atomic_write_text(Path(out_dir) / "MODEL_CARD.md", text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reference_models.recipes.train_classifier", description=__doc__)
    p.add_argument("--out", required=True, type=Path, help="model directory, e.g. reference_models/lesion-classifier/1")
    p.add_argument("--n-train-patients", type=int, default=1200)
    p.add_argument("--n-tune-patients", type=int, default=300)
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: reproducible weights, and no OpenMP spinning on a shared machine)")
    args = p.parse_args(argv)
    lock = train(
        args.out,
        n_train_patients=args.n_train_patients,
        n_tune_patients=args.n_tune_patients,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        max_steps=args.max_steps,
        threads=args.threads,
    )
    print(json.dumps({k: lock[k] for k in ("model_id", "version", "sha256", "operating_threshold")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

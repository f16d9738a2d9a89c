"""Recipe: the ``lesion-segmenter`` reference model (small MONAI UNet, per-pixel probability).

Usage::

    python -m reference_models.recipes.train_segmenter --out reference_models/lesion-segmenter/1

Trains on 64×64 crops of in-silico cases (generator seed 21, ids ``TRS…``;
crops are biased towards lesions), the network being fully convolutional so
the exported graph runs on whole 128×128 images. The locked threshold is 0.5
on the probability map (the convention in docs/contracts.md for masks and
detection marks); the tuning split (seed 22, ids ``TUS…``) reports Dice.
Test cohorts use seeds >= 2000 and are never touched here.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from reference_models.recipes import common

MODEL_ID = "lesion-segmenter"
TRAIN_SEED, TUNE_SEED, TORCH_SEED = 21, 22, 20240612
TRAIN_PREFIX, TUNE_PREFIX = "TRS", "TUS"
THRESHOLD = 0.5
CROP = 64
LESION_CROP_P = 0.5  # 0.75 in a first run gave many false-positive blobs (tuning Dice 0.54)
ARCH = {
    "spatial_dims": 2,
    "in_channels": 1,
    "out_channels": 1,
    "channels": (8, 16, 32, 64),
    "strides": (2, 2, 2),
    "num_res_units": 1,
    "norm": "batch",
}
INTENDED_USE = (
    "Reference model for medval's segmentation and detection validation demos and tests: "
    "per-pixel lesion probability on 128x128 radiograph-like in-silico images. Not a medical "
    "device; not for clinical use or for real patient images."
)


def build_module():
    """MONAI UNet wrapped to return the sigmoid probability map (B,H,W)."""
    import torch
    from monai.networks.nets import UNet

    class Segmenter(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = UNet(**ARCH)

        def forward(self, x):
            return torch.sigmoid(self.net(x))[:, 0]

        def logits(self, x):
            return self.net(x)

    return Segmenter()


def _crops(images: np.ndarray, masks: np.ndarray, rng: np.random.Generator, size: int):
    """One crop per image: centred near a lesion pixel for LESION_CROP_P of positive images, else uniform."""
    n, h, w = images.shape
    xs = np.empty((n, size, size), images.dtype)
    ys = np.empty((n, size, size), masks.dtype)
    for i in range(n):
        fg = np.flatnonzero(masks[i])
        if fg.size and rng.random() < LESION_CROP_P:
            r, c = divmod(int(fg[rng.integers(fg.size)]), w)
            r0 = int(np.clip(r - size // 2 + rng.integers(-size // 4, size // 4 + 1), 0, h - size))
            c0 = int(np.clip(c - size // 2 + rng.integers(-size // 4, size // 4 + 1), 0, w - size))
        else:
            r0, c0 = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        xs[i] = images[i, r0 : r0 + size, c0 : c0 + size]
        ys[i] = masks[i, r0 : r0 + size, c0 : c0 + size]
    return xs, ys


def dice_summary(prob: np.ndarray, masks: np.ndarray, threshold: float) -> dict:
    """Per-image Dice = 2|P∩T| / (|P|+|T|) at ``threshold`` (images with a lesion only).

    Images without a lesion are summarised apart: the fraction with an empty
    predicted mask (both empty has no defined Dice).
    """
    pred = prob >= threshold
    truth = masks.astype(bool)
    has = truth.reshape(len(truth), -1).any(axis=1)
    inter = (pred & truth).reshape(len(truth), -1).sum(axis=1)
    denom = pred.reshape(len(truth), -1).sum(axis=1) + truth.reshape(len(truth), -1).sum(axis=1)
    dice = 2 * inter[has] / denom[has]
    empty_ok = ~pred[~has].reshape(int((~has).sum()), -1).any(axis=1)
    return {
        "threshold": threshold,
        "n_with_lesion": int(has.sum()),
        "dice_mean": round(float(dice.mean()), 4) if dice.size else None,
        "dice_median": round(float(np.median(dice)), 4) if dice.size else None,
        "n_without_lesion": int((~has).sum()),
        "empty_prediction_rate_without_lesion": round(float(empty_ok.mean()), 4) if empty_ok.size else None,
    }


def train(
    out_dir: str | Path,
    *,
    n_train_patients: int = 1000,
    n_tune_patients: int = 200,
    epochs: int = 48,
    batch_size: int = 32,
    lr: float = 3e-3,
    max_steps: int | None = None,
    threads: int = 1,
    verbose: bool = True,
) -> dict:
    """Train, export, measure Dice on the tuning split, lock and write the model card."""
    import monai
    import torch
    from monai.losses import DiceCELoss

    from validation.models import lock_model

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    say = print if verbose else (lambda *a, **k: None)
    common.set_determinism(TORCH_SEED, threads=threads)
    train_set = common.load_cases(n_train_patients, seed=TRAIN_SEED, id_prefix=TRAIN_PREFIX)
    tune_set = common.load_cases(n_tune_patients, seed=TUNE_SEED, id_prefix=TUNE_PREFIX)
    say(f"data: train {train_set.to_dict()}\n      tune  {tune_set.to_dict()}  ({time.perf_counter() - t0:.1f}s)")
    mean, std = common.normalisation(train_set.images)

    module = build_module()
    opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=1e-4)
    n = len(train_set.labels)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total, 1), pct_start=0.15)
    loss_fn = DiceCELoss(sigmoid=True, smooth_nr=1e-5, smooth_dr=1e-5, batch=True)
    rng = np.random.default_rng(TORCH_SEED)
    step = 0
    epochs_run = 0
    for epoch in range(epochs):
        module.train()
        xs, ys = _crops(train_set.images, train_set.masks, rng, CROP)
        flip = rng.random(n) < 0.5
        xs[flip] = xs[flip, :, ::-1]
        ys[flip] = ys[flip, :, ::-1]
        x_all = torch.from_numpy(common.preprocess(xs, mean, std))
        y_all = torch.from_numpy(ys[:, None].astype(np.float32))
        perm = rng.permutation(n)
        running = 0.0
        for b in range(steps_per_epoch):
            if step >= total:
                break
            idx = torch.from_numpy(perm[b * batch_size : (b + 1) * batch_size])
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(module.logits(x_all[idx]), y_all[idx])
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
    sha = common.export_onnx(module, onnx_path, example=example, output_names=["probability"])
    say(f"exported {onnx_path} sha256 {sha}")
    tune_prob = common.onnx_outputs(onnx_path, tune_set.images, mean, std)["probability"]
    tuning = dice_summary(tune_prob, tune_set.masks, THRESHOLD)
    say(f"tuning {tuning}")

    recipe_files = [Path(__file__), Path(common.__file__)]
    training = {
        "recipe": "python -m reference_models.recipes.train_segmenter",
        "recipe_files": {common.relpath(p): common.file_sha256(p) for p in recipe_files},
        "generator": "validation.synth.iter_cases",
        "generator_sha256": common.file_sha256(common.REPO_ROOT / "validation" / "synth.py"),
        "seeds": {"train": TRAIN_SEED, "tune": TUNE_SEED, "torch": TORCH_SEED},
        "n_cases": {"train": int(n), "tune": int(len(tune_set.labels))},
        "n_patients": {"train": n_train_patients, "tune": n_tune_patients},
        "splits": {"train": train_set.to_dict(), "tune": tune_set.to_dict()},
        "case_id_prefixes": [TRAIN_PREFIX, TUNE_PREFIX],
        "patient_id_prefixes": [TRAIN_PREFIX, TUNE_PREFIX],
        "data_digest": common.combined_digest(train_set, tune_set),
        "epochs": epochs_run,
        "steps": step,
        "batch_size": batch_size,
        "crop": f"{CROP}x{CROP}, centred near a lesion pixel for {LESION_CROP_P:.0%} of positive images, else uniform",
        "optimizer": {"name": "AdamW", "lr_max": lr, "weight_decay": 1e-4, "schedule": "OneCycleLR pct_start=0.15"},
        "loss": "monai.losses.DiceCELoss(sigmoid=True, batch=True)",
        "augmentation": "random crop, random left-right flip (p=0.5)",
        "architecture": {"monai": "UNet", **{k: list(v) if isinstance(v, tuple) else v for k, v in ARCH.items()}},
        "threshold_rule": "fixed 0.5 on the probability map (docs/contracts.md convention)",
        "tuning_performance": tuning,
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
        task="segmentation",
        threshold=THRESHOLD,
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
    a = t["architecture"]
    text = f"""# Model card: {lock['model_id']} v{lock['version']}

| | |
|---|---|
| Task | {lock['task']} (per-pixel lesion probability; detection marks derived from it) |
| File | `{lock['file']}` — sha256 `{lock['sha256']}` |
| Format | ONNX opset {lock['opset']}, IR {lock['onnx_ir_version']}, producer {lock['producer']} |
| Input | `{lock['inputs'][0]['name']}` {lock['inputs'][0]['shape']} float32 |
| Output | `probability` {lock['outputs'][0]['shape']} per-pixel sigmoid probability |
| Locked operating threshold | **{lock['operating_threshold']}** on the probability map |
| Locked at | {lock['locked_at']} |

## Intended use

{lock['intended_use']}

Detection marks (docs/contracts.md): connected components of `probability > 0.5`,
mark = the component's peak position, mark score = peak probability.
Out of scope: real radiographs, other image sizes or bit depths, clinical use.

## Architecture

MONAI `UNet` (2D, channels {a['channels']}, strides {a['strides']},
num_res_units {a['num_res_units']}, {a['norm']} normalisation), one output channel, sigmoid applied
inside the graph. Fully convolutional: trained on {CROP}×{CROP} crops, run on whole images.

Preprocessing (locked): `x = (raw × {lock['preprocessing']['intensity_scale']:.10g} − {lock['preprocessing']['mean']}) / {lock['preprocessing']['std']}`,
native 128×128 grid, no resampling, no windowing.

## Training data

In-silico radiograph-like images with exact lesion masks from medval's generator
(`validation.synth.iter_cases`, generator file sha256 `{t['generator_sha256'][:16]}…`).

| split | generator seed | patients | images | images with lesion | id prefix | data digest |
|---|---|---|---|---|---|---|
| train | {t['splits']['train']['seed']} | {t['splits']['train']['n_patients']} | {t['splits']['train']['n_cases']} | {t['splits']['train']['n_positive']} | `{t['splits']['train']['id_prefix']}` | `{t['splits']['train']['data_digest'][:16]}…` |
| tune | {t['splits']['tune']['seed']} | {t['splits']['tune']['n_patients']} | {t['splits']['tune']['n_cases']} | {t['splits']['tune']['n_positive']} | `{t['splits']['tune']['id_prefix']}` | `{t['splits']['tune']['data_digest'][:16]}…` |

Seeds below 1000; test and demo cohorts use seeds ≥ 2000, and their ids never
start with {', '.join('`' + p + '`' for p in t['case_id_prefixes'])}.

Training: {t['epochs']} epochs ({t['steps']} steps), batch {t['batch_size']}, crops: {t['crop']};
AdamW (max lr {t['optimizer']['lr_max']}, one-cycle), {t['loss']}; torch {t['torch_version']},
MONAI {t['monai_version']}, deterministic algorithms, {t['environment']['torch_threads']} CPU threads,
torch seed {t['seeds']['torch']}.

## Performance on the tuning split (not a validation result)

| images with lesion | mean Dice | median Dice | images without lesion | empty prediction rate |
|---|---|---|---|---|
| {tp['n_with_lesion']} | {tp['dice_mean']} | {tp['dice_median']} | {tp['n_without_lesion']} | {tp['empty_prediction_rate_without_lesion']} |

Dice per image with at least one lesion, at threshold {tp['threshold']}; images
without a lesion have no defined Dice and are reported as the rate of empty predictions.

## Limitations

- Simulated images only; lesions are projected spheres, so the model has never
  seen irregular, spiculated or calcified lesions, or pathology mimics.
- Very small (radius ≈ 2 px) or low-contrast lesions are often missed or under-segmented.
- Boundaries are blurred by the vendor's resolution and blur; Dice falls for
  small lesions because one boundary pixel is a large fraction of their area.

## Ethical considerations

No patient data were used. A reference for testing a validation tool; it must
not be deployed.
"""
    return atomic_write_text(Path(out_dir) / "MODEL_CARD.md", text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reference_models.recipes.train_segmenter", description=__doc__)
    p.add_argument("--out", required=True, type=Path, help="model directory, e.g. reference_models/lesion-segmenter/1")
    p.add_argument("--n-train-patients", type=int, default=1000)
    p.add_argument("--n-tune-patients", type=int, default=200)
    p.add_argument("--epochs", type=int, default=48)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
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

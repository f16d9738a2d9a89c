"""Shared pieces of the reference-model recipes: data, determinism, export, threshold.

Training data come from the in-silico generator (:mod:`validation.synth`) with
seeds below 1000 and their own case/patient-id prefixes, so they are disjoint
from every test or demo cohort (seeds >= 2000) and a data-quality gate can
check independence by id prefix. torch is imported here and in the recipes
only — never in ``validation/`` or ``monitoring/``.
"""

from __future__ import annotations

import hashlib
import os
import platform
import random
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402

MAX_TRAINING_SEED = 1000  # training/tuning seeds must be below this; tests use >= 2000
INTENSITY_SCALE = 1.0 / 4095.0  # 12-bit detector values -> [0, 1]
OPSET = 18
INPUT_NAME = "image"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CaseArrays:
    """A training or tuning split held in memory (small: a few thousand 128×128 images)."""

    images: np.ndarray  # (N,H,W) uint16 raw
    masks: np.ndarray  # (N,H,W) uint8
    labels: np.ndarray  # (N,) int64
    case_ids: list[str]
    patient_ids: list[str]
    n_patients: int
    seed: int
    id_prefix: str
    digest: str  # sha256 over (case_id, label, image bytes, mask bytes) in order

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "n_patients": self.n_patients,
            "n_cases": int(len(self.labels)),
            "n_positive": int(self.labels.sum()),
            "id_prefix": self.id_prefix,
            "first_case_id": self.case_ids[0] if self.case_ids else None,
            "data_digest": self.digest,
        }


def load_cases(n_patients: int, *, seed: int, id_prefix: str, image_size: int = 128) -> CaseArrays:
    """Generate a split with :func:`validation.synth.iter_cases` and hash it.

    Raises
    ------
    ValueError
        If ``seed`` is not below :data:`MAX_TRAINING_SEED` (training data must
        never overlap the test seeds).
    """
    from validation.synth import iter_cases

    if not 0 <= seed < MAX_TRAINING_SEED:
        raise ValueError(f"'seed' must be in [0, {MAX_TRAINING_SEED}) for training data; got {seed}")
    if n_patients < 1:
        raise ValueError(f"'n_patients' must be >= 1; got {n_patients}")
    h = hashlib.sha256()
    images, masks, labels, case_ids, patient_ids = [], [], [], [], []
    for case in iter_cases(n_patients, seed=seed, image_size=image_size, id_prefix=id_prefix):
        rec = case.record
        img = np.ascontiguousarray(case.image, dtype=np.uint16)
        msk = np.ascontiguousarray(case.mask, dtype=np.uint8)
        h.update(f"{rec['case_id']}|{int(rec['label'])}|".encode())
        h.update(img.tobytes())
        h.update(msk.tobytes())
        images.append(img)
        masks.append(msk)
        labels.append(int(rec["label"]))
        case_ids.append(str(rec["case_id"]))
        patient_ids.append(str(rec["patient_id"]))
    return CaseArrays(
        images=np.stack(images),
        masks=np.stack(masks),
        labels=np.asarray(labels, dtype=np.int64),
        case_ids=case_ids,
        patient_ids=patient_ids,
        n_patients=n_patients,
        seed=seed,
        id_prefix=id_prefix,
        digest=h.hexdigest(),
    )


def combined_digest(*splits: CaseArrays) -> str:
    """sha256 over the splits' digests in order: the training-data digest recorded in the lock."""
    return hashlib.sha256("|".join(s.digest for s in splits).encode()).hexdigest()


def set_determinism(seed: int, *, threads: int = 1) -> None:
    """Seed every generator and ask torch for deterministic kernels on ``threads`` CPU threads."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


def normalisation(images: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the scaled training pixels (rounded to 6 decimals)."""
    x = images.astype(np.float64) * INTENSITY_SCALE
    return round(float(x.mean()), 6), round(float(x.std()), 6)


def preprocess(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """The locked preprocessing, identical to :meth:`validation.models.LockedModel.preprocess`."""
    x = images.astype(np.float32, copy=True)
    x *= np.float32(INTENSITY_SCALE)
    x -= np.float32(mean)
    x /= np.float32(std)
    return x[:, None, :, :]


def export_onnx(module, path: Path, *, example, output_names: list[str]) -> str:
    """Export ``module`` to a single ONNX file (opset 18, TorchScript exporter, dynamic batch).

    Exports twice and refuses to write if the two byte streams differ, so the
    locked sha256 is reproducible from the recipe.

    Returns
    -------
    str
        sha256 of the written file.
    """
    import torch

    module.eval()
    dynamic_axes = {INPUT_NAME: {0: "batch"}, **{name: {0: "batch"} for name in output_names}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shas, files = [], []
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as tmp:
        for i in range(2):
            f = Path(tmp) / f"model{i}.onnx"
            with torch.no_grad():
                torch.onnx.export(
                    module,
                    (example,),
                    str(f),
                    dynamo=False,
                    opset_version=OPSET,
                    input_names=[INPUT_NAME],
                    output_names=output_names,
                    dynamic_axes=dynamic_axes,
                    do_constant_folding=True,
                    export_params=True,
                )
            shas.append(hashlib.sha256(f.read_bytes()).hexdigest())
            files.append(f)
        if shas[0] != shas[1]:
            raise RuntimeError(f"{path}: ONNX export is not byte-deterministic ({shas[0]} != {shas[1]})")
        os.replace(files[0], path)
    return shas[0]


def onnx_outputs(model_path: Path, images: np.ndarray, mean: float, std: float, *, batch_size: int = 64) -> dict:
    """Run the exported file through onnxruntime with medval's pinned session options."""
    import onnxruntime as ort

    from validation.models import SessionOptions

    opts = SessionOptions()
    sess = ort.InferenceSession(str(model_path), sess_options=opts.build(), providers=[opts.provider])
    names = [o.name for o in sess.get_outputs()]
    chunks: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for start in range(0, len(images), batch_size):
        x = preprocess(images[start : start + batch_size], mean, std)
        for name, out in zip(names, sess.run(names, {INPUT_NAME: x})):
            chunks[name].append(out)
    return {n: np.concatenate(v) for n, v in chunks.items()}


def auc_mann_whitney(scores: np.ndarray, labels: np.ndarray) -> float:
    """Empirical AUC = P(score_pos > score_neg) + 0.5 P(tie) (Mann–Whitney U / (n_pos n_neg)).

    References
    ----------
    .. [1] Hanley JA, McNeil BJ. The meaning and use of the area under a receiver
       operating characteristic (ROC) curve. Radiology 1982;143:29-36.
       doi:10.1148/radiology.143.1.7063747
    """
    from scipy.stats import rankdata

    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def choose_threshold(scores: np.ndarray, labels: np.ndarray, *, target_sensitivity: float = 0.90) -> float:
    """The largest threshold whose sensitivity (score >= t) on this split is >= the target.

    With positives' scores sorted ascending, ``t = s_(k)`` for
    ``k = floor((1 - target) * n_pos)`` (0-based) keeps ``n_pos - k`` positives
    at or above ``t``, i.e. sensitivity ``>= target``. It is rounded *down* to
    4 decimals so that the recorded number keeps that property.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    pos = np.sort(scores[labels])
    if pos.size == 0 or (~labels).sum() == 0:
        raise ValueError(
            f"the tuning split needs positive and negative cases to choose a threshold; "
            f"got {pos.size} positive and {int((~labels).sum())} negative"
        )
    k = int(np.floor((1.0 - target_sensitivity) * pos.size + 1e-9))  # 1e-9: (1-0.9)*10 is 0.0999…
    return float(np.floor(pos[k] * 1e4) / 1e4)


def binary_summary(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    labels = np.asarray(labels).astype(bool)
    pred = np.asarray(scores) >= threshold
    tp, fn = int((pred & labels).sum()), int((~pred & labels).sum())
    tn, fp = int((~pred & ~labels).sum()), int((pred & ~labels).sum())
    return {
        "threshold": threshold,
        "n": int(labels.size),
        "tp": tp,
        "fn": fn,
        "tn": tn,
        "fp": fp,
        "sensitivity": round(tp / (tp + fn), 4) if tp + fn else None,
        "specificity": round(tn / (tn + fp), 4) if tn + fp else None,
        "auc": round(auc_mann_whitney(scores, labels), 4),
    }


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def environment() -> dict:
    import monai
    import torch

    return {
        "torch_version": torch.__version__,
        "monai_version": monai.__version__,
        "numpy_version": np.__version__,
        "python_version": sys.version.split()[0],
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
    }


def relpath(path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return Path(path).as_posix()

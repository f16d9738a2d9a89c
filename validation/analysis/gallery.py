"""Error-analysis thumbnails: the cases a clinician should look at first.

False negatives are the positives with the lowest scores (the missed lesions
that were furthest from being caught), false positives the negatives with the
highest scores. Thumbnails are small PNGs with the reference lesion outline
(green) and, for segmentation, the predicted outline (magenta).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from validation.fileio import atomic_write_bytes

THUMB_SIZE = 160


def select_errors(cases: pd.DataFrame, *, threshold: float, limit: int = 12) -> dict[str, pd.DataFrame]:
    """The ``limit`` worst false negatives and false positives at ``threshold``.

    Ties are broken by case id so that the selection is deterministic.
    """
    pos = cases[(cases["label"] == 1) & (cases["score"] < threshold)]
    neg = cases[(cases["label"] == 0) & (cases["score"] >= threshold)]
    fn = pos.sort_values(["score", "case_id"], ascending=[True, True]).head(limit)
    fp = neg.sort_values(["score", "case_id"], ascending=[False, True]).head(limit)
    return {"false_negatives": fn, "false_positives": fp}


def _outline(mask: np.ndarray) -> np.ndarray:
    mask = mask > 0
    return mask & ~ndimage.binary_erosion(mask)


def thumbnail_png(image: np.ndarray, *, true_mask=None, pred_mask=None, size: int = THUMB_SIZE) -> bytes:
    """A windowed 8-bit RGB thumbnail with outlines, as PNG bytes (deterministic)."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 3:  # a volume: show its middle slice
        img = img[img.shape[0] // 2]
    lo, hi = np.percentile(img, [1, 99])
    grey = np.clip((img - lo) / max(hi - lo, 1e-9), 0, 1)
    rgb = np.repeat((grey * 255).astype(np.uint8)[..., None], 3, axis=2)
    if true_mask is not None:
        rgb[_outline(np.asarray(true_mask))] = (40, 220, 60)
    if pred_mask is not None:
        rgb[_outline(np.asarray(pred_mask))] = (230, 40, 200)
    thumb = Image.fromarray(rgb).resize((size, size), Image.NEAREST)
    buf = io.BytesIO()
    thumb.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def write_gallery(selection: dict[str, pd.DataFrame], *, load_case, out_dir: Path, rel_dir="gallery") -> dict:
    """Write thumbnails for the selected cases; return the results.json section.

    ``load_case(case_id) -> (image, true_mask | None, pred_mask | None)``.
    """
    section = {}
    for kind, frame in selection.items():
        entries = []
        for rank, row in enumerate(frame.itertuples(index=False), start=1):
            image, true_mask, pred_mask = load_case(row.case_id)
            name = f"{rel_dir}/{kind}_{rank:02d}.png"
            atomic_write_bytes(out_dir / name, thumbnail_png(image, true_mask=true_mask, pred_mask=pred_mask))
            entries.append({"case_id": row.case_id, "score": float(row.score), "label": int(row.label),
                            "thumbnail": name})
        section[kind] = entries
    return section

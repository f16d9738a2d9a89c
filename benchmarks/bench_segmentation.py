"""Segmentation surface metrics beside MONAI and MedPy, and FROC with bootstrap, in one run.

medval computes Dice, IoU, Hausdorff, HD95, ASSD and surface Dice from one pair
of distance transforms; the peers need one call per distance metric. Same
anisotropic 3-D masks for all three. Run: ``python benchmarks/bench_segmentation.py``.
"""

from __future__ import annotations

import os
import time
import warnings

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
warnings.simplefilter("ignore")

import numpy as np  # noqa: E402


def _ellipsoid(shape, centre, radii):
    grid = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1


def _best(fn, repeats=3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    import torch
    from medpy.metric import binary as medpy_binary
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

    from validation.stats.detection import froc
    from validation.stats.segmentation import segmentation_metrics

    shape, spacing = (64, 128, 128), (2.5, 0.8, 0.8)
    a = _ellipsoid(shape, (30, 60, 64), (12, 30, 25))
    b = _ellipsoid(shape, (32, 63, 60), (11, 28, 27))
    ta, tb = (torch.tensor(m[None, None]).float() for m in (a, b))

    t_medval = _best(lambda: segmentation_metrics(a, b, spacing=spacing, tolerance_mm=2.0))
    t_monai = _best(lambda: (
        compute_hausdorff_distance(ta, tb, include_background=True, percentile=95, spacing=spacing),
        compute_hausdorff_distance(ta, tb, include_background=True, spacing=spacing),
        compute_average_surface_distance(ta, tb, include_background=True, symmetric=True, spacing=spacing)))
    t_medpy = _best(lambda: (medpy_binary.hd95(a, b, voxelspacing=spacing), medpy_binary.hd(a, b, voxelspacing=spacing),
                             medpy_binary.assd(a, b, voxelspacing=spacing)))
    print(f"[1] 3-D masks {shape}, spacing {spacing} mm: HD, HD95, ASSD")
    print(f"    medval segmentation_metrics (all six metrics) : {t_medval * 1e3:8.1f} ms")
    print(f"    MONAI  three calls                           : {t_monai * 1e3:8.1f} ms   ratio {t_monai / t_medval:5.1f}x")
    print(f"    MedPy  three calls                           : {t_medpy * 1e3:8.1f} ms   ratio {t_medpy / t_medval:5.1f}x")

    rng = np.random.default_rng(0)
    marks, lesions = {}, {}
    for i in range(2000):
        k = rng.integers(0, 8)
        marks[i] = (rng.uniform(0, 512, (k, 2)), rng.random(k))
        m = rng.integers(0, 3)
        lesions[i] = (rng.uniform(0, 512, (m, 2)), rng.uniform(5, 20, m))
    t = _best(lambda: froc(marks, lesions, 2000, n_resamples=1000), repeats=1)
    n_marks = sum(len(v[1]) for v in marks.values())
    print(f"[2] FROC + CPM with 1,000 image-level bootstrap resamples, 2,000 images, {n_marks} marks: {t:.2f} s")


if __name__ == "__main__":
    main()

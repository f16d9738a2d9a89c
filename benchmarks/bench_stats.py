"""Benchmark medval's statistics beside the peers they replace, in one run.

    python benchmarks/bench_stats.py

Prints, for each task, the best-of-k wall time of medval and of the peer, the
ratio, and (for the bootstrap) the peak traced memory. Ratios are what to read:
the machine is shared and absolute times are noisy.

1. DeLong AUC *with* its CI on 1,000,000 cases vs scikit-learn's
   ``roc_auc_score`` (point estimate only). Goal: medval < 1.5x sklearn.
2. BCa bootstrap of sensitivity, n = 10,000, 2,000 resamples vs
   ``scipy.stats.bootstrap(..., method="BCa", paired=True, vectorized=True)``.
   Goal: >= 10x faster, peak memory < 500 MB.
3. Wilson intervals for 10,000 (x, n) pairs vs statsmodels
   ``proportion_confint(method="wilson")`` (both vectorised).
"""

from __future__ import annotations

import gc
import time
import tracemalloc

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from validation.stats import bootstrap, proportion_ci_array, roc_auc


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_mb(fn) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def sens(y, p, axis=-1):
    return (y & p).sum(axis=axis) / y.sum(axis=axis)


def main() -> None:
    rng = np.random.default_rng(20260101)
    print("medval statistics benchmark (best of k runs; ratio = medval / peer time)")
    print("-" * 78)

    # 1. DeLong AUC on 1e6 cases
    n = 1_000_000
    y = rng.random(n) < 0.3
    s = rng.normal(y * 1.0, 1.0).astype(np.float64)
    t_sk, auc_sk = best_of(lambda: roc_auc_score(y, s), 5)
    t_mv, res = best_of(lambda: roc_auc(y, s), 5)
    print(f"[1] AUC, n = {n:,}")
    print(f"    scikit-learn roc_auc_score (estimate only) : {t_sk * 1e3:8.1f} ms  AUC = {auc_sk:.6f}")
    print(f"    medval roc_auc (DeLong, with 95% CI)        : {t_mv * 1e3:8.1f} ms  AUC = {res.estimate:.6f} "
          f"[{res.lower:.6f}, {res.upper:.6f}]")
    print(f"    ratio medval/sklearn = {t_mv / t_sk:.2f}x   (goal < 1.5x)  |diff AUC| = {abs(res.estimate - auc_sk):.1e}")

    # 2. BCa bootstrap of sensitivity
    n = 10_000
    y = rng.random(n) < 0.3
    p = np.where(y, rng.random(n) < 0.85, rng.random(n) < 0.1)

    def run_scipy():
        return stats.bootstrap((y, p), sens, paired=True, vectorized=True, n_resamples=2000, method="BCa",
                               rng=np.random.default_rng(0))

    def run_medval():
        return bootstrap(sens, y, p, n_resamples=2000, method="bca", seed=0)

    t_sp, r_sp = best_of(run_scipy, 1)
    t_bs, r_bs = best_of(run_medval, 3)
    m_sp = peak_mb(run_scipy)
    m_bs = peak_mb(run_medval)
    print(f"[2] BCa bootstrap of sensitivity, n = {n:,}, 2,000 resamples")
    print(f"    scipy.stats.bootstrap : {t_sp:7.3f} s  peak {m_sp:7.1f} MB  CI = "
          f"[{r_sp.confidence_interval.low:.4f}, {r_sp.confidence_interval.high:.4f}]")
    print(f"    medval bootstrap      : {t_bs:7.3f} s  peak {m_bs:7.1f} MB  CI = [{r_bs.lower:.4f}, {r_bs.upper:.4f}]")
    print(f"    speed-up scipy/medval = {t_sp / t_bs:.1f}x  (goal >= 10x); medval peak {m_bs:.1f} MB (goal < 500 MB)")

    # 3. Wilson over 10,000 count pairs
    k = 10_000
    nn = rng.integers(1, 1000, k)
    xx = rng.binomial(nn, rng.random(k))
    t_sm, (lo_sm, hi_sm) = best_of(lambda: proportion_confint(xx, nn, method="wilson"), 20)
    t_wi, r_wi = best_of(lambda: proportion_ci_array(xx, nn, method="wilson"), 20)
    print(f"[3] Wilson intervals, {k:,} (x, n) pairs")
    print(f"    statsmodels proportion_confint : {t_sm * 1e3:7.2f} ms")
    print(f"    medval proportion_ci_array     : {t_wi * 1e3:7.2f} ms  max |diff| = "
          f"{max(np.abs(r_wi.lower - lo_sm).max(), np.abs(r_wi.upper - hi_sm).max()):.1e}")
    print(f"    ratio medval/statsmodels = {t_wi / t_sm:.2f}x")


if __name__ == "__main__":
    main()

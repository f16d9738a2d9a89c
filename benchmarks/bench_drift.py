"""Benchmark: medval's drift_table beside evidently 0.7's DataDriftPreset on the same frames.

100,000 reference rows against 1,000,000 production rows, 20 numeric and 3
categorical columns (the size of evidently issue #6's complaint: ~56 s and
~2 GB peak). Each contender runs in its own subprocess, which builds the
identical frames from the same seed, then times only the drift computation and
reports its own peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``)
and the resident memory it had before the computation started (frames built,
libraries imported), so that the increment is visible too.

Contenders:
- ``evidently``: ``Report([DataDriftPreset()])`` with evidently's automatic
  method choice (reference > 1000 rows: normed Wasserstein for numeric columns,
  Jensen–Shannon for categorical columns).
- ``medval-same``: ``drift_table(method="wasserstein", categorical_method="jensenshannon")``,
  the same statistics, so the per-column values can be compared one to one.
- ``medval-ks``: medval's default ``drift_table`` (KS + chi-square, BH across
  features, effect sizes).

Run::

    python benchmarks/bench_drift.py                # full size
    python benchmarks/bench_drift.py --quick        # 10k x 100k smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")  # evidently telemetry off
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

N_NUMERIC = 20
CATEGORIES = {"site": ["S1", "S2", "S3", "S4", "S5"],
              "manufacturer": ["Acme", "Borealis", "Cobalt", "Zephyr Diagnostics"],
              "sex": ["F", "M"]}


def make_frames(n_ref: int, n_cur: int, seed: int):
    """Identical frames in every process: numeric columns built one at a time (float64)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    names = [f"f{i:02d}" for i in range(N_NUMERIC)]
    # One float64 block per frame, filled column by column: no consolidation copy.
    ref_block = np.empty((n_ref, N_NUMERIC))
    cur_block = np.empty((n_cur, N_NUMERIC))
    for i in range(N_NUMERIC):
        # a mix: normal, skewed, heavy-tailed; every fourth column drifts a little
        kind = i % 3
        shift = 0.15 if i % 4 == 0 else 0.0
        if kind == 0:
            ref_block[:, i] = rng.normal(0.0, 1.0, n_ref)
            cur_block[:, i] = rng.normal(shift, 1.0, n_cur)
        elif kind == 1:
            ref_block[:, i] = rng.gamma(2.0, 1.0, n_ref)
            cur_block[:, i] = rng.gamma(2.0, 1.0 + shift, n_cur)
        else:
            ref_block[:, i] = rng.standard_t(5, n_ref)
            cur_block[:, i] = rng.standard_t(5, n_cur) + shift
    ref = pd.DataFrame(ref_block, columns=names, copy=False)
    cur = pd.DataFrame(cur_block, columns=names, copy=False)
    for name, levels in CATEGORIES.items():
        k = len(levels)
        p_ref = np.full(k, 1.0 / k)
        p_cur = p_ref.copy()
        if name == "manufacturer":  # the new vendor takes over part of the stream
            p_ref = np.array([0.4, 0.35, 0.25, 0.0])
            p_cur = np.array([0.3, 0.3, 0.2, 0.2])
        ref[name] = pd.Categorical.from_codes(rng.choice(k, n_ref, p=p_ref).astype(np.int8), categories=levels)
        cur[name] = pd.Categorical.from_codes(rng.choice(k, n_cur, p=p_cur).astype(np.int8), categories=levels)
    return ref, cur


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def child(which: str, n_ref: int, n_cur: int, seed: int) -> dict:
    numeric = [f"f{i:02d}" for i in range(N_NUMERIC)]
    categorical = list(CATEGORIES)
    if which == "evidently":
        import evidently.presets  # noqa: F401  (imported before timing, as medval's modules are)

        from monitoring.evidently_report import run_evidently_snapshot
    else:
        from monitoring.drift import drift_table
    ref, cur = make_frames(n_ref, n_cur, seed)
    before = _rss_mb()
    t0 = time.perf_counter()
    if which == "evidently":
        snap = run_evidently_snapshot(ref, cur, numeric=numeric, categorical=categorical)
        d = snap.dict()
        wall = time.perf_counter() - t0
        values = {m["config"]["column"]: float(m["value"]) for m in d["metrics"]
                  if m["config"]["type"].endswith("ValueDrift")}
        methods = {m["config"]["column"]: m["config"].get("method") for m in d["metrics"]
                   if m["config"]["type"].endswith("ValueDrift")}
        n_drifted = sum(1 for t in d["tests"] if t["metric_config"]["params"]["type"].endswith("ValueDrift")
                        and t["status"] == "FAIL")
    else:
        kw = ({"method": "wasserstein", "categorical_method": "jensenshannon"} if which == "medval-same"
              else {"method": "ks", "categorical_method": "chisquare"})
        rep = drift_table(ref, cur, numeric=numeric, categorical=categorical, **kw)
        wall = time.perf_counter() - t0
        values = {r.feature: r.statistic for r in rep.results}
        methods = {r.feature: r.method for r in rep.results}
        n_drifted = rep.n_drifted
    return {"which": which, "wall_s": wall, "peak_rss_mb": _rss_mb(), "rss_before_mb": before,
            "values": values, "methods": methods, "n_drifted": n_drifted}


def run_child(which: str, args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", which, "--n-reference", str(args.n_reference),
           "--n-current", str(args.n_current), "--seed", str(args.seed)]
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {which} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-reference", type=int, default=100_000)
    ap.add_argument("--n-current", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--quick", action="store_true", help="10,000 x 100,000 rows")
    ap.add_argument("--child", choices=["evidently", "medval-same", "medval-ks"], help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_reference, args.n_current = 10_000, 100_000
    if args.child:
        print(json.dumps(child(args.child, args.n_reference, args.n_current, args.seed)))
        return 0

    print(f"drift benchmark: {args.n_reference:,} reference rows vs {args.n_current:,} current rows, "
          f"{N_NUMERIC} numeric + {len(CATEGORIES)} categorical columns, seed {args.seed}")
    import evidently
    import numpy

    print(f"python {sys.version.split()[0]}, numpy {numpy.__version__}, evidently {evidently.__version__}, "
          f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    res = {w: run_child(w, args) for w in ("medval-same", "medval-ks", "evidently")}
    ev, same, ksr = res["evidently"], res["medval-same"], res["medval-ks"]
    diffs = [abs(ev["values"][c] - same["values"][c]) / max(abs(ev["values"][c]), 1e-300) for c in ev["values"]]
    print()
    print(f"{'contender':<34}{'wall s':>9}{'peak RSS MB':>13}{'RSS before MB':>15}{'drifted':>9}")
    for w, label in (("evidently", "evidently DataDriftPreset (auto)"),
                     ("medval-same", "medval drift_table wasserstein/JS"),
                     ("medval-ks", "medval drift_table ks/chi2+BH")):
        r = res[w]
        print(f"{label:<34}{r['wall_s']:>9.2f}{r['peak_rss_mb']:>13.0f}{r['rss_before_mb']:>15.0f}"
              f"{r['n_drifted']:>9d}")
    print()
    print(f"evidently methods used: {sorted(set(ev['methods'].values()))}")
    print(f"max relative difference, evidently vs medval (same methods), over {len(diffs)} columns: "
          f"{max(diffs):.2e}")
    for w in ("medval-same", "medval-ks"):
        r = res[w]
        inc, inc_ev = r["peak_rss_mb"] - r["rss_before_mb"], ev["peak_rss_mb"] - ev["rss_before_mb"]
        print(f"{w}: {ev['wall_s'] / r['wall_s']:.1f}x faster; whole-process peak RSS "
              f"{r['peak_rss_mb'] / ev['peak_rss_mb']:.2f} of evidently's; memory added by the drift computation "
              f"{inc:.0f} MB vs evidently's {inc_ev:.0f} MB ({inc / max(inc_ev, 1e-9):.3f})")
    print("goal: >= 20x faster and <= 0.25 of the memory. The whole-process peak includes what both processes "
          "hold before the computation starts (Python, pandas, the frames themselves).")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

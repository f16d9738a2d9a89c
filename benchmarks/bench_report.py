"""Report at scale: a 100,000-case run must render in under a minute and stay under 10 MB.

Builds synthetic 100,000-case run directories (tests/reports/results_factory.py:
a 100,001-point ROC, a 50,000-point FROC, ~27,000 per-case Dice/HD95 values,
40 sites in the subgroup and baseline tables), renders each report, and prints
the render time and the sizes of results.json, report.html and report.pdf.

Beside it, the peer the report replaces: plotting the full curve as it comes
(no thinning) — the ROC figure's SVG size and time with and without
``reports.figures.thin_curve``.

Run: ``python benchmarks/bench_report.py [N_CASES]``.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_S = 60.0
LIMIT_BYTES = 10 * 1024 * 1024


def _factory():
    spec = importlib.util.spec_from_file_location("results_factory", ROOT / "tests/reports/results_factory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def main(n_cases: int = 100_000) -> int:
    import json

    from reports import figures
    from reports.render import render_report

    factory = _factory()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for task in ("classification", "segmentation", "detection"):
            run = Path(tmp) / task
            t0 = time.perf_counter()
            factory.build_run(run, task, n_cases=n_cases, seed=7, n_sites=40)
            built = time.perf_counter() - t0
            t0 = time.perf_counter()
            files = render_report(run)
            took = time.perf_counter() - t0
            sizes = {p.name: p.stat().st_size for p in (run / "results.json", files.html, files.pdf)}
            fits = took < LIMIT_S and sizes["report.html"] < LIMIT_BYTES and sizes["report.pdf"] < LIMIT_BYTES
            ok &= fits
            print(f"{task:<15} n={n_cases:,}  build {built:5.1f} s  render {took:5.1f} s  "
                  f"results.json {_mb(sizes['results.json'])}  report.html {_mb(sizes['report.html'])}  "
                  f"report.pdf {_mb(sizes['report.pdf'])}  {'OK' if fits else 'OVER LIMIT'}")
            if task == "classification":
                roc = json.loads((run / "results.json").read_text())["outcome"]["curves"]["roc"]
                t0 = time.perf_counter()
                thinned = figures.roc_figure(roc)
                t_thin = time.perf_counter() - t0
                saved = figures.MAX_CURVE_POINTS
                figures.MAX_CURVE_POINTS = len(roc["fpr"]) + 1  # peer: plot every point
                try:
                    t0 = time.perf_counter()
                    full = figures.roc_figure(roc)
                    t_full = time.perf_counter() - t0
                finally:
                    figures.MAX_CURVE_POINTS = saved
                print(f"{'  ROC figure':<15} {len(roc['fpr']):,} points  medval thinned to <= {saved}: "
                      f"{len(thinned) / 1e3:,.0f} kB SVG in {t_thin:.2f} s   |   peer (every point): "
                      f"{len(full) / 1e3:,.0f} kB SVG in {t_full:.2f} s   ratio {len(full) / len(thinned):.0f}x")
    print(f"limits: render < {LIMIT_S:.0f} s, each file < {_mb(LIMIT_BYTES)}: {'met' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))

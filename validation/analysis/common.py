"""What every task reports: the flow of cases (STARD) and baseline characteristics."""

from __future__ import annotations

import numpy as np
import pandas as pd

CATEGORICAL_BASELINE = ("sex", "site", "manufacturer")


def case_flow(cases: pd.DataFrame, *, excluded: list[dict] | None = None) -> dict:
    """STARD participant flow: eligible → excluded (with reasons) → indeterminate → analysed.

    ``cases`` holds every eligible case with ``label`` and ``score``; a case
    whose score is not finite is indeterminate (the model gave no result). It
    is counted, never dropped: the classification analysis reports its effect
    on sensitivity and specificity (FDA 2007 diagnostic-test guidance).
    """
    excluded = list(excluded or [])
    n_excluded = sum(e["n"] for e in excluded)
    finite = np.isfinite(cases["score"].to_numpy(dtype=float))
    by_class = {}
    for label, name in ((1, "positive"), (0, "negative")):
        sel = cases["label"].to_numpy() == label
        by_class[name] = {
            "eligible": int(sel.sum()),
            "indeterminate": int((sel & ~finite).sum()),
            "analysed": int((sel & finite).sum()),
        }
    return {
        "eligible": int(len(cases) + n_excluded),
        "excluded": excluded,
        "n_excluded": int(n_excluded),
        "included": int(len(cases)),
        "indeterminate": int((~finite).sum()),
        "analysed": int(finite.sum()),
        "positive": by_class["positive"]["analysed"],
        "negative": by_class["negative"]["analysed"],
        "by_class": by_class,
        "patients": int(cases["patient_id"].nunique()) if "patient_id" in cases else None,
    }


def _age_summary(ages: pd.Series) -> dict:
    ages = pd.to_numeric(ages, errors="coerce")
    missing = int(ages.isna().sum())
    ages = ages.dropna()
    if ages.empty:
        return {"n": 0, "missing": missing}
    q1, med, q3 = np.percentile(ages, [25, 50, 75])
    return {"n": int(ages.size), "missing": missing, "mean": float(ages.mean()),
            "sd": float(ages.std(ddof=1)) if ages.size > 1 else float("nan"),
            "median": float(med), "q1": float(q1), "q3": float(q3),
            "min": float(ages.min()), "max": float(ages.max())}


def baseline_characteristics(cases: pd.DataFrame) -> dict:
    """Baseline table by reference-standard class (positive, negative, all).

    Age as mean (SD) and median [IQR]; sex, site and manufacturer as counts.
    Missing values are counted in their own ``missing`` entry.
    """
    groups = {"positive": cases[cases["label"] == 1], "negative": cases[cases["label"] == 0], "all": cases}
    table: dict = {"columns": list(groups), "n": {k: int(len(v)) for k, v in groups.items()}}
    if "patient_id" in cases:
        table["patients"] = {k: int(v["patient_id"].nunique()) for k, v in groups.items()}
    if "age" in cases:
        table["age"] = {k: _age_summary(v["age"]) for k, v in groups.items()}
    for column in CATEGORICAL_BASELINE:
        if column not in cases:
            continue
        levels = sorted(cases[column].fillna("missing").astype(str).unique())
        table[column] = [
            {"level": level,
             **{k: int((v[column].fillna("missing").astype(str) == level).sum()) for k, v in groups.items()}}
            for level in levels
        ]
    return table

"""Pure statistics over counts and arrays; they never read files.

Every public function is re-exported here.
"""

from validation.stats.results import Interval

__all__ = ["Interval"]

# --- statistics part A: proportions, differences, ROC/AUC, bootstrap, clustered data
from validation.stats.bootstrap import BootstrapResult, bootstrap
from validation.stats.clustered import (
    ClusteredInterval,
    cluster_counts,
    clustered_proportion_ci,
    clustered_roc_auc,
)
from validation.stats.differences import (
    McNemarResult,
    ProportionDifference,
    diff_ci_independent,
    diff_ci_paired,
    mcnemar,
)
from validation.stats.proportions import (
    DiagnosticTable,
    IntervalArray,
    LikelihoodRatios,
    PredictiveValues,
    accuracy,
    diagnostic_table,
    likelihood_ratios,
    npv,
    ppv,
    predictive_values_at_prevalence,
    proportion_ci,
    proportion_ci_array,
    sensitivity,
    specificity,
)
from validation.stats.roc import (
    AUCResult,
    OperatingPointResult,
    PairedAUCResult,
    ROCCurve,
    roc_auc,
    roc_auc_paired,
    roc_curve_band,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
)

__all__ += [
    "AUCResult", "BootstrapResult", "ClusteredInterval", "DiagnosticTable", "IntervalArray",
    "LikelihoodRatios", "McNemarResult", "OperatingPointResult", "PairedAUCResult", "PredictiveValues",
    "ProportionDifference", "ROCCurve", "accuracy", "bootstrap", "cluster_counts",
    "clustered_proportion_ci", "clustered_roc_auc", "diagnostic_table", "diff_ci_independent",
    "diff_ci_paired", "likelihood_ratios", "mcnemar", "npv", "ppv", "predictive_values_at_prevalence",
    "proportion_ci", "proportion_ci_array", "roc_auc", "roc_auc_paired", "roc_curve_band",
    "sensitivity", "sensitivity_at_specificity", "specificity", "specificity_at_sensitivity",
]

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

# --- statistics part B: segmentation, detection/FROC, subgroups, calibration, agreement, sample size
from validation.stats.agreement import KappaResult, cohen_kappa, cohen_kappa_table
from validation.stats.calibration import (
    CalibrationResult,
    RecalibrationFit,
    ReliabilityCurve,
    brier_score,
    calibration,
    calibration_intercept_slope,
    expected_calibration_error,
    reliability_curve,
)
from validation.stats.detection import (
    CPM_FP_RATES,
    FROCResult,
    ImageLesions,
    ImageMarks,
    Matching,
    OperatingPoint,
    cpm,
    froc,
    lesion_sensitivity,
    match_marks,
)
from validation.stats.samplesize import (
    BudererSampleSize,
    ExactSampleSize,
    buderer_sample_size,
    exact_power,
    exact_sample_size,
)
from validation.stats.segmentation import (
    MetricSummary,
    SegmentationMetrics,
    SegmentationSummary,
    assd,
    dice,
    hausdorff,
    hd95,
    iou,
    segmentation_metrics,
    summarize_segmentation,
    surface_dice,
)
from validation.stats.subgroups import (
    HeterogeneityTest,
    LargestGap,
    StratumResult,
    SubgroupAnalysis,
    adjust_pvalues,
    heterogeneity_test,
    subgroup_analysis,
    subgroup_analysis_counts,
)

__all__ += [
    "BudererSampleSize", "CPM_FP_RATES", "CalibrationResult", "ExactSampleSize", "FROCResult",
    "HeterogeneityTest", "ImageLesions", "ImageMarks", "KappaResult", "LargestGap", "Matching",
    "MetricSummary", "OperatingPoint", "RecalibrationFit", "ReliabilityCurve", "SegmentationMetrics",
    "SegmentationSummary", "StratumResult", "SubgroupAnalysis", "adjust_pvalues", "assd", "brier_score",
    "buderer_sample_size", "calibration", "calibration_intercept_slope", "cohen_kappa", "cohen_kappa_table",
    "cpm", "dice", "exact_power", "exact_sample_size", "expected_calibration_error", "froc", "hausdorff",
    "hd95", "heterogeneity_test", "iou", "lesion_sensitivity", "match_marks", "reliability_curve",
    "segmentation_metrics", "subgroup_analysis", "subgroup_analysis_counts", "summarize_segmentation",
    "surface_dice",
]

"""Group statistics for reader studies, agreement, map errors and diagnosis prediction.

Pure functions returning plain dicts (one comparison) or tidy pandas DataFrames (one row per
comparison/observation). See docs/statistics.md for each test's assumptions and columns.
"""

from reconstudy.stats.agreement import cohens_kappa, confusion_table, kappa_from_table, kappa_table
from reconstudy.stats.anova import posthoc_paired, posthoc_tukey, rm_anova
from reconstudy.stats.diagnostic import diagnostic_table, sensitivity_specificity, wilson_interval
from reconstudy.stats.errors import map_errors, roi_differences, roi_means
from reconstudy.stats.features import design_from_table, encode_categories, positive_labels, read_table
from reconstudy.stats.multiple import adjust_pvalues
from reconstudy.stats.paired import compare_to_reference, paired_ttest, wilcoxon_signed_rank
from reconstudy.stats.prediction import gather, run_repetitions, summarise
from reconstudy.stats.prediction_compare import importance_differences, score_table
from reconstudy.stats.tables import write_table

__all__ = [
    "adjust_pvalues",
    "cohens_kappa",
    "compare_to_reference",
    "confusion_table",
    "design_from_table",
    "diagnostic_table",
    "encode_categories",
    "gather",
    "importance_differences",
    "kappa_from_table",
    "kappa_table",
    "map_errors",
    "paired_ttest",
    "positive_labels",
    "posthoc_paired",
    "posthoc_tukey",
    "read_table",
    "rm_anova",
    "roi_differences",
    "roi_means",
    "run_repetitions",
    "score_table",
    "sensitivity_specificity",
    "summarise",
    "wilcoxon_signed_rank",
    "wilson_interval",
    "write_table",
]

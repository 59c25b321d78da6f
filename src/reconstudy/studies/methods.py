"""The study part of the methods paragraph: readers, statistics and prediction as configured."""

from __future__ import annotations

from reconstudy.provenance import methods_paragraph, software_versions


def study_methods_paragraph(config: dict, n_subjects: int) -> str:
    """The workflow's methods paragraph followed by one sentence per enabled study block."""
    studies = config.get("studies") or {}
    v = software_versions()
    parts = [methods_paragraph(config, n_subjects)]
    readers = studies.get("readers") or {}
    if readers.get("enabled"):
        parts.append(
            f"{readers.get('n_readers', 3)} SIMULATED readers (an ordinal model driven by "
            f"{readers.get('metric', 'ssim').upper()} with reader bias, case effect and noise; "
            "reconstudy.readers.simulate) rated every blinded case on a 1-5 Likert scale; methods were "
            "compared with the reference by exact Wilcoxon signed-rank tests per reader and pooled, and "
            "agreement between readers and between methods by Cohen's kappa (unweighted, linear and "
            "quadratic weights) with Fleiss-Cohen-Everitt intervals."
        )
    method_stats = studies.get("method_stats") or {}
    if method_stats.get("enabled"):
        parts.append(
            "Image metrics were compared across reconstructions with one-way repeated-measures ANOVA "
            "(Greenhouse-Geisser corrected) and pairwise paired t-tests with "
            f"{method_stats.get('correction', 'fdr_bh').replace('fdr_bh', 'Benjamini-Hochberg')} correction."
        )
    qsm = studies.get("qsm_reading") or {}
    if qsm.get("enabled"):
        parts.append(
            "Susceptibility maps were compared with the fully sampled reference map by MAE and RMSE "
            "(ppb) inside the brain mask and by ROI means of deep grey-matter nuclei; "
            f"{qsm.get('n_raters', 2)} SIMULATED raters classified every lesion (paramagnetic rim, "
            "hyper-/isointense) with a 1-5 confidence score, scored by Cohen's kappa (inter-rater and "
            "inter-method), sensitivity and specificity against the phantom's true lesion kinds "
            "(Wilson intervals) and Wilcoxon signed-rank tests between methods."
        )
    pred = studies.get("prediction") or {}
    if pred.get("enabled"):
        sources = "the segmentation of the fully sampled reference and of each segmented reconstruction"
        if pred.get("recons") == []:
            sources = "no segmentation"
        if pred.get("truth", True):
            sources += " (and, as an upper bound, the phantom's true label maps)"
        parts.append(
            f"The diagnosis ({pred.get('positive', 'group')}) was predicted from regional volumes of "
            f"{sources}, age and sex by random forests "
            f"({pred.get('n_estimators', 100)} trees, scikit-learn {v['scikit-learn']}) in stratified "
            f"{pred.get('folds', 10)}-fold cross-validation repeated {pred.get('repetitions', 1000)} times "
            "with fresh splits and forest seeds, the same for every feature source; accuracy, balanced "
            "accuracy and impurity importances are reported as mean and 2.5-97.5 percentile interval over "
            "repetitions, and each source's importances minus the reference's as paired differences per "
            f"repetition with a percentile bootstrap ({pred.get('n_boot', 2000)} samples) of their mean."
        )
    parts.append(
        f"Statistics used reconstudy.stats (SciPy {v['scipy']}, statsmodels {v['statsmodels']}, "
        f"pandas {v['pandas']})."
    )
    return " ".join(parts)

# Helpers of workflow/rules/studies.smk: study config blocks, targets and input functions.
# Kept apart from common.smk so the study rules stay optional and self-contained.
from reconstudy.studies.methods import study_methods_paragraph
from reconstudy.studies.plan import chunk_ranges, prediction_sources, reading_cases

STUDIES = config.get("studies") or {}
STUDY = f"{RESULTS}/study"
STUDY_LOGS = f"{LOGS}/study"
STUDY_READERS = STUDIES.get("readers") or {}
STUDY_METHOD_STATS = STUDIES.get("method_stats") or {}
STUDY_QSM = STUDIES.get("qsm_reading") or {}
STUDY_PREDICTION = STUDIES.get("prediction") or {}
STUDY_NAME = STUDIES.get("name") or "study"
READING_CASES = (
    reading_cases(STUDY_READERS.get("cases"), methods_for(STUDY_READERS.get("acq", "T1w")), ACCELERATIONS)
    if STUDY_READERS.get("enabled")
    else []
)
if STUDY_READERS.get("enabled") and STUDY_READERS.get("acq", "T1w") not in ACQUISITIONS:
    raise ConfigError(
        f"config: key studies.readers.acq: {STUDY_READERS['acq']!r} is not in acquisitions {ACQUISITIONS}"
    )
if STUDY_QSM.get("enabled") and (not QSM_METHODS or STUDY_QSM.get("qsm", "tgv") not in QSM_METHODS):
    raise ConfigError(
        "config: key studies.qsm_reading needs mGRE in acquisitions and its qsm method "
        f"({STUDY_QSM.get('qsm', 'tgv')!r}) in qsm.methods {QSM_METHODS}"
    )
STUDY_QSM_R = format_r(STUDY_QSM.get("R") or max(float(r) for r in ACCELERATIONS))
if STUDY_QSM.get("enabled") and STUDY_QSM_R not in ACCELERATIONS:
    raise ConfigError(f"config: key studies.qsm_reading.R: {STUDY_QSM_R} is not in sampling.accelerations")
PREDICTION_CHUNKS = (
    chunk_ranges(STUDY_PREDICTION.get("repetitions", 1000), STUDY_PREDICTION.get("chunk_size", 100))
    if STUDY_PREDICTION.get("enabled")
    else []
)
# The recon whose χ maps the others are compared with (the first QSM recon unless set).
STUDY_QSM_REFERENCE = STUDY_QSM.get("reference_rec") or (QSM_RECONS[0] if QSM_RECONS else None)
if STUDY_QSM.get("enabled") and STUDY_QSM_REFERENCE not in QSM_RECONS:
    raise ConfigError(
        f"config: key studies.qsm_reading.reference_rec: {STUDY_QSM_REFERENCE!r} is not one of "
        f"the reconstructions that get QSM ({QSM_RECONS}; qsm.recons)"
    )
PREDICTION_SUBJECTS = [
    s for s in subjects.index if subjects.loc[s, "group"] in STUDY_PREDICTION.get("groups", [])
]
PREDICTION_SOURCES = []
if STUDY_PREDICTION.get("enabled"):
    # Feature sources: the reference's and each chosen recon's segmentation (rule segment), and
    # the phantom's true labels (the upper bound). All run in the same chunk jobs with one seed.
    try:
        PREDICTION_SOURCES = prediction_sources(
            truth=STUDY_PREDICTION.get("truth", True),
            recons=STUDY_PREDICTION.get("recons"),
            segmented=SEGMENT_IMAGES if SEGMENT_ENABLED else [],
        )
    except ValueError as err:
        raise ConfigError(f"config: key {err}") from None
    measured = [s for s in PREDICTION_SUBJECTS if not all(is_simulated(s, acq) for acq in ACQUISITIONS)]
    if measured and STUDY_PREDICTION.get("truth", True):
        raise ConfigError(
            f"config: key studies.prediction.truth: the phantom truth needs simulated subjects, but {measured} "
            "have measured raw data; set studies.prediction.truth: false (segmentation volumes only)"
        )
    if not PREDICTION_SUBJECTS:
        raise ConfigError(
            f"config: key studies.prediction.groups: no subject of the sheet is in {STUDY_PREDICTION['groups']}"
        )
# Differences are taken against the first source: the reference's segmentation (or the truth alone).
PREDICTION_REFERENCE = PREDICTION_SOURCES[0]["id"] if PREDICTION_SOURCES else None


def prediction_chunk_runtime(wildcards):
    """Minutes for one chunk: 1 per repetition and source, generous (OASIS-1's 400 subjects: ~4 s)."""
    start, stop = PREDICTION_CHUNKS[int(wildcards.chunk)]
    return 10 + len(PREDICTION_SOURCES) * (stop - start)


def study_prediction_inputs(wildcards):
    """True label maps (truth source) and per-subject segmentation volume tables (recon sources)."""
    kinds = {source["kind"] for source in PREDICTION_SOURCES}
    inputs = {}
    if "truth" in kinds:
        inputs["labels"] = [truth_path(s, "dseg") for s in PREDICTION_SUBJECTS]
    if "segmentation" in kinds:
        inputs["volumes"] = [
            bids(RESULTS, s, "segvolumes", datatype="metrics", ext=".tsv") for s in PREDICTION_SUBJECTS
        ]
    return inputs


wildcard_constraints:
    chunk=r"\d+",


def study_outputs():
    """Targets of the enabled study blocks (added to rule all in the Snakefile)."""
    targets = []
    if any(block.get("enabled") for block in (STUDY_READERS, STUDY_METHOD_STATS, STUDY_QSM, STUDY_PREDICTION)):
        targets.append(f"{STUDY}/methods.md")
    if STUDY_READERS.get("enabled"):
        targets += [
            f"{STUDY}/tables/reader_wilcoxon.tsv",
            f"{STUDY}/tables/reader_kappa.tsv",
            f"{STUDY}/figures/rating_distributions.png",
        ]
    if STUDY_METHOD_STATS.get("enabled"):
        targets += [f"{STUDY}/tables/method_anova.tsv"]
        targets += [f"{STUDY}/figures/metric_boxplots_{acq}.png" for acq in ACQUISITIONS]
    if STUDY_QSM.get("enabled"):
        targets += [
            f"{STUDY}/tables/qsm_map_errors.tsv",
            f"{STUDY}/tables/qsm_lesion_kappa.tsv",
            f"{STUDY}/figures/qsm_lesion_confidence.png",
        ]
    if STUDY_PREDICTION.get("enabled"):
        targets += [
            f"{STUDY}/tables/prediction_summary.tsv",
            f"{STUDY}/tables/prediction_scores.tsv",
            f"{STUDY}/figures/prediction_scores.png",
            f"{STUDY}/tables/prediction_importance_differences.tsv",
            f"{STUDY}/figures/prediction_importance.png",
        ]
    return targets


def study_reading_images(wildcards):
    """Magnitude image of every (subject, rated reconstruction), keyed subject|REC|R."""
    acq = STUDY_READERS.get("acq", "T1w")
    return {
        f"{s}|{c['rec']}|{format_r(c['R'])}": recon_path(s, acq, format_r(c["R"]), c["rec"])
        for s in subjects.index
        for c in READING_CASES
    }


def study_reading_reference():
    ref = STUDY_READERS.get("reference") or READING_CASES[0]
    matches = [c for c in READING_CASES if c["rec"] == ref["rec"] and c["R"] == float(ref["R"])]
    if not matches:
        raise ConfigError(f"config: key studies.readers.reference: {ref} is not one of studies.readers.cases")
    return matches[0]["label"]


def study_qsm_maps(wildcards):
    """χ maps of one subject: reference (R=1) and every (R, rec) of qsm.recons, for the study's method."""
    q = STUDY_QSM.get("qsm", "tgv")
    maps = {"ref": qsm_path(wildcards.subject, "1", REFERENCE_METHOD, q)}
    for R in ACCELERATIONS:
        for rec in QSM_RECONS:
            maps[f"R{R}_{rec}"] = qsm_path(wildcards.subject, R, rec, q)
    return maps

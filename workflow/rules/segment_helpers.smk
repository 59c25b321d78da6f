# Helpers of workflow/rules/segment.smk: the segmentation config block, its images, paths and inputs.
from reconstudy.resources import resource_path

SEGMENTATION = config["segmentation"]
SEGMENT_ENABLED = SEGMENTATION["enabled"] and "T1w" in ACQUISITIONS
SEG_TRAIN = SEGMENTATION["train"]
SEG_TRAINED = SEGMENT_ENABLED and SEG_TRAIN["enabled"]
TRAINED_SEGMENTER = f"{RESULTS}/models/segmenter"
if SEG_TRAINED and SEGMENTATION["backend"] == "synthseg":
    raise ConfigError(
        "config: segmentation.train.enabled trains the embedded segmenter, but segmentation.backend is "
        "'synthseg' (mri_synthseg, which would not use it); set backend: embedded or disable training"
    )
if SEG_TRAINED and SEGMENTATION["model"]:
    raise ConfigError(
        f"config: segmentation.model ({SEGMENTATION['model']}) and segmentation.train.enabled both say "
        "which segmenter to use; drop model, or fine-tune from it with segmentation.train.init_weights"
    )


def segmenter_label_maps():
    """Label maps the train_seg job learns from (default: the three shipped training maps)."""
    maps = SEG_TRAIN["label_maps"] or [f"resources/anatomy/training_seg_0{i}.nii.gz" for i in (1, 2, 3)]
    return [str(resolve_path(m)) for m in maps]


def segmenter_init_weights():
    """Weights train_seg fine-tunes from (working directory first, then the repository), or None."""
    start = SEG_TRAIN["init_weights"]
    return str(resolve_path(start)) if start else None


def segmenter_model():
    """Folder of the segmenter that segment jobs use: trained by train_seg, configured, or None (shipped)."""
    if SEG_TRAINED:
        return TRAINED_SEGMENTER
    return str(resolve_path(SEGMENTATION["model"])) if SEGMENTATION["model"] else None


def segmenter_runtime():
    """Minutes for the SLURM request: the budget plus synthetic validation and saving."""
    minutes = SEG_TRAIN["max_minutes"]
    return 24 * 60 if minutes is None else int(minutes) + 15


def segmentation_accelerations():
    chosen = SEGMENTATION["accelerations"]
    if chosen is None:
        return list(ACCELERATIONS)
    if chosen == "extremes":
        return sorted({min(ACCELERATIONS, key=float), max(ACCELERATIONS, key=float)}, key=float)
    chosen = [format_r(r) for r in chosen]
    unknown = [R for R in chosen if R not in ACCELERATIONS]
    if unknown:
        raise ConfigError(
            f"config: key segmentation.accelerations: {unknown} are not in sampling.accelerations "
            f"{ACCELERATIONS}; list some of those, or use null (all) or 'extremes'"
        )
    return chosen


SEGMENT_RECONS = [
    m for m in methods_for("T1w") if SEGMENTATION["recons"] is None or m in SEGMENTATION["recons"]
]
# (R, recon) of every segmented T1w image: the fully sampled reference first, then each R and recon.
SEGMENT_IMAGES = [("1", REFERENCE_METHOD)] + [
    (R, rec) for R in segmentation_accelerations() for rec in SEGMENT_RECONS
]


def segmentation_path(subject, R, rec, ext=".nii.gz"):
    return bids(RESULTS, subject, "dseg", datatype="seg", ext=ext, acq=f"R{R}", rec=rec)


def segment_outputs():
    outputs = {}
    for R, rec in SEGMENT_IMAGES:
        outputs[f"labels_R{R}_{rec}"] = segmentation_path("{subject}", R, rec)
        outputs[f"sidecar_R{R}_{rec}"] = segmentation_path("{subject}", R, rec, ext=".json")
    outputs["volumes"] = bids(RESULTS, "{subject}", "segvolumes", datatype="metrics", ext=".tsv")
    outputs["dice"] = bids(RESULTS, "{subject}", "segdice", datatype="metrics", ext=".tsv")
    return outputs


def get_segment_inputs(wildcards):
    paths = {f"image_R{R}_{rec}": recon_path(wildcards.subject, "T1w", R, rec) for R, rec in SEGMENT_IMAGES}
    if SEGMENTATION["backend"] != "synthseg":  # new weights (trained or shipped) re-segment
        model = segmenter_model() or resource_path("models", "segmenter")  # as EmbeddedSegmenter.load
        paths["segmenter"] = f"{model}/manifest.json"
    if is_simulated(wildcards.subject, "T1w"):
        paths["truth"] = truth_path(wildcards.subject, "dseg")
    return paths


def get_segment_cohort_chi(wildcards):
    """Reference χ map, reference segmentation and truth labels of each subject (regional χ)."""
    if not QSM_METHODS:
        return {}
    paths = {}
    for subject in subjects.index:
        paths[f"chi_{subject}"] = qsm_path(subject, "1", REFERENCE_METHOD, QSM_METHODS[0])
        paths[f"labels_{subject}"] = segmentation_path(subject, "1", REFERENCE_METHOD)
        if is_simulated(subject, "mGRE"):
            paths[f"truth_{subject}"] = truth_path(subject, "dseg")
    return paths


SEGMENT_GROUP = f"{RESULTS}/group/segmentation"

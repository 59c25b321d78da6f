# Helpers only: config and sheet validation, wildcard constraints, paths and input functions.
import json
from pathlib import Path

from reconstudy.config import ConfigError, load_sheet, validate
from reconstudy.held_out import LEARNED_METHODS, simulated_anatomy
from reconstudy.paths import bids, format_r
from reconstudy.provenance import methods_paragraph

REPO = Path(workflow.basedir)
SCHEMAS = REPO / "workflow" / "schemas"
RESULTS = "results"
LOGS = "logs"
# Threads of each per-subject compute job (undersampling, reconstruction, DL, QSM). One: the jobs
# of a cohort are many and independent, and on the 2-core VM two 1-thread jobs side by side take
# 0.81-0.83x the wall of one 2-thread job after another, for every one of these rules
# (benchmarks/RESULTS.md, "Threads per job"). Raise it for a few large jobs on a big machine
# with `snakemake --set-threads qsm=8` (per rule).
JOB_THREADS = 1

validate(config, SCHEMAS / "config.schema.yaml", "config")


def resolve_path(path):
    """A relative path from the config: the working directory first, then the repository."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    return REPO / path


subjects = load_sheet(
    resolve_path(config["subjects"]),
    SCHEMAS / "subjects.schema.yaml",
    acquisitions=config["acquisitions"],
    simulate=config["simulate"],
)
ACQUISITIONS = config["acquisitions"]
ACCELERATIONS = [format_r(r) for r in config["sampling"]["accelerations"]]
METHODS = config["recon"]["methods"]
CONVENTIONAL = [m for m in METHODS if m in ("zf", "sense", "cs")]
# Learned methods run only for recon.dl.acquisitions (the shipped model saw T1w only).
LEARNED = [m for m in METHODS if m in LEARNED_METHODS]
# Listed acquisitions that this run does not process are skipped (the schema rejects unknown
# names), so an mGRE-only study with the default methods simply runs no DL.
DL_ACQUISITIONS = [a for a in config["recon"]["dl"]["acquisitions"] if a in ACQUISITIONS] if LEARNED else []


def methods_for(acq):
    """Reconstruction methods of one acquisition: recon.methods, learned ones only where listed."""
    return [m for m in METHODS if m not in LEARNED_METHODS or acq in DL_ACQUISITIONS]


# The super-resolution model of dl_sr (its manifest is the .json next to it).
SR_MODEL = REPO / config["recon"]["dl"]["sr_model"]


def sr_factor():
    """Resolution factor per axis of the dl_sr model (its manifest; 2 when the file is absent).

    Read here rather than with recon.dl.io.read_manifest: that package imports torch, ~2 s on
    every Snakemake start."""
    manifest = SR_MODEL.with_suffix(".json")
    if not manifest.is_file():
        return 2  # reconstruct_dl_sr then stops on its missing input, naming the file
    try:
        return int(json.loads(manifest.read_text())["architecture"]["config"].get("factor", 2))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(
            f"{manifest}: not a valid DL model manifest ({err!r}); recon.dl.sr_model must be a model "
            "written by `reconstudy train-dl`"
        ) from err


if "dl_sr" in LEARNED and DL_ACQUISITIONS:
    # A low-resolution acquisition of 1/f per axis is already R = f^2 (sampling.low_resolution_mask).
    _factor = sr_factor()
    _too_low = [R for R in ACCELERATIONS if float(R) < _factor**2]
    if _too_low:
        raise ConfigError(
            f"config: recon.methods has dl_sr, whose low-resolution acquisition (the central 1/{_factor} "
            f"of each phase-encode axis) is R = {_factor**2} already; sampling.accelerations {_too_low} "
            f"are below it: drop dl_sr or use R >= {_factor**2}"
        )


# The held-out table (metrics.smk): DL vs CS on subjects whose anatomy the model never saw.
DL_HELD_OUT = "dl" in LEARNED and "cs" in METHODS and bool(DL_ACQUISITIONS)
REFERENCE_METHOD = config["recon"]["reference"]
QSM_METHODS = config["qsm"]["methods"] if "mGRE" in ACQUISITIONS else []
QSM_RECONS = [m for m in methods_for("mGRE") if config["qsm"]["recons"] is None or m in config["qsm"]["recons"]]
RETROSPECTIVE_FROM = config["sampling"]["retrospective_from"]
if RETROSPECTIVE_FROM is not None:
    RETROSPECTIVE_FROM = format_r(RETROSPECTIVE_FROM)
    too_low = [R for R in ACCELERATIONS if float(R) < float(RETROSPECTIVE_FROM)]
    if RETROSPECTIVE_FROM not in ACCELERATIONS or too_low:
        raise ConfigError(
            f"config: key sampling.retrospective_from: {RETROSPECTIVE_FROM} must be one of "
            f"sampling.accelerations and no smaller than any of them (found {too_low or ACCELERATIONS})"
        )


wildcard_constraints:
    subject="[A-Za-z0-9]+",  # a pattern, not a 1,000-way alternation: DAG building stays fast
    acq="|".join(ACQUISITIONS),
    R=r"\d+(p\d+)?",  # as paths.bids_label writes an acceleration (2.5 -> 2p5)
    qsm="tgv|classic",


def is_simulated(subject, acq):
    return subjects.loc[subject].get(f"raw_{acq}", "") == ""


def sheet_anatomies(acq):
    """subject -> anatomy (1-3) of each simulated subject of one acquisition; None for measured data."""
    return {
        s: simulated_anatomy(s, subjects.loc[s].get("anatomy", "")) if is_simulated(s, acq) else None
        for s in subjects.index
    }


def raw_path(subject, acq):
    """Fully sampled raw k-space: the sheet's path, or the simulated file."""
    if is_simulated(subject, acq):
        return bids(RESULTS, subject, acq, datatype="raw", ext=".h5")
    return subjects.loc[subject][f"raw_{acq}"]


def get_raw(wildcards):
    return raw_path(wildcards.subject, wildcards.acq)


def undersampled_path(subject, acq, R):
    return bids(RESULTS, subject, acq, datatype="raw", ext=".h5", acq=f"R{R}")


def recon_path(subject, acq, R, rec, part="mag", ext=".nii.gz"):
    return bids(RESULTS, subject, acq, datatype="anat", ext=ext, acq=f"R{R}", rec=rec, part=part)


def recon_files(rec, R):
    """``{mag, phase, sidecar}``: the files one reconstruction writes (wildcards subject and acq)."""
    return {
        "mag": recon_path("{subject}", "{acq}", R, rec, part="mag"),
        "phase": recon_path("{subject}", "{acq}", R, rec, part="phase"),
        "sidecar": recon_path("{subject}", "{acq}", R, rec, part="mag", ext=".json"),
    }


def learned_outputs(rec):
    """Outputs of one learned-method job, every R: ``mag_R4``, ``phase_R4``, ``sidecar_R4``..."""
    return {f"{part}_R{R}": path for R in ACCELERATIONS for part, path in recon_files(rec, R).items()}


def recon_outputs(methods, R="{R}"):
    """Magnitude, phase and JSON sidecar of each method for one (subject, acq, R): ``mag_cs``..."""
    return {f"{part}_{rec}": path for rec in methods for part, path in recon_files(rec, R).items()}


def qsm_path(subject, R, rec, qsm):
    return bids(RESULTS, subject, "Chimap", datatype="qsm", acq=f"R{R}", rec=rec, desc=qsm)


def get_undersampled(wildcards):
    if wildcards.R == "1":
        return raw_path(wildcards.subject, wildcards.acq)
    return undersampled_path(wildcards.subject, wildcards.acq, wildcards.R)


def truth_path(subject, suffix, desc="truth", ext=".nii.gz"):
    return bids(RESULTS, subject, suffix, datatype="truth", ext=ext, desc=desc)


def get_brain_mask(wildcards):
    """The phantom's true brain mask, or one computed from the reference image of measured data."""
    if all(is_simulated(wildcards.subject, acq) for acq in ACQUISITIONS):
        return truth_path(wildcards.subject, "mask", desc="brain")
    return bids(RESULTS, wildcards.subject, "mask", datatype="anat", desc="brain")


def get_subject_recons(wildcards):
    """Every reconstruction of one subject, plus the fully sampled reference."""
    paths = {}
    for acq in ACQUISITIONS:
        paths[f"ref_{acq}"] = recon_path(wildcards.subject, acq, "1", REFERENCE_METHOD)
        for R in ACCELERATIONS:
            for rec in methods_for(acq):
                paths[f"{acq}_R{R}_{rec}"] = recon_path(wildcards.subject, acq, R, rec)
    return paths


def montage_subject():
    chosen = config["figures"]["montage_subject"]
    if chosen is None:
        return subjects.index[0]
    if chosen not in subjects.index:
        raise ValueError(f"figures.montage_subject={chosen!r} is not in the cohort sheet {config['subjects']}")
    return chosen


def mem_mb_for(acq, factor):
    """Memory estimate (MB) scaling with the matrix size, coils and echoes of an acquisition."""
    phantom = config.get("phantom", {})
    nx, ny, nz = phantom.get("matrix", [72, 88, 72])
    coils = phantom.get("n_coils", 8)
    echoes = len(phantom.get("mgre", {}).get("echo_times_ms", [0] * 4)) if acq == "mGRE" else 1
    voxels = nx * ny * nz * coils * echoes
    return int(1000 + factor * voxels * 8 / 1e6)


def get_final_outputs():
    targets = [
        f"{RESULTS}/group/metrics.tsv",
        f"{RESULTS}/group/metrics_summary.tsv",
        f"{RESULTS}/figures/metrics_vs_R.png",
    ]
    if DL_HELD_OUT:  # metrics.smk: DL vs CS on the subjects whose anatomy the model never saw
        targets += [f"{RESULTS}/group/dl_held_out.tsv", f"{RESULTS}/figures/dl_held_out.png"]
    targets += [f"{RESULTS}/figures/montage_sub-{montage_subject()}_{acq}.png" for acq in ACQUISITIONS]
    if QSM_METHODS:
        targets += [
            f"{RESULTS}/group/qsm_metrics_summary.tsv",
            f"{RESULTS}/group/qsm_roi.tsv",
            f"{RESULTS}/figures/qsm_metrics_vs_R.png",
            f"{RESULTS}/figures/qsm_montage_sub-{montage_subject()}.png",
        ]
    if SEGMENT_ENABLED:  # defined in segment_helpers.smk
        targets += [
            f"{RESULTS}/group/segmentation_group_tests.tsv",
            f"{RESULTS}/group/segmentation_regional_chi.tsv",
            f"{RESULTS}/figures/segmentation_dice.png",
            f"{RESULTS}/figures/segmentation_volumes.png",
        ]
    return targets


# (R, recon) of every mGRE image that gets a χ map: the fully sampled reference, then each R and recon.
QSM_MAPS = [("1", REFERENCE_METHOD)] + [(R, rec) for R in ACCELERATIONS for rec in QSM_RECONS]


def qsm_outputs(qsm):
    return {f"R{R}_{rec}": qsm_path("{subject}", R, rec, qsm) for R, rec in QSM_MAPS}


def get_qsm_inputs(wildcards):
    """Magnitude, phase and sidecar of each mGRE image that gets a χ map."""
    paths = {}
    for R, rec in QSM_MAPS:
        for key, part, ext in (("mag", "mag", ".nii.gz"), ("phase", "phase", ".nii.gz"), ("sidecar", "mag", ".json")):
            paths[f"{key}_R{R}_{rec}"] = recon_path(wildcards.subject, "mGRE", R, rec, part=part, ext=ext)
    return paths


def get_subject_qsm(wildcards):
    """Every χ map of one subject: (R, rec, qsm method) for the reference and each R."""
    paths = {}
    for qsm in QSM_METHODS:
        paths[f"ref_{qsm}"] = qsm_path(wildcards.subject, "1", REFERENCE_METHOD, qsm)
        for R in ACCELERATIONS:
            for rec in QSM_RECONS:
                paths[f"R{R}_{rec}_{qsm}"] = qsm_path(wildcards.subject, R, rec, qsm)
    return paths

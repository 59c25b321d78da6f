# Helpers of workflow/rules/train.smk: the recon.dl training block, the learning split, paths.
from reconstudy.training.sheet import assign_splits

DL = config["recon"]["dl"]
DL_TRAIN = bool(DL["train"])
# One model per acquisition that the workflow reconstructs with a trained network.
DL_TRAINED_ACQUISITIONS = [acq for acq in ACQUISITIONS if DL_TRAIN and "dl" in methods_for(acq)]


def learning_splits():
    """subject -> train | val | test: the sheet's split column, seeded where empty (train_helpers.smk)."""
    declared = {s: subjects.loc[s].get("split", "") for s in subjects.index}
    return assign_splits(declared, config["seed"], DL["val_fraction"], DL["test_fraction"])


SPLITS = learning_splits() if DL_TRAIN else {}
if DL_TRAINED_ACQUISITIONS and not any(v == "train" for v in SPLITS.values()):
    raise ConfigError(
        f"cohort sheet {config['subjects']}: recon.dl.train is true but no subject has split 'train' "
        f"(splits: {SPLITS}); mark some rows train in the sheet's split column or leave cells empty "
        "for the seeded split"
    )
if DL_TRAINED_ACQUISITIONS and not any(v == "test" for v in SPLITS.values()):
    # The cohort metrics keep the test split only (metrics.smk): without one they would be empty.
    raise ConfigError(
        f"cohort sheet {config['subjects']}: recon.dl.train is true but no subject has split 'test' "
        f"(splits: {SPLITS}); mark some rows test in the sheet's split column or raise "
        "recon.dl.test_fraction, so the metrics score images the network was not trained on"
    )


def split_subjects(role):
    return [s for s, v in SPLITS.items() if v == role]


def trained_model_path(acq, ext=".pt"):
    return f"{RESULTS}/models/dl_{acq}{ext}"


def dl_model_path(acq):
    """The model reconstruct_dl uses: the one trained by train_dl, or the configured (shipped) one."""
    if acq in DL_TRAINED_ACQUISITIONS:
        return trained_model_path(acq)
    return str(REPO / DL["model"])


def dl_manifests(wildcards):
    """Manifests of the models behind each learned method and acquisition (trained or shipped):
    ``manifest_<acq>`` for dl (and dl_sr's first step), ``sr_manifest_<acq>`` for dl_sr's SR."""
    manifests = {}
    if LEARNED:
        for acq in DL_ACQUISITIONS:
            manifests[f"manifest_{acq}"] = str(Path(dl_model_path(acq)).with_suffix(".json"))
    if "dl_sr" in LEARNED:
        sr_manifest = str(SR_MODEL.with_suffix(".json"))
        manifests.update({f"sr_manifest_{acq}": sr_manifest for acq in DL_ACQUISITIONS})
    return manifests


def get_training_raw(wildcards):
    """Fully sampled raw k-space of the train and val subjects of one acquisition."""
    return {
        f"{role}_{s}": raw_path(s, wildcards.acq) for role in ("train", "val") for s in split_subjects(role)
    }


def train_runtime():
    """Minutes for the SLURM request: the training budget plus loading, validation and saving."""
    minutes = DL["max_minutes"]
    return 24 * 60 if minutes is None else int(minutes) + 15


def train_mem_mb(wildcards):
    """Each train/val volume is held as k-space, hybrid planes and a target (about 3 copies), plus
    about 3 GB for the network's activations and optimiser on a CPU (the shipped config's batches)."""
    n = len(split_subjects("train")) + len(split_subjects("val"))
    return mem_mb_for(wildcards.acq, 3 * n) + 3000

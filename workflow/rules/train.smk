# Training of the DL network (recon.dl.train_config) on the workflow's own cohort (docs/deep-learning.md, "Training in the
# workflow"). Opt-in with recon.dl.train: reconstruct_dl then uses results/models/dl_<acq>.pt.


include: "train_helpers.smk"


if DL_TRAINED_ACQUISITIONS:

    # One job per acquisition: train + val subjects' fully sampled k-space; test subjects never enter.
    rule train_dl:
        input:
            unpack(get_training_raw),
            train_config=resolve_path(DL["train_config"]),
        output:
            model=trained_model_path("{acq}"),
            manifest=trained_model_path("{acq}", ext=".json"),
        params:
            acq=lambda wc: wc.acq,
            splits=SPLITS,
            train=lambda wc: split_subjects("train"),
            val=lambda wc: split_subjects("val"),
            max_minutes=DL["max_minutes"],
            fractions={"val": DL["val_fraction"], "test": DL["test_fraction"]},
            device=config["recon"]["device"],
            pattern=config["sampling"]["pattern"],
            calibration=config["sampling"]["calibration"],
            seed=config["seed"],
        log:
            f"{LOGS}/train/dl_{{acq}}.log",
        benchmark:
            f"{LOGS}/benchmarks/train/dl_{{acq}}.tsv"
        threads: 2
        resources:
            mem_mb=train_mem_mb,
            runtime=train_runtime(),
            gpu=1 if config["recon"]["device"] == "cuda" else 0,
        conda:
            "../../envs/reconstudy.yaml"
        script:
            "../scripts/train_dl.py"

# Conventional reconstructions (zero-filled, SENSE, CS) of undersampled and reference data.
# Coil maps come from the undersampling job (workflow/rules/undersample.smk).


# One job per (subject, acq, R) runs every conventional method: the k-space and coil maps are read
# once, and a cohort is len(R) jobs per subject and acquisition rather than len(R) x len(methods).
if CONVENTIONAL:

    rule reconstruct:
        input:
            raw=get_undersampled,
            maps=bids(RESULTS, "{subject}", "coilmaps", datatype="coils", ext=".npy", part="{acq}"),
        output:
            **recon_outputs(CONVENTIONAL),
        params:
            methods=CONVENTIONAL,
            recon=config["recon"],
        log:
            f"{LOGS}/recon/sub-{{subject}}_acq-R{{R}}_{{acq}}.log",
        benchmark:
            f"{LOGS}/benchmarks/recon/sub-{{subject}}_acq-R{{R}}_{{acq}}.tsv"
        threads: JOB_THREADS
        resources:
            mem_mb=lambda wc: mem_mb_for(wc.acq, 6),
            runtime=20 + 20 * ("cs" in CONVENTIONAL),
        conda:
            "../../envs/reconstudy.yaml"
        script:
            "../scripts/reconstruct.py"


# The fully sampled reference (R = 1) with the reference method only.
rule reconstruct_reference:
    input:
        raw=get_raw,
        maps=bids(RESULTS, "{subject}", "coilmaps", datatype="coils", ext=".npy", part="{acq}"),
    output:
        **recon_outputs([REFERENCE_METHOD], R="1"),
    params:
        methods=[REFERENCE_METHOD],
        recon=config["recon"],
    log:
        f"{LOGS}/recon/sub-{{subject}}_acq-R1_{{acq}}.log",
    benchmark:
        f"{LOGS}/benchmarks/recon/sub-{{subject}}_acq-R1_{{acq}}.tsv"
    threads: JOB_THREADS
    resources:
        mem_mb=lambda wc: mem_mb_for(wc.acq, 6),
        runtime=30,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/reconstruct.py"


if CONVENTIONAL:

    ruleorder: reconstruct_reference > reconstruct


# One job per (subject, acq) reconstructs every R with the network: the model is loaded once, and
# a cohort gains one job per subject rather than len(R) (the 1,000-subject DAG stays under a minute).
rule reconstruct_dl:
    input:
        unpack(lambda wc: {f"raw_R{R}": undersampled_path(wc.subject, wc.acq, R) for R in ACCELERATIONS}),
        maps=bids(RESULTS, "{subject}", "coilmaps", datatype="coils", ext=".npy", part="{acq}"),
        model=lambda wc: dl_model_path(wc.acq),  # train_helpers.smk: trained or shipped
    output:
        **learned_outputs("dl"),
    wildcard_constraints:
        acq="|".join(DL_ACQUISITIONS) or "T1w",  # recon.dl.acquisitions only (common.smk)
    params:
        recon=config["recon"],
        accelerations=ACCELERATIONS,
    log:
        f"{LOGS}/recon/sub-{{subject}}_rec-dl_{{acq}}.log",
    benchmark:
        f"{LOGS}/benchmarks/recon/sub-{{subject}}_rec-dl_{{acq}}.tsv"
    threads: JOB_THREADS
    resources:
        mem_mb=lambda wc: mem_mb_for(wc.acq, 6),
        runtime=30 + 15 * len(ACCELERATIONS),
        gpu=1 if config["recon"]["device"] == "cuda" else 0,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/reconstruct_dl.py"


# Boost then Sharp (seed 003): a low-resolution acquisition at each R (the central half of each
# phase-encode axis, undersampled further above R = 4), reconstructed by the dl network and
# super-resolved 2x. The acquisitions are drawn here from the fully sampled raw data.
rule reconstruct_dl_sr:
    input:
        raw=get_raw,
        maps=bids(RESULTS, "{subject}", "coilmaps", datatype="coils", ext=".npy", part="{acq}"),
        model=lambda wc: dl_model_path(wc.acq),  # train_helpers.smk: trained or shipped
        sr_model=str(SR_MODEL),
    output:
        **learned_outputs("dl_sr"),
    wildcard_constraints:
        acq="|".join(DL_ACQUISITIONS) or "T1w",
    params:
        recon=config["recon"],
        accelerations=ACCELERATIONS,
        sampling=config["sampling"],
        seed=config["seed"],
    log:
        f"{LOGS}/recon/sub-{{subject}}_rec-dl_sr_{{acq}}.log",
    benchmark:
        f"{LOGS}/benchmarks/recon/sub-{{subject}}_rec-dl_sr_{{acq}}.tsv"
    threads: JOB_THREADS
    resources:
        mem_mb=lambda wc: mem_mb_for(wc.acq, 8),
        runtime=30 + 20 * len(ACCELERATIONS),
        gpu=1 if config["recon"]["device"] == "cuda" else 0,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/reconstruct_dl_sr.py"

# Retrospective undersampling of fully sampled raw data in the (ky, kz) plane: one job per subject
# and acquisition writes every R (a cohort of N subjects is 2N jobs, not 2N x len(R)), and the
# coil sensitivities from the calibration region, which every mask shares (so they are estimated
# once per subject and acquisition, not per R and method).


rule undersample:
    input:
        raw=get_raw,
    output:
        raw=[undersampled_path("{subject}", "{acq}", R) for R in ACCELERATIONS],
        mask=[
            bids(RESULTS, "{subject}", "mask", datatype="raw", ext=".png", acq=f"R{R}", part="{acq}")
            for R in ACCELERATIONS
        ],
        maps=bids(RESULTS, "{subject}", "coilmaps", datatype="coils", ext=".npy", part="{acq}"),
    params:
        accelerations=ACCELERATIONS,
        retrospective_from=RETROSPECTIVE_FROM,
        sampling=config["sampling"],
        seed=config["seed"],
        coil_method=config["recon"]["coil_method"],
        coil_compression=config["recon"]["coil_compression"],
    log:
        f"{LOGS}/undersample/sub-{{subject}}_{{acq}}.log",
    benchmark:
        f"{LOGS}/benchmarks/undersample/sub-{{subject}}_{{acq}}.tsv"
    threads: JOB_THREADS
    resources:
        mem_mb=lambda wc: mem_mb_for(wc.acq, 4),
        runtime=15 + 2 * len(ACCELERATIONS),
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/undersample.py"

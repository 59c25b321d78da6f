# Retrospective undersampling of fully sampled raw data in the (ky, kz) plane.


rule undersample:
    input:
        raw=get_undersample_source,
    output:
        raw=undersampled_path("{subject}", "{acq}", "{R}"),
        mask=bids(RESULTS, "{subject}", "mask", datatype="raw", ext=".png", acq="R{R}", part="{acq}"),
    params:
        sampling=config["sampling"],
        seed=config["seed"],
    log:
        f"{LOGS}/undersample/sub-{{subject}}_acq-R{{R}}_{{acq}}.log",
    threads: 1
    resources:
        mem_mb=lambda wc: mem_mb_for(wc.acq, 3),
        runtime=5,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/undersample.py"

# Conventional reconstructions (zero-filled, SENSE, CS) of undersampled and reference data.


rule reconstruct:
    input:
        raw=get_undersampled,
    output:
        mag=recon_path("{subject}", "{acq}", "{R}", "{rec}", part="mag"),
        phase=recon_path("{subject}", "{acq}", "{R}", "{rec}", part="phase"),
        sidecar=recon_path("{subject}", "{acq}", "{R}", "{rec}", part="mag", ext=".json"),
    wildcard_constraints:
        rec="zf|sense|cs",
    params:
        recon=config["recon"],
    log:
        f"{LOGS}/recon/sub-{{subject}}_acq-R{{R}}_rec-{{rec}}_{{acq}}.log",
    threads: 2
    resources:
        mem_mb=lambda wc: mem_mb_for(wc.acq, 6),
        runtime=30,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/reconstruct.py"

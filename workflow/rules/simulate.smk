# Simulated subjects: raw k-space (ISMRMRD) of every acquisition plus ground-truth maps.


rule simulate_subject:
    output:
        raw=expand(bids(RESULTS, "{{subject}}", "{acq}", datatype="raw", ext=".h5"), acq=ACQUISITIONS),
        mask=truth_path("{subject}", "mask", desc="brain"),
        labels=truth_path("{subject}", "dseg"),
        chi=truth_path("{subject}", "Chimap"),
        t1w=truth_path("{subject}", "T1w"),
        lesions=truth_path("{subject}", "lesions", ext=".tsv"),
        lesion_map=truth_path("{subject}", "lesions"),
    params:
        acquisitions=ACQUISITIONS,
        phantom=config.get("phantom", {}),
        seed=config["seed"],
        row=lambda wc: subjects.loc[wc.subject].to_dict(),
    log:
        f"{LOGS}/simulate/sub-{{subject}}.log",
    benchmark:
        f"{LOGS}/benchmarks/simulate/sub-{{subject}}.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb_for("mGRE", 12),
        runtime=10,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/simulate_subject.py"

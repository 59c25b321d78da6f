# QSM of every mGRE reconstruction, scored against the phantom's true susceptibility.


# One job per subject and QSM method maps every mGRE reconstruction (the reference and each R and
# recon): one process start, and for TGV one torch.compile, instead of one per map.
rule qsm:
    input:
        unpack(get_qsm_inputs),
        mask=get_brain_mask,
    output:
        **qsm_outputs("{qsm}"),
    params:
        maps=QSM_MAPS,
        options=config["qsm"],
    log:
        f"{LOGS}/qsm/sub-{{subject}}_desc-{{qsm}}.log",
    benchmark:
        f"{LOGS}/benchmarks/qsm/sub-{{subject}}_desc-{{qsm}}.tsv"
    threads: JOB_THREADS
    resources:
        mem_mb=lambda wc: mem_mb_for("mGRE", 2),
        runtime=10 + 10 * len(QSM_MAPS),
        gpu=1 if config["qsm"]["device"] == "cuda" else 0,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/qsm.py"


rule qsm_subject_scores:
    input:
        unpack(get_subject_qsm),
        chi=truth_path("{subject}", "Chimap"),
        labels=truth_path("{subject}", "dseg"),
        mask=get_brain_mask,
    output:
        metrics=bids(RESULTS, "{subject}", "qsmmetrics", datatype="metrics", ext=".tsv"),
        roi=bids(RESULTS, "{subject}", "qsmroi", datatype="metrics", ext=".tsv"),
    params:
        subject=lambda wc: wc.subject,
        accelerations=ACCELERATIONS,
        methods=QSM_RECONS,
        qsm_methods=QSM_METHODS,
        reference=REFERENCE_METHOD,
    log:
        f"{LOGS}/qsm/sub-{{subject}}_scores.log",
    threads: 1
    resources:
        mem_mb=lambda wc: mem_mb_for("T1w", 2),
        runtime=10,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/qsm_subject_scores.py"


rule qsm_cohort:
    input:
        metrics=expand(
            bids(RESULTS, "{subject}", "qsmmetrics", datatype="metrics", ext=".tsv"),
            subject=subjects.index,
        ),
        roi=expand(
            bids(RESULTS, "{subject}", "qsmroi", datatype="metrics", ext=".tsv"),
            subject=subjects.index,
        ),
    output:
        metrics=f"{RESULTS}/group/qsm_metrics.tsv",
        summary=report(
            f"{RESULTS}/group/qsm_metrics_summary.tsv",
            caption="../report/qsm_summary.rst",
            category="QSM",
        ),
        roi=report(f"{RESULTS}/group/qsm_roi.tsv", caption="../report/qsm_roi.rst", category="QSM"),
    params:
        sheet=subjects[["subject", "group"]].to_dict("records"),
        statistics=config["statistics"],
        reference=REFERENCE_METHOD,
        simulated=config["simulate"],
    log:
        f"{LOGS}/group/qsm_cohort.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/qsm_cohort.py"


rule figure_qsm_metrics:
    input:
        f"{RESULTS}/group/qsm_metrics.tsv",
    output:
        png=report(
            f"{RESULTS}/figures/qsm_metrics_vs_R.png",
            caption="../report/qsm_metrics_vs_R.rst",
            category="QSM",
        ),
        pdf=f"{RESULTS}/figures/qsm_metrics_vs_R.pdf",
    log:
        f"{LOGS}/figures/qsm_metrics_vs_R.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/figure_qsm_metrics.py"


rule figure_qsm_montage:
    input:
        unpack(get_subject_qsm),
        chi=truth_path("{subject}", "Chimap"),
        mask=get_brain_mask,
    output:
        png=report(
            f"{RESULTS}/figures/qsm_montage_sub-{{subject}}.png",
            caption="../report/qsm_montage.rst",
            category="QSM",
        ),
        pdf=f"{RESULTS}/figures/qsm_montage_sub-{{subject}}.pdf",
    params:
        accelerations=ACCELERATIONS,
        methods=QSM_RECONS,
        qsm_methods=QSM_METHODS,
    log:
        f"{LOGS}/figures/qsm_montage_sub-{{subject}}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/figure_qsm_montage.py"

# Image metrics per subject, the cohort table, and the group summary with paired tests.


rule subject_metrics:
    input:
        unpack(get_subject_recons),
        mask=get_brain_mask,
    output:
        bids(RESULTS, "{subject}", "metrics", datatype="metrics", ext=".tsv"),
    params:
        subject=lambda wc: wc.subject,
        acquisitions=ACQUISITIONS,
        accelerations=ACCELERATIONS,
        methods={acq: methods_for(acq) for acq in ACQUISITIONS},
        normalise=config["metrics"]["normalise"],
    log:
        f"{LOGS}/metrics/sub-{{subject}}.log",
    threads: 1
    resources:
        mem_mb=lambda wc: mem_mb_for("mGRE", 2),
        runtime=10,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/subject_metrics.py"


rule cohort_metrics:
    input:
        unpack(dl_manifests),
        tables=expand(
            bids(RESULTS, "{subject}", "metrics", datatype="metrics", ext=".tsv"),
            subject=subjects.index,
        ),
    output:
        table=report(
            f"{RESULTS}/group/metrics.tsv",
            caption="../report/metrics_table.rst",
            category="Tables",
        ),
    params:
        sheet=subjects[["subject", "group"]].to_dict("records"),
        # With a network trained on this cohort, only its test subjects are scored (every method,
        # so the comparison stays paired): train and val images would flatter the network.
        scored=split_subjects("test") if DL_TRAINED_ACQUISITIONS else None,
        # Whether the model saw each subject's anatomy (column model_saw_anatomy; measured data: None).
        anatomies={acq: sheet_anatomies(acq) for acq in ACQUISITIONS},
        methods=lambda wc: methods_paragraph(config, len(subjects)),
        simulated=config["simulate"],
    log:
        f"{LOGS}/group/cohort_metrics.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/cohort_metrics.py"


if DL_HELD_OUT:

    # DL vs CS per R on the subjects whose anatomy the network never saw (paired), and the
    # seed-000 claims; the figure draws the same numbers.
    rule dl_held_out:
        input:
            f"{RESULTS}/group/metrics.tsv",
        output:
            table=report(
                f"{RESULTS}/group/dl_held_out.tsv",
                caption="../report/dl_held_out.rst",
                category="Tables",
            ),
            png=report(
                f"{RESULTS}/figures/dl_held_out.png",
                caption="../report/dl_held_out_figure.rst",
                category="Figures",
            ),
            pdf=f"{RESULTS}/figures/dl_held_out.pdf",
        params:
            methods=lambda wc: methods_paragraph(config, len(subjects)),
            simulated=config["simulate"],
        log:
            f"{LOGS}/group/dl_held_out.log",
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        conda:
            "../../envs/reconstudy.yaml"
        script:
            "../scripts/dl_held_out.py"


rule group_summary:
    input:
        f"{RESULTS}/group/metrics.tsv",
    output:
        table=report(
            f"{RESULTS}/group/metrics_summary.tsv",
            caption="../report/metrics_summary.rst",
            category="Tables",
        ),
        markdown=f"{RESULTS}/group/metrics_summary.md",
        latex=f"{RESULTS}/group/metrics_summary.tex",
    params:
        statistics=config["statistics"],
        methods=lambda wc: methods_paragraph(config, len(subjects)),
        simulated=config["simulate"],
    log:
        f"{LOGS}/group/group_summary.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/group_summary.py"


rule brain_mask:
    input:
        reference=lambda wc: recon_path(wc.subject, ACQUISITIONS[0], "1", REFERENCE_METHOD),
    output:
        bids(RESULTS, "{subject}", "mask", datatype="anat", desc="brain"),
    log:
        f"{LOGS}/mask/sub-{{subject}}.log",
    threads: 1
    resources:
        mem_mb=lambda wc: mem_mb_for(ACQUISITIONS[0], 2),
        runtime=5,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/brain_mask.py"

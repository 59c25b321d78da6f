# Publication figures: metric vs acceleration per method, and a methods x R montage.


rule figure_metrics_vs_R:
    input:
        f"{RESULTS}/group/metrics.tsv",
    output:
        png=report(
            f"{RESULTS}/figures/metrics_vs_R.png",
            caption="../report/metrics_vs_R.rst",
            category="Figures",
        ),
        pdf=f"{RESULTS}/figures/metrics_vs_R.pdf",
    log:
        f"{LOGS}/figures/metrics_vs_R.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/figure_metrics_vs_R.py"


rule figure_montage:
    input:
        unpack(get_subject_recons),
        mask=get_brain_mask,
    output:
        png=report(
            f"{RESULTS}/figures/montage_sub-{{subject}}_{{acq}}.png",
            caption="../report/montage.rst",
            category="Figures",
        ),
        pdf=f"{RESULTS}/figures/montage_sub-{{subject}}_{{acq}}.pdf",
    params:
        accelerations=ACCELERATIONS,
        methods=lambda wc: methods_for(wc.acq),
        reference=REFERENCE_METHOD,
    log:
        f"{LOGS}/figures/montage_sub-{{subject}}_{{acq}}.log",
    threads: 1
    resources:
        mem_mb=lambda wc: mem_mb_for(wc.acq, 2),
        runtime=5,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/figure_montage.py"

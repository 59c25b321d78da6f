# Study-level evidence of the seed studies (config/studies/*.yaml): simulated readers and their
# statistics (seed 000), metric statistics over methods (seed 004 Fig. 3), QSM map errors and
# lesion-wise simulated raters (seed 003), chunked random-forest prediction per reconstruction's
# segmentation (seed 004 Fig. 6).
# Every block is off unless config["studies"][<block>]["enabled"]; with all off (the default
# config) this file adds no job. Rules are thin: the work is in reconstudy.stats,
# reconstudy.readers and reconstudy.studies; helpers are in study_helpers.smk (not common.smk).
include: "study_helpers.smk"


# --- seed 000: simulated readers rate blinded reconstructions ----------------------------------


rule study_reading_packet:
    input:
        unpack(study_reading_images),
    output:
        packet=directory(f"{STUDY}/reading/packet"),
        key=f"{STUDY}/reading/packet_key.tsv",
    params:
        seed=config.get("reading", {}).get("seed", config["seed"]),
        criteria=config.get("reading", {}).get("criteria"),
        title=config.get("reading", {}).get("title", f"Blinded reading ({STUDY_NAME})"),
        dicom=STUDY_READERS.get("dicom", False),
    log:
        f"{STUDY_LOGS}/reading_packet.log",
    threads: 1
    resources:
        mem_mb=lambda wc: mem_mb_for("T1w", 2),
        runtime=20,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/study_reading_packet.py"


rule study_reading_simulate:
    input:
        key=f"{STUDY}/reading/packet_key.tsv",
        metrics=f"{RESULTS}/group/metrics.tsv",
    output:
        f"{STUDY}/reading/ratings_simulated.csv",
    params:
        seed=config.get("reading", {}).get("seed", config["seed"]),
        acq=STUDY_READERS.get("acq", "T1w"),
        metric=STUDY_READERS.get("metric", "ssim"),
        n_readers=STUDY_READERS.get("n_readers", 3),
    log:
        f"{STUDY_LOGS}/reading_simulate.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/study_reading_simulate.py"


rule study_reading_ingest:
    input:
        # real readers' CSVs when studies.readers.ratings lists them, else the simulated readers
        ratings=STUDY_READERS.get("ratings") or [f"{STUDY}/reading/ratings_simulated.csv"],
        key=f"{STUDY}/reading/packet_key.tsv",
    output:
        table=report(
            f"{STUDY}/reading/ratings.tsv", caption="../report/study_ratings.rst", category="Study: readers"
        ),
    log:
        f"{STUDY_LOGS}/reading_ingest.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/study_reading_ingest.py"


rule study_reader_statistics:
    input:
        f"{STUDY}/reading/ratings.tsv",
    output:
        wilcoxon=report(
            f"{STUDY}/tables/reader_wilcoxon.tsv",
            caption="../report/study_reader_wilcoxon.rst",
            category="Study: readers",
        ),
        kappa=report(
            f"{STUDY}/tables/reader_kappa.tsv",
            caption="../report/study_reader_kappa.rst",
            category="Study: readers",
        ),
    params:
        reference=lambda wc: study_reading_reference(),
        order=[c["label"] for c in READING_CASES],
        seed=config["seed"],
        methods=lambda wc: study_methods_paragraph(config, len(subjects)),
    log:
        f"{STUDY_LOGS}/reader_statistics.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/study_reader_statistics.py"


rule study_figure_ratings:
    input:
        ratings=f"{STUDY}/reading/ratings.tsv",
        key=f"{STUDY}/reading/packet_key.tsv",
    output:
        png=report(
            f"{STUDY}/figures/rating_distributions.png",
            caption="../report/study_rating_distributions.rst",
            category="Study: readers",
        ),
        pdf=f"{STUDY}/figures/rating_distributions.pdf",
        table=f"{STUDY}/figures/rating_distributions.tsv",
    params:
        order=[c["label"] for c in READING_CASES],
    log:
        f"{STUDY_LOGS}/figure_ratings.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/study_figure_ratings.py"


# --- seed 004 Fig. 3: image metrics across reconstructions ---------------------------------------


rule study_method_statistics:
    input:
        f"{RESULTS}/group/metrics.tsv",
    output:
        anova=report(
            f"{STUDY}/tables/method_anova.tsv",
            caption="../report/study_method_anova.rst",
            category="Study: metrics",
        ),
        posthoc=report(
            f"{STUDY}/tables/method_posthoc.tsv",
            caption="../report/study_method_posthoc.rst",
            category="Study: metrics",
        ),
    params:
        metrics=STUDY_METHOD_STATS.get("metrics", ["psnr", "ssim"]),
        correction=STUDY_METHOD_STATS.get("correction", "fdr_bh"),
        simulated=config["simulate"],
        methods=lambda wc: study_methods_paragraph(config, len(subjects)),
    log:
        f"{STUDY_LOGS}/method_statistics.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/study_method_statistics.py"


rule study_figure_metric_boxplots:
    input:
        f"{RESULTS}/group/metrics.tsv",
    output:
        png=report(
            f"{STUDY}/figures/metric_boxplots_{{acq}}.png",
            caption="../report/study_metric_boxplots.rst",
            category="Study: metrics",
        ),
        pdf=f"{STUDY}/figures/metric_boxplots_{{acq}}.pdf",
    params:
        metrics=STUDY_METHOD_STATS.get("metrics", ["psnr", "ssim"]),
        simulated=config["simulate"],
    log:
        f"{STUDY_LOGS}/figure_metric_boxplots_{{acq}}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/study_figure_metric_boxplots.py"


# --- seed 003: QSM against the reference map, lesion-wise simulated raters -----------------------


rule study_qsm_subject:
    input:
        unpack(study_qsm_maps),
        labels=truth_path("{subject}", "dseg"),
        lesions=truth_path("{subject}", "lesions", ext=".tsv"),
        lesion_map=truth_path("{subject}", "lesions"),
        mask=get_brain_mask,
    output:
        errors=f"{STUDY}/qsm/sub-{{subject}}_errors.tsv",
        roi=f"{STUDY}/qsm/sub-{{subject}}_roi.tsv",
        lesions=f"{STUDY}/qsm/sub-{{subject}}_lesions.tsv",
    params:
        subject=lambda wc: wc.subject,
        accelerations=ACCELERATIONS,
        recons=QSM_RECONS,
        rated_R=STUDY_QSM_R,
    log:
        f"{STUDY_LOGS}/qsm_sub-{{subject}}.log",
    threads: 1
    resources:
        mem_mb=lambda wc: mem_mb_for("T1w", 3),
        runtime=10,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/study_qsm_subject.py"


rule study_qsm_cohort:
    input:
        errors=expand(f"{STUDY}/qsm/sub-{{subject}}_errors.tsv", subject=subjects.index),
        roi=expand(f"{STUDY}/qsm/sub-{{subject}}_roi.tsv", subject=subjects.index),
        lesions=expand(f"{STUDY}/qsm/sub-{{subject}}_lesions.tsv", subject=subjects.index),
        truth=expand(truth_path("{subject}", "lesions", ext=".tsv"), subject=subjects.index),
    output:
        errors=report(
            f"{STUDY}/tables/qsm_map_errors.tsv",
            caption="../report/study_qsm_map_errors.rst",
            category="Study: QSM",
        ),
        roi=report(
            f"{STUDY}/tables/qsm_roi_differences.tsv",
            caption="../report/study_qsm_roi.rst",
            category="Study: QSM",
        ),
        ratings=f"{STUDY}/tables/qsm_lesion_ratings.tsv",
        kappa=report(
            f"{STUDY}/tables/qsm_lesion_kappa.tsv",
            caption="../report/study_qsm_kappa.rst",
            category="Study: QSM",
        ),
        diagnostic=report(
            f"{STUDY}/tables/qsm_lesion_diagnostic.tsv",
            caption="../report/study_qsm_diagnostic.rst",
            category="Study: QSM",
        ),
        wilcoxon=report(
            f"{STUDY}/tables/qsm_lesion_wilcoxon.tsv",
            caption="../report/study_qsm_wilcoxon.rst",
            category="Study: QSM",
        ),
        png=report(
            f"{STUDY}/figures/qsm_lesion_confidence.png",
            caption="../report/study_qsm_confidence.rst",
            category="Study: QSM",
        ),
        pdf=f"{STUDY}/figures/qsm_lesion_confidence.pdf",
    params:
        subjects=list(subjects.index),
        seed=config["seed"],
        n_raters=STUDY_QSM.get("n_raters", 2),
        reference_rec=STUDY_QSM_REFERENCE,
        rated_R=STUDY_QSM_R,
        simulated=config["simulate"],
        methods=lambda wc: study_methods_paragraph(config, len(subjects)),
    log:
        f"{STUDY_LOGS}/qsm_cohort.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/study_qsm_cohort.py"


# --- seed 004 Fig. 6: diagnosis prediction per reconstruction, repetitions in chunks -------------
# One features job (every source), one job per chunk of repetitions (every source, same seeds, so
# the sources' results are paired by repetition), one gather job (tables and figures).


rule study_prediction_features:
    input:
        unpack(study_prediction_inputs),
    output:
        report(
            f"{STUDY}/prediction/features.tsv",
            caption="../report/study_prediction_features.rst",
            category="Study: prediction",
        ),
    params:
        subjects=PREDICTION_SUBJECTS,
        sources=PREDICTION_SOURCES,
        sheet=subjects.reindex(columns=["subject", "group", "age", "sex"]).to_dict("records"),
        simulated=config["simulate"],
    log:
        f"{STUDY_LOGS}/prediction_features.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/study_prediction_features.py"


rule study_prediction_chunk:
    input:
        f"{STUDY}/prediction/features.tsv",
    output:
        f"{STUDY}/prediction/chunks/chunk-{{chunk}}.tsv",
    params:
        reps=lambda wc: PREDICTION_CHUNKS[int(wc.chunk)],
        sources=[source["id"] for source in PREDICTION_SOURCES],
        seed=config["seed"],
        positive=STUDY_PREDICTION.get("positive", "group == impaired"),
        folds=STUDY_PREDICTION.get("folds", 10),
        n_estimators=STUDY_PREDICTION.get("n_estimators", 100),
    log:
        f"{STUDY_LOGS}/prediction_chunk-{{chunk}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=prediction_chunk_runtime,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/study_prediction_chunk.py"


rule study_prediction_gather:
    input:
        expand(f"{STUDY}/prediction/chunks/chunk-{{chunk}}.tsv", chunk=range(len(PREDICTION_CHUNKS))),
    output:
        runs=f"{STUDY}/prediction/runs.tsv",
        summary=report(
            f"{STUDY}/tables/prediction_summary.tsv",
            caption="../report/study_prediction_summary.rst",
            category="Study: prediction",
        ),
        table=report(
            f"{STUDY}/tables/prediction_scores.tsv",
            caption="../report/study_prediction_score_table.rst",
            category="Study: prediction",
        ),
        differences=report(
            f"{STUDY}/tables/prediction_importance_differences.tsv",
            caption="../report/study_prediction_differences.rst",
            category="Study: prediction",
        ),
        scores=report(
            f"{STUDY}/figures/prediction_scores.png",
            caption="../report/study_prediction_scores.rst",
            category="Study: prediction",
        ),
        importance=report(
            f"{STUDY}/figures/prediction_importance.png",
            caption="../report/study_prediction_importance.rst",
            category="Study: prediction",
        ),
        scores_pdf=f"{STUDY}/figures/prediction_scores.pdf",
        importance_pdf=f"{STUDY}/figures/prediction_importance.pdf",
    params:
        repetitions=STUDY_PREDICTION.get("repetitions", 1000),
        sources=PREDICTION_SOURCES,
        reference=PREDICTION_REFERENCE,
        n_boot=STUDY_PREDICTION.get("n_boot", 2000),
        seed=config["seed"],
        simulated=config["simulate"],
        methods=lambda wc: study_methods_paragraph(config, len(subjects)),
    log:
        f"{STUDY_LOGS}/prediction_gather.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/study_prediction_gather.py"


rule study_methods:
    output:
        report(f"{STUDY}/methods.md", caption="../report/study_methods.rst", category="Study"),
    params:
        text=lambda wc: study_methods_paragraph(config, len(subjects)),
    log:
        f"{STUDY_LOGS}/methods.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=2,
    conda:
        "../../envs/reconstudy.yaml"
    script:
        "../scripts/study_methods.py"

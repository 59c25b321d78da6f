# Brain segmentation of T1w images (docs/segmentation.md, "In the workflow"): label maps, volumes,
# Dice against phantom truth and against the reference's segmentation, group tests of volumes.


include: "segment_helpers.smk"


if SEGMENT_ENABLED:

    # One job per subject segments every chosen T1w image: one model load and one process start.
    rule segment:
        input:
            unpack(get_segment_inputs),
        output:
            **segment_outputs(),
        params:
            subject=lambda wc: wc.subject,
            images=SEGMENT_IMAGES,
            options=SEGMENTATION,
            model=segmenter_model(),
        log:
            f"{LOGS}/segment/sub-{{subject}}.log",
        benchmark:
            f"{LOGS}/benchmarks/segment/sub-{{subject}}.tsv"
        threads: SEGMENTATION["threads"]
        resources:
            mem_mb=3000,
            runtime=5 + 2 * len(SEGMENT_IMAGES),
            gpu=1 if SEGMENTATION["device"] == "cuda" else 0,
        conda:
            "../../envs/reconstudy.yaml"
        script:
            "../scripts/segment_subject.py"

    rule segment_cohort:
        input:
            unpack(get_segment_cohort_chi),
            volumes=expand(
                bids(RESULTS, "{subject}", "segvolumes", datatype="metrics", ext=".tsv"),
                subject=subjects.index,
            ),
            dice=expand(
                bids(RESULTS, "{subject}", "segdice", datatype="metrics", ext=".tsv"),
                subject=subjects.index,
            ),
        output:
            volumes=report(
                f"{SEGMENT_GROUP}_volumes.tsv", caption="../report/segment_volumes.rst", category="Segmentation"
            ),
            dice=report(
                f"{SEGMENT_GROUP}_dice.tsv", caption="../report/segment_dice.rst", category="Segmentation"
            ),
            tests=report(
                f"{SEGMENT_GROUP}_group_tests.tsv",
                caption="../report/segment_group_tests.rst",
                category="Segmentation",
            ),
            chi=f"{SEGMENT_GROUP}_regional_chi.tsv",
        params:
            sheet=subjects[["subject", "group"]].to_dict("records"),
            test=SEGMENTATION["test"],
            qsm=QSM_METHODS[0] if QSM_METHODS else None,
            simulated=config["simulate"],
        log:
            f"{LOGS}/group/segment_cohort.log",
        threads: 1
        resources:
            mem_mb=2000,
            runtime=5,
        conda:
            "../../envs/reconstudy.yaml"
        script:
            "../scripts/segment_cohort.py"

    rule figure_segmentation:
        input:
            volumes=f"{SEGMENT_GROUP}_volumes.tsv",
            dice=f"{SEGMENT_GROUP}_dice.tsv",
        output:
            dice_png=report(
                f"{RESULTS}/figures/segmentation_dice.png",
                caption="../report/segment_dice_figure.rst",
                category="Segmentation",
            ),
            dice_pdf=f"{RESULTS}/figures/segmentation_dice.pdf",
            volumes_png=report(
                f"{RESULTS}/figures/segmentation_volumes.png",
                caption="../report/segment_volumes_figure.rst",
                category="Segmentation",
            ),
            volumes_pdf=f"{RESULTS}/figures/segmentation_volumes.pdf",
        log:
            f"{LOGS}/figures/segmentation.log",
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        conda:
            "../../envs/reconstudy.yaml"
        script:
            "../scripts/segment_figures.py"


if SEG_TRAINED:

    # The embedded segmenter trained on label maps (segmentation.train); segment uses it.
    rule train_seg:
        input:
            label_maps=segmenter_label_maps(),
        output:
            weights=f"{TRAINED_SEGMENTER}/segmenter.pt",
            manifest=f"{TRAINED_SEGMENTER}/manifest.json",
        params:
            train=SEG_TRAIN,
            init_weights=segmenter_init_weights(),
            device=SEGMENTATION["device"],
        log:
            f"{LOGS}/train/segmenter.log",
        benchmark:
            f"{LOGS}/benchmarks/train/segmenter.tsv"
        threads: SEG_TRAIN["threads"]
        resources:
            mem_mb=4000 + 1500 * SEG_TRAIN["workers"],
            runtime=segmenter_runtime(),
            gpu=1 if SEGMENTATION["device"] == "cuda" else 0,
        conda:
            "../../envs/reconstudy.yaml"
        script:
            "../scripts/train_seg.py"

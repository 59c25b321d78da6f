"""Score the embedded segmenter on simulated subjects whose label maps are known.

For each subject of :mod:`reconstudy.phantom` the segmenter runs on four images: the
noise-free T1w (``truth["T1w"]``), the fully sampled T1w reconstructed by root-sum-of-squares
from the simulated k-space (with noise), the noise-free GRE magnitude of the first echo and
its fully sampled RSS image; Dice per structure is computed against the truth label map.
"""

from __future__ import annotations

import json
import logging
import sys

import numpy as np
import pandas as pd

from reconstudy.io.atomic import atomic_path
from reconstudy.segment import labels as L
from reconstudy.segment.dice import dice_per_label
from reconstudy.segment.volumes import volumes_row

log = logging.getLogger("reconstudy")


def subject_images(subject) -> dict[str, np.ndarray]:
    """The four (z, y, x) images of a simulated subject that the segmenter is scored on."""
    from reconstudy.commands.convert import rss_image

    return {
        "T1w_truth": subject.truth["T1w"],
        "T1w_full": rss_image(subject.kspace["T1w"])[0],
        "mGRE_truth": subject.truth["mGRE_magnitude"][0],
        "mGRE_full": rss_image(subject.kspace["mGRE"])[0],
    }


def evaluate_phantom(
    segmenter, subjects, config, seed: int, images=None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Dice (tidy: subject, anatomy, group, image, label, structure, dice) and volumes of each run.

    Args:
        segmenter: an :class:`~reconstudy.segment.embedded.EmbeddedSegmenter`.
        subjects: iterable of (subject_id, group, anatomy).
        config: :class:`reconstudy.phantom.PhantomConfig`.
        seed: phantom master seed.
        images: subset of the image names of :func:`subject_images` (default: all).
    """
    from reconstudy.phantom import simulate_subject

    dice_rows, volume_rows = [], []
    for subject_id, group, anatomy in subjects:
        subject = simulate_subject(subject_id, group, anatomy=anatomy, config=config, seed=seed)
        truth = L.fold_labels(subject.truth["labels"])
        affine = subject.geometry.affine
        volume_rows.append(
            {"image": "truth", "group": group, "anatomy": anatomy, **volumes_row(truth, affine, subject_id)}
        )
        for name, image in subject_images(subject).items():
            if images and name not in images:
                continue
            result = segmenter.segment(image, affine, f"sub-{subject_id} {name}")
            scores = dice_per_label(result.labels, truth, L.EVALUATED)
            for label, value in scores.items():
                dice_rows.append(
                    {
                        "subject": subject_id,
                        "anatomy": anatomy,
                        "group": group,
                        "image": name,
                        "label": label,
                        "structure": L.CSV_NAMES[label],
                        "dice": value,
                        "quality": result.quality["score"],
                        "flags": len(result.quality["flags"]),
                    }
                )
            volume_rows.append(
                {
                    "image": name,
                    "group": group,
                    "anatomy": anatomy,
                    **volumes_row(result.labels, affine, subject_id),
                }
            )
            mean = np.nanmean(list(scores.values()))
            log.info("sub-%s (anatomy %d, %s) %s: mean Dice %.3f", subject_id, anatomy, group, name, mean)
    return pd.DataFrame(dice_rows), pd.DataFrame(volume_rows)


def summarise(dice: pd.DataFrame) -> pd.DataFrame:
    """Mean Dice over the evaluated structures, hippocampus and amygdala (both sides), per image."""

    def block(frame):
        return pd.Series(
            {
                "mean_dice": frame["dice"].mean(),
                "hippocampus": frame[frame["label"].isin([17, 53])]["dice"].mean(),
                "amygdala": frame[frame["label"].isin([18, 54])]["dice"].mean(),
                "n_subjects": frame["subject"].nunique(),
            }
        )

    return dice.groupby("image").apply(block, include_groups=False)


# The structures the group effects are simulated in (both sides summed).
EFFECT_STRUCTURES = {
    "hippocampus": ["left hippocampus", "right hippocampus"],
    "amygdala": ["left amygdala", "right amygdala"],
    "lateral ventricles": ["left lateral ventricle", "right lateral ventricle"],
}


def group_volume_effects(volumes: pd.DataFrame, image: str) -> pd.DataFrame:
    """Impaired minus control volume (%) per subject pair, for hippocampus, amygdala and ventricles.

    Subjects are paired by id (the phantom gives a control and an impaired subject with the
    same id the same anatomy and deformation, so the difference is the group effect only).
    """
    frame = volumes[volumes["image"] == image]
    rows = []
    for subject, pair in frame.groupby("subject"):
        if set(pair["group"]) != {"control", "impaired"}:
            continue
        control = pair[pair["group"] == "control"].iloc[0]
        impaired = pair[pair["group"] == "impaired"].iloc[0]
        for name, columns in EFFECT_STRUCTURES.items():
            c, i = control[columns].sum(), impaired[columns].sum()
            rows.append(
                {"subject": subject, "image": image, "structure": name, "change_percent": 100 * (i - c) / c}
            )
    return pd.DataFrame(rows)


def volume_ratio_to_truth(volumes: pd.DataFrame, image: str) -> pd.DataFrame:
    """Segmented / true volume of hippocampus, amygdala and lateral ventricles (both sides), mean
    over each anatomy's subjects: rows anatomy, columns structure."""
    keys = ["subject", "group"]
    totals = pd.DataFrame({name: volumes[cols].sum(axis=1) for name, cols in EFFECT_STRUCTURES.items()})
    totals[keys + ["anatomy", "image"]] = volumes[keys + ["anatomy", "image"]]
    truth = totals[totals["image"] == "truth"].set_index(keys)
    segmented = totals[totals["image"] == image].set_index(keys)
    ratio = segmented[list(EFFECT_STRUCTURES)] / truth.loc[segmented.index, list(EFFECT_STRUCTURES)]
    return ratio.assign(anatomy=segmented["anatomy"]).groupby("anatomy").mean()


def manifest_block(dice: pd.DataFrame, volumes: pd.DataFrame) -> dict:
    """What a segmenter's manifest records of one evaluation set, per image: mean Dice,
    hippocampus, amygdala and per-structure Dice, the paired group effect (%) next to the
    truth's, and segmented / true volume per anatomy."""
    summary = summarise(dice)
    truth_effects = group_volume_effects(volumes, "truth")
    block = {}
    for image, frame in dice.groupby("image"):
        per_structure = frame.groupby("structure")["dice"].mean()
        effects = group_volume_effects(volumes, image)
        entry = {
            "subjects": sorted(frame["subject"].unique().tolist()),
            "mean_dice": round(float(summary.loc[image, "mean_dice"]), 4),
            "hippocampus": round(float(summary.loc[image, "hippocampus"]), 4),
            "amygdala": round(float(summary.loc[image, "amygdala"]), 4),
            "per_structure": {k: round(float(v), 3) for k, v in per_structure.items()},
            "volume_ratio_to_truth": {
                f"anatomy {a}": {k: round(float(v), 2) for k, v in row.items()}
                for a, row in volume_ratio_to_truth(volumes, image).iterrows()
            },
        }
        if not effects.empty:
            segmented = effects.groupby("structure")["change_percent"].mean()
            truth = truth_effects.groupby("structure")["change_percent"].mean()
            entry["volume_change_percent"] = {
                name: {"segmented": round(float(segmented[name]), 1), "truth": round(float(truth[name]), 1)}
                for name in EFFECT_STRUCTURES
            }
        block[image] = entry
    return block


def main(argv=None) -> int:
    """``python -m reconstudy.segment.evaluate --model DIR --anatomy N [N ...] --ids a b --out PREFIX``."""
    import argparse

    import torch

    from reconstudy.phantom import PhantomConfig
    from reconstudy.progress import configure_logging
    from reconstudy.segment.embedded import EmbeddedSegmenter

    parser = argparse.ArgumentParser(description="Dice of the embedded segmenter on simulated subjects")
    parser.add_argument("--model", default=None)
    parser.add_argument("--anatomy", type=int, nargs="+", required=True)
    parser.add_argument("--ids", nargs="+", default=["e01"])
    parser.add_argument("--groups", nargs="+", default=["control", "impaired"])
    parser.add_argument("--images", nargs="+", default=None)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-flip-average", action="store_true", help="no averaging with the mirrored image")
    parser.add_argument("--no-clean-up", action="store_true", help="keep every piece of each structure")
    parser.add_argument("--tile-divisor", type=int, default=None, help="tile stride = tile // this (2: half)")
    parser.add_argument(
        "--out", required=True, help="prefix of the outputs: _dice.tsv, _volumes.tsv and _manifest.json"
    )
    args = parser.parse_args(argv)
    configure_logging()
    torch.set_num_threads(args.threads)
    options = {} if args.tile_divisor is None else {"tile_divisor": args.tile_divisor}
    segmenter = EmbeddedSegmenter.load(
        args.model, flip_average=not args.no_flip_average, clean_up=not args.no_clean_up, **options
    )
    subjects = [(f"{i}a{a}", g, a) for a in args.anatomy for i in args.ids for g in args.groups]
    dice, volumes = evaluate_phantom(segmenter, subjects, PhantomConfig(), args.seed, images=args.images)
    arguments = sys.argv[1:] if argv is None else list(argv)
    block = {  # computed before anything is written: a failure leaves no partial set of outputs
        "command": " ".join(["python -m reconstudy.segment.evaluate", *arguments]),
        "model_sha256": segmenter.provenance["sha256"],
        **manifest_block(dice, volumes),
    }
    for frame, suffix in ((dice, "dice"), (volumes, "volumes")):
        with atomic_path(f"{args.out}_{suffix}.tsv") as tmp:
            frame.to_csv(tmp, sep="\t", index=False)
    with atomic_path(f"{args.out}_manifest.json") as tmp:
        tmp.write_text(json.dumps(block, indent=2) + "\n")
    print(summarise(dice).round(3).to_string())
    effects = pd.concat([group_volume_effects(volumes, image) for image in volumes["image"].unique()])
    if not effects.empty:
        print(effects.groupby(["image", "structure"])["change_percent"].mean().round(1).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

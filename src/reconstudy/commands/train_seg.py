"""``reconstudy train-seg``: train the embedded contrast-agnostic segmenter on synthetic images."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

log = logging.getLogger("reconstudy")

DESCRIPTION = """\
Train the embedded 3D U-Net segmenter the SynthSeg way: every step draws a new synthetic image
from one of the label maps (random deformation, left-right flip, Gaussian-mixture or tissue-model
intensities per label, bias field, blur, noise) and learns to return the label map, so the
network segments any contrast. Writes OUT/segmenter.pt (state dict, loaded with
torch.load(weights_only=True)) and OUT/manifest.json (sha256, architecture, training config, label
maps, wall time, validation Dice), plus a resumable checkpoint OUT/checkpoint.pt: rerunning the
same command continues where it stopped. Progress (steps/s, ETA, loss) goes to the log.
"""

EPILOG = """\
examples:
  reconstudy train-seg --label-maps resources/anatomy/training_seg_0{1,2,3}.nii.gz \\
      --steps 1300 --out resources/models/segmenter
  reconstudy train-seg --label-maps resources/anatomy/training_seg_0{1,2}.nii.gz \\
      --steps 900 --out results/segmenter/fold-3        # leave anatomy 3 out
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train-seg",
        help="train the embedded segmenter on synthetic images from label maps",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--label-maps", nargs="+", required=True, metavar="NII", help="FreeSurfer label maps")
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (weights, manifest, checkpoint)"
    )
    parser.add_argument("--steps", type=int, default=1300, help="training steps (default 1300)")
    parser.add_argument("--batch-size", type=int, default=1, help="images per step (default 1)")
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="peak Adam learning rate")
    parser.add_argument("--base-channels", type=int, default=8, help="channels of the first U-Net level")
    parser.add_argument("--levels", type=int, default=4, help="U-Net resolution levels")
    parser.add_argument(
        "--patch",
        type=int,
        nargs=3,
        default=(48, 56, 48),
        metavar=("Z", "Y", "X"),
        help="patch size (voxels)",
    )
    parser.add_argument("--voxel-mm", type=float, default=2.5, help="training voxel size in mm (default 2.5)")
    parser.add_argument("--seed", type=int, default=20261126, help="random seed")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--max-minutes", type=float, default=None, help="stop early (checkpointed) after this wall time"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="processes synthesising training images (0: in the main one)"
    )
    parser.add_argument(
        "--synth-on-device",
        action="store_true",
        help="synthesise the training images on --device in the training process instead of in "
        "CPU workers (on a GPU the generator is then no longer CPU-bound)",
    )
    parser.add_argument("--warmup-steps", type=int, default=50, help="linear learning-rate warm-up steps")
    parser.add_argument(
        "--init-weights",
        default=None,
        metavar="PT",
        help="fine-tune: start from these weights (a segmenter.pt or its folder; same architecture)",
    )
    parser.add_argument(
        "--resize-probability",
        type=float,
        default=0.0,
        help="chance that each hippocampus, amygdala and lateral ventricle of a training image is "
        "shrunk or grown (structure-size augmentation; default 0: off)",
    )
    parser.add_argument(
        "--resize-range",
        type=float,
        default=0.3,
        help="largest fraction of a structure's voxels added or removed (default 0.3)",
    )
    parser.add_argument(
        "--harmonise-probability",
        type=float,
        default=0.0,
        help="chance that a training image's hippocampi, amygdalae and lateral ventricles are first "
        "set to their normative share of intracranial volume, as the phantom sets every subject's "
        "(default 0: the label maps' own sizes)",
    )
    parser.add_argument(
        "--atrophy-probability",
        type=float,
        default=0.0,
        help="chance that a training image is atrophied as the phantom's impaired group: hippocampi "
        "and amygdalae lose their rim to CSF, lateral ventricles grow (default 0: off)",
    )
    parser.add_argument(
        "--atrophy-max",
        type=float,
        default=0.4,
        help="largest fraction of a hippocampus or amygdala lost (default 0.4)",
    )
    parser.add_argument(
        "--ventricle-growth-max",
        type=float,
        default=0.6,
        help="largest fractional growth of the lateral ventricles with atrophy (default 0.6)",
    )
    parser.add_argument("--validate", type=int, default=6, help="synthetic validation images (default 6)")
    parser.add_argument("--log", default=None, help="also append the log to this file")
    parser.set_defaults(func=run)


def _own_arguments() -> list[str]:
    argv = sys.argv
    return argv[argv.index("train-seg") + 1 :] if "train-seg" in argv else []


def run(args) -> int:
    from reconstudy.progress import configure_logging
    from reconstudy.segment.synth import SynthConfig
    from reconstudy.segment.train import TrainConfig, train_and_export

    configure_logging(args.log)
    for path in args.label_maps:
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: label map not found (--label-maps)")
    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    config = TrainConfig(
        label_maps=[str(p) for p in args.label_maps],
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        base_channels=args.base_channels,
        levels=args.levels,
        seed=args.seed,
        threads=args.threads,
        warmup_steps=args.warmup_steps,
        init_weights=args.init_weights,
        synth=SynthConfig(
            voxel_mm=args.voxel_mm,
            patch=tuple(args.patch),
            resize_probability=args.resize_probability,
            resize_range=args.resize_range,
            harmonise_probability=args.harmonise_probability,
            atrophy_probability=args.atrophy_probability,
            atrophy_max=args.atrophy_max,
            ventricle_growth_max=args.ventricle_growth_max,
        ),
    )
    train_and_export(
        config,
        Path(args.out),
        device=args.device,
        max_minutes=args.max_minutes,
        workers=args.workers,
        synth_on_device=args.synth_on_device,
        validate=args.validate,
        retrain="reconstudy train-seg " + " ".join(shlex.quote(a) for a in _own_arguments()),
    )
    return 0

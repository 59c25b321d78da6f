"""``reconstudy segment``: brain label map and regional volumes of one image."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Segment a brain image into the SynthSeg 2.0 structures (FreeSurfer label values: cerebral white
matter and cortex, lateral ventricles, thalamus, caudate, putamen, pallidum, hippocampus,
amygdala, accumbens, ventral DC, cerebellum, brain stem, CSF, ...). Backends: 'synthseg' runs
FreeSurfer's mri_synthseg (>= 7.3); 'embedded' runs ReconStudy's own contrast-agnostic 3D U-Net
(resources/models/segmenter, trained on synthetic images); 'auto' (default) takes synthseg when
mri_synthseg is on PATH and embedded otherwise. The label map is written on the input's grid,
with a JSON sidecar (same name, .json) naming the backend, model checksum and quality score; the
volumes CSV has SynthSeg's columns (subject, total intracranial, structures; mm^3). A result that
fails the quality checks (uncertain posteriors, implausible volume, missing structures: e.g. a
non-brain image) is refused unless --allow-low-quality. 2D, empty or constant images are errors.
"""

EPILOG = """\
examples:
  reconstudy segment --image sub-01_T1w.nii.gz --out sub-01_dseg.nii.gz --volumes sub-01_vol.csv
  reconstudy segment --image sub-01_MEGRE.nii.gz --echo 0 --backend embedded --out gre_dseg.nii.gz
  reconstudy segment --image T1.nii.gz --backend synthseg --robust --threads 8 --out seg.nii.gz
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="segment a brain image (SynthSeg if installed, embedded U-Net otherwise) and measure volumes",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--image", required=True, help="input NIfTI image (3D; 4D: see --echo)")
    parser.add_argument("--out", required=True, help="output label map (.nii.gz)")
    parser.add_argument("--volumes", default=None, help="output volumes CSV in SynthSeg's layout")
    parser.add_argument("--backend", choices=("auto", "synthseg", "embedded"), default="auto")
    parser.add_argument("--model", default=None, help="embedded model folder (segmenter.pt + manifest.json)")
    parser.add_argument(
        "--subject", default=None, help="'subject' value in the volumes CSV (default: image path)"
    )
    parser.add_argument("--echo", type=int, default=0, help="volume of a 4D image to segment (default 0)")
    parser.add_argument("--parc", action="store_true", help="synthseg: cortical parcellation")
    parser.add_argument("--robust", action="store_true", help="synthseg: robust model")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    parser.add_argument("--device", default="cpu", help="embedded: cpu or cuda")
    parser.add_argument(
        "--no-flip-average",
        action="store_true",
        help="embedded: skip averaging with the left-right mirrored image (half the time, ~0.02 lower Dice)",
    )
    parser.add_argument(
        "--no-clean-up",
        action="store_true",
        help="embedded: keep every connected piece of each structure (no largest-component clean-up)",
    )
    parser.add_argument(
        "--tile-divisor",
        type=int,
        default=None,
        help="embedded: tiles overlap with a stride of the tile size over this (default 3; 2 halves the "
        "time for ~0.01-0.02 lower Dice)",
    )
    parser.add_argument(
        "--allow-low-quality",
        action="store_true",
        help="write results that fail the quality checks (flagged)",
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from reconstudy.segment.app import segment_file

    # the library's default unless given (0 or a negative value is the segmenter's error)
    options = {} if args.tile_divisor is None else {"tile_divisor": args.tile_divisor}
    result = segment_file(
        args.image,
        args.out,
        args.volumes,
        backend=args.backend,
        model=args.model,
        subject=args.subject,
        echo=args.echo,
        parc=args.parc,
        robust=args.robust,
        threads=args.threads,
        device=args.device,
        allow_low_quality=args.allow_low_quality,
        flip_average=not args.no_flip_average,
        clean_up=not args.no_clean_up,
        **options,
    )
    quality = result.quality.get("score")
    print(
        f"{args.out}: backend {result.backend}" + (f", quality {quality:.3f}" if quality is not None else "")
    )
    return 0

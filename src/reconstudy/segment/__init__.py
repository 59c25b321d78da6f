"""Brain segmentation (SynthSeg via FreeSurfer, or the embedded U-Net) and regional biomarkers.

Example:
    >>> from reconstudy.segment import segment_file
    >>> result = segment_file("sub-01_T1w.nii.gz", "sub-01_dseg.nii.gz", "sub-01_volumes.csv")
    >>> result.backend, result.quality["score"]
"""

from reconstudy.segment.app import choose_backend, segment_file
from reconstudy.segment.dice import dice_per_label, mean_dice
from reconstudy.segment.embedded import EmbeddedSegmenter, SegmentationResult

__all__ = [
    "EmbeddedSegmenter",
    "SegmentationResult",
    "choose_backend",
    "dice_per_label",
    "mean_dice",
    "segment_file",
]

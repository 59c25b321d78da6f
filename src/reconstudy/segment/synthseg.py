"""FreeSurfer's ``mri_synthseg`` as a nipype interface, and the SynthSeg backend built on it.

``mri_synthseg --i IN --o OUT [--parc] [--robust] [--vol CSV] [--threads N]`` (FreeSurfer >= 7.3)
segments at 1 mm on its own cropped grid; :func:`run_synthseg` brings the label map back onto
the input's grid (nearest neighbour in world space) so both backends answer on the same grid.

References:
    Billot B et al. SynthSeg. Medical Image Analysis 86:102789, 2023; Billot B et al. Robust
    machine learning segmentation for large-scale analysis of heterogeneous clinical brain MRI
    datasets. PNAS 120(9):e2216399120, 2023 (``--robust``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nipype.interfaces.base import CommandLine, CommandLineInputSpec, File, TraitedSpec, traits

EXECUTABLE = "mri_synthseg"


class SynthSegInputSpec(CommandLineInputSpec):
    in_file = File(exists=True, mandatory=True, argstr="--i %s", position=0, desc="input image (NIfTI/MGZ)")
    out_file = File(mandatory=True, argstr="--o %s", position=1, desc="output label map")
    parc = traits.Bool(argstr="--parc", desc="add the cortical parcellation")
    robust = traits.Bool(argstr="--robust", desc="robust model for low-resolution or clinical scans")
    vol = File(argstr="--vol %s", desc="write regional volumes to this CSV")
    threads = traits.Int(argstr="--threads %d", desc="CPU threads")
    cpu = traits.Bool(argstr="--cpu", desc="run on the CPU even if a GPU is present")


class SynthSegOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="label map")
    vol = File(desc="volumes CSV")


class SynthSeg(CommandLine):
    """nipype interface to ``mri_synthseg``.

    Example:
        >>> seg = SynthSeg(in_file="T1.nii.gz", out_file="seg.nii.gz", vol="vol.csv", robust=True, threads=4)
        >>> seg.cmdline
        'mri_synthseg --i T1.nii.gz --o seg.nii.gz --robust --threads 4 --vol vol.csv'
    """

    _cmd = EXECUTABLE
    input_spec = SynthSegInputSpec
    output_spec = SynthSegOutputSpec

    def _list_outputs(self):
        outputs = self.output_spec().get()
        outputs["out_file"] = str(Path(self.inputs.out_file).absolute())
        if self.inputs.vol:
            outputs["vol"] = str(Path(self.inputs.vol).absolute())
        return outputs


def synthseg_available() -> bool:
    return shutil.which(EXECUTABLE) is not None


def run_synthseg(
    image_path, out_path, volumes_path=None, *, parc=False, robust=False, threads=1, workdir=None
):
    """Run ``mri_synthseg`` on ``image_path``; return (labels on the input grid, affine, volumes table).

    Outputs of the tool go to a working folder first; the caller writes the final files.
    """
    import tempfile

    from reconstudy.io.nifti import load_image
    from reconstudy.segment.embedded import resample_labels
    from reconstudy.segment.volumes import read_volumes_csv

    if not synthseg_available():
        raise FileNotFoundError(
            f"{EXECUTABLE} not found on PATH: install FreeSurfer >= 7.3 and source its setup, "
            "or use --backend embedded"
        )
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        seg_path = Path(tmp) / "synthseg.nii.gz"
        vol_path = Path(tmp) / "volumes.csv"
        interface = SynthSeg(
            in_file=str(image_path), out_file=str(seg_path), vol=str(vol_path), parc=parc, robust=robust
        )
        interface.inputs.threads = int(threads)
        interface.run(cwd=tmp)
        labels, seg_affine = load_image(seg_path)
        table = read_volumes_csv(vol_path)
    image, affine = load_image(image_path)
    native = resample_labels(labels.astype("int16"), seg_affine, affine, image.shape[-3:])
    return native, affine, table

"""Write a simulated subject's ground truth: NIfTI maps plus the lesion table (TSV + JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from reconstudy.io.atomic import atomic_path
from reconstudy.io.nifti import save_image

# truth key -> (file name after the prefix, dtype)
TRUTH_FILES = {
    "labels": ("desc-truth_dseg.nii.gz", np.int16),
    "chi": ("desc-truth_Chimap.nii.gz", np.float32),
    "brain_mask": ("desc-brain_mask.nii.gz", np.uint8),
    "T1w": ("desc-truth_T1w.nii.gz", np.float32),
    "mGRE_magnitude": ("desc-truth_part-mag_MEGRE.nii.gz", np.float32),
    "mGRE_phase0": ("desc-truthphase0_part-phase_MEGRE.nii.gz", np.float32),
    "field_total": ("desc-truthtotal_fieldmap.nii.gz", np.float32),
    "field_local": ("desc-truthlocal_fieldmap.nii.gz", np.float32),
    "lesions": ("desc-truth_lesions.nii.gz", np.int16),
}

LESION_COLUMNS = {
    "lesion_id": ("lesion id; its voxels have this value in the lesion map", "n/a"),
    "kind": ("prl (paramagnetic rim lesion) | hyper (hyperintense on QSM) | iso (isointense)", "n/a"),
    "centre_x": ("centre voxel index along x (NIfTI i)", "voxel"),
    "centre_y": ("centre voxel index along y (NIfTI j)", "voxel"),
    "centre_z": ("centre voxel index along z (NIfTI k)", "voxel"),
    "centre_ras_x_mm": ("centre in scanner RAS+ coordinates", "mm"),
    "centre_ras_y_mm": ("centre in scanner RAS+ coordinates", "mm"),
    "centre_ras_z_mm": ("centre in scanner RAS+ coordinates", "mm"),
    "radius_mm": ("sphere radius (voxels outside white matter are not lesion)", "mm"),
    "core_chi_ppm": ("susceptibility of the lesion (core for prl), relative to CSF", "ppm"),
    "rim_chi_ppm": ("susceptibility of the paramagnetic rim (n/a without rim)", "ppm"),
    "n_voxels": ("number of lesion voxels", "voxel"),
}


def write_truth(subject, out_dir, prefix: str) -> dict[str, Path]:
    """Write ``subject.truth`` as NIfTI and the lesion table; return ``{truth key: path}``.

    Names are BIDS-like, e.g. ``{prefix}_desc-truth_dseg.nii.gz``, ``{prefix}_desc-truth_Chimap.nii.gz``,
    ``{prefix}_desc-brain_mask.nii.gz``, ``{prefix}_desc-truth_T1w.nii.gz`` and
    ``{prefix}_desc-truth_lesions.tsv`` (+ ``.json`` sidecar). Field maps are in ppm.
    Every file is written atomically.
    """
    out_dir = Path(out_dir)
    affine = subject.geometry.affine
    paths = {}
    for key, (name, dtype) in TRUTH_FILES.items():
        if key in subject.truth:
            paths[key] = save_image(out_dir / f"{prefix}_{name}", subject.truth[key].astype(dtype), affine)
    tsv = out_dir / f"{prefix}_desc-truth_lesions.tsv"
    with atomic_path(tsv) as tmp:
        subject.lesions.to_csv(tmp, sep="\t", index=False, na_rep="n/a", float_format="%.6g")
    sidecar = {
        "Description": "Simulated lesions of one subject (reconstudy.phantom); empty unless the group is ms.",
        "Columns": {k: {"Description": d, "Units": u} for k, (d, u) in LESION_COLUMNS.items()},
        "Subject": subject.info.get("subject_id"),
        "Group": subject.info.get("group"),
        "Seed": subject.info.get("seed"),
    }
    json_path = tsv.with_suffix(".json")
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(sidecar, indent=1))
    paths["lesions_table"] = tsv
    paths["lesions_sidecar"] = json_path
    return paths

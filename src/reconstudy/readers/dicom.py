"""De-identified DICOM series for reading a case in a PACS viewer.

Each case becomes one MR Image Storage series, one file per slice, whose patient is the
case's opaque ID: no names, no dates, no method, fresh UIDs. The geometry comes from the
NIfTI affine so a viewer places, orients and measures the images correctly.

Geometry (DICOM PS3.3 C.7.6.2.1.1): a pixel at column ``c`` and row ``r`` of a slice lies at

    P = ImagePositionPatient + c · Δc · X + r · Δr · Y     (LPS+ millimetres)

with ``X``/``Y`` the row/column direction cosines (``ImageOrientationPatient``) and
``PixelSpacing = [Δr, Δc]``. Volumes are first reoriented to LPS+ voxel axes
(:func:`reconstudy.readers.montage.lps_canonical`) so that a viewer which ignores geometry still
shows the axial slices in radiological orientation.

References:
    DICOM PS3.3 (2024): A.4 MR Image IOD; C.7.6.2 Image Plane Module; E.1.1 Basic Application
    Level Confidentiality Profile (attributes to remove or replace).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, MRImageStorage

from reconstudy.readers.montage import Window, lps_canonical

# Stored values span 12 bits, as on most MR scanners; the subject window maps into this range.
STORED_MAX = 4095
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def random_uid(rng: np.random.Generator) -> UID:
    """A ``2.25.<UUID>`` UID (ISO/IEC 9834-8) from ``rng``: reproducible with the seed, and
    unrelated to anything about the subject or the method."""
    return UID(f"2.25.{uuid.UUID(bytes=rng.bytes(16), version=4).int}")


def stored_values(volume: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Map ``value_range`` linearly onto ``0..STORED_MAX`` (clipped) as uint16.

    One ``value_range`` per subject keeps intensities comparable between that subject's cases.
    """
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ValueError(f"value_range must be (low, high) with high > low; got {value_range}")
    scaled = (np.nan_to_num(np.asarray(volume, float), nan=low) - low) / (high - low)
    return np.round(np.clip(scaled, 0.0, 1.0) * STORED_MAX).astype(np.uint16)


def slice_geometry(affine_ijk: np.ndarray, k: int) -> dict:
    """Image Plane attributes of slice ``k`` of an ``(i, j, k)`` volume with voxel-to-RAS ``affine_ijk``.

    Rows of the stored pixel array follow ``j`` and columns follow ``i``.
    """
    lps = RAS_TO_LPS @ affine_ijk[:3, :3]
    spacing = np.sqrt((lps**2).sum(axis=0))
    row_dir, col_dir = lps[:, 0] / spacing[0], lps[:, 1] / spacing[1]
    position = RAS_TO_LPS @ (affine_ijk @ np.array([0.0, 0.0, float(k), 1.0]))[:3]
    normal = np.cross(row_dir, col_dir)
    return {
        "ImageOrientationPatient": [_ds(v) for v in (*row_dir, *col_dir)],
        "ImagePositionPatient": [_ds(v) for v in position],
        "PixelSpacing": [_ds(spacing[1]), _ds(spacing[0])],
        "SliceThickness": _ds(abs(float(np.dot(lps[:, 2], normal)))),
        "SpacingBetweenSlices": _ds(abs(float(np.dot(lps[:, 2], normal)))),
        "SliceLocation": _ds(float(np.dot(position, normal))),
    }


def _ds(value: float) -> str:
    """A decimal string of at most 16 characters (the DS value limit)."""
    text = f"{float(value):.10g}"
    return text if len(text) <= 16 else f"{float(value):.8e}"


def _base_dataset(case_id: str, study_uid: UID, series_uid: UID, frame_uid: UID) -> Dataset:
    ds = Dataset()
    # Patient and study: the opaque case ID stands in for every identifier; dates stay empty.
    ds.PatientName = case_id
    ds.PatientID = case_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "reconstudy reading packet: opaque case ID, no dates, new UIDs"
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Blinded reading"
    # Series and equipment: nothing names the reconstruction.
    ds.Modality = "MR"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 1
    ds.SeriesDescription = case_id
    ds.Manufacturer = ""
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    # MR image module: a derived image; acquisition parameters are not disclosed.
    ds.ImageType = ["DERIVED", "SECONDARY", "OTHER"]
    ds.ScanningSequence = "RM"
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "3D"
    ds.RepetitionTime = ""
    ds.EchoTime = ""
    ds.EchoTrainLength = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    return ds


def write_dicom_series(
    directory,
    volume_zyx: np.ndarray,
    affine: np.ndarray,
    *,
    case_id: str,
    value_range: tuple[float, float],
    window: Window,
    rng: np.random.Generator,
) -> list[Path]:
    """Write one de-identified MR series, one file per slice, into ``directory``.

    Args:
        directory: folder to create (inside a packet being built; the packet itself is
            renamed into place atomically, so files here are written directly).
        volume_zyx: real ``(z, y, x)`` image.
        affine: voxel-to-RAS+ affine of the library ``(x, y, z)`` indices.
        case_id: opaque ID used as patient name, patient ID and series description.
        value_range: intensities mapped to stored values ``0..4095`` (one range per subject).
        window: default display window (one per subject), in the same units as the volume.
        rng: generator for the UIDs (derive it from the packet seed and the case).

    Returns:
        The written file paths, in slice order.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=False)
    vol_ijk, affine_ijk = lps_canonical(volume_zyx, affine)
    pixels = stored_values(vol_ijk, value_range)
    low, high = value_range
    to_stored = STORED_MAX / (high - low)
    centre = ((window.low + window.high) / 2 - low) * to_stored
    width = max((window.high - window.low) * to_stored, 1.0)
    study_uid, series_uid, frame_uid = random_uid(rng), random_uid(rng), random_uid(rng)
    paths = []
    for k in range(vol_ijk.shape[2]):
        ds = _base_dataset(case_id, study_uid, series_uid, frame_uid)
        sop_uid = random_uid(rng)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.InstanceNumber = k + 1
        for key, value in slice_geometry(affine_ijk, k).items():
            setattr(ds, key, value)
        plane = np.ascontiguousarray(pixels[:, :, k].T)
        ds.Rows, ds.Columns = plane.shape
        ds.WindowCenter = _ds(centre)
        ds.WindowWidth = _ds(width)
        ds.PixelData = plane.tobytes()
        path = directory / f"IM{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths

"""Readers and writers: raw k-space (ISMRMRD, fastMRI, twix, BART cfl), NIfTI images, tables."""

from reconstudy.io.kspace import Geometry, KSpace
from reconstudy.io.nifti import load_image, save_image

__all__ = ["Geometry", "KSpace", "load_image", "save_image"]

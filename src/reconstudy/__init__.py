"""ReconStudy: accelerated MRI reconstruction studies, from raw k-space to group statistics."""

__version__ = "0.1.0"

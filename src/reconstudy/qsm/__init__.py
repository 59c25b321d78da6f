"""Quantitative susceptibility mapping: one-step TGV-QSM (PyTorch, CPU/CUDA) and a classic
Laplacian-unwrapping + V-SHARP + dipole-inversion pipeline, brain masks, echo combination,
ROI tables and QSM-challenge metrics. See docs/qsm.md."""

from reconstudy.qsm.classic import classic_qsm
from reconstudy.qsm.mask import brain_mask
from reconstudy.qsm.metrics import qsm_metrics
from reconstudy.qsm.pipeline import check_phase_radians, qsm
from reconstudy.qsm.roi import roi_table
from reconstudy.qsm.tgv import julia_alpha, tgv_qsm

__all__ = [
    "brain_mask",
    "check_phase_radians",
    "classic_qsm",
    "julia_alpha",
    "qsm",
    "qsm_metrics",
    "roi_table",
    "tgv_qsm",
]

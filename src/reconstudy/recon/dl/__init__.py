"""Deep-learning reconstruction: pure ``nn.Module`` models, model files and plane-wise inference.

Training lives apart, in :mod:`reconstudy.training`.
"""

from reconstudy.recon.dl.inference import dl_reconstruct
from reconstudy.recon.dl.io import load_model, save_model
from reconstudy.recon.dl.modl import MoDL
from reconstudy.recon.dl.superres import SuperResolution, centre_box_mask
from reconstudy.recon.dl.varnet import VarNet

__all__ = [
    "VarNet",
    "MoDL",
    "SuperResolution",
    "centre_box_mask",
    "dl_reconstruct",
    "load_model",
    "save_model",
]

"""Simulated cohort with ground truth: anatomy, group effects, tissue, fields, coils, noise.

See docs/phantom.md for the model, its equations, parameters and limits.

Example:
    >>> from reconstudy.phantom import PhantomConfig, simulate_subject, write_truth
    >>> config = PhantomConfig.from_dict(snakemake_config["phantom"])
    >>> subject = simulate_subject("01", "control", anatomy=1, config=config, seed=20261126)
    >>> subject.kspace["mGRE"].data.shape   # (echo, coil, kz, ky, kx)
    >>> write_truth(subject, "results/sub-01/truth", "sub-01")
"""

from reconstudy.phantom.config import GROUPS, MGREConfig, PhantomConfig, T1wConfig
from reconstudy.phantom.simulate import SimulatedSubject, simulate_subject, subject_key
from reconstudy.phantom.tissue import load_tissue_table
from reconstudy.phantom.truth import write_truth

__all__ = [
    "GROUPS",
    "MGREConfig",
    "PhantomConfig",
    "SimulatedSubject",
    "T1wConfig",
    "load_tissue_table",
    "simulate_subject",
    "subject_key",
    "write_truth",
]

"""What produced a result: software versions and a methods paragraph for the paper."""

from __future__ import annotations

import platform
from importlib import metadata

TOOLS = (
    "reconstudy", "numpy", "scipy", "torch", "nibabel", "ismrmrd", "pandas",
    "scikit-learn", "statsmodels", "pingouin", "matplotlib", "snakemake",
)


def software_versions(packages=TOOLS) -> dict[str, str]:
    """Installed versions of the packages that shape results (``"absent"`` if not installed)."""
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def methods_paragraph(config: dict, n_subjects: int) -> str:
    """A methods paragraph naming each step, its parameters and the tool versions."""
    v = software_versions()
    sampling, recon = config["sampling"], config["recon"]
    accelerations = ", ".join(f"{r:g}" for r in sampling["accelerations"])
    pattern = {
        "poisson": "variable-density Poisson-disc",
        "phyllotaxis": "Cartesian phyllotaxis (Mussard et al., MRM 2020)",
        "equispaced": "equispaced with a fully sampled centre",
    }[sampling["pattern"]]
    methods = {
        "zf": "zero-filling with coil combination",
        "sense": "iterative SENSE (conjugate gradient)",
        "cs": f"compressed sensing ({recon.get('cs', {}).get('regulariser', 'wavelet')}-regularised, FISTA)",
        "dl": f"an unrolled network with CG data consistency (MoDL; PyTorch {v['torch']})",
        "dl_sr": (
            "a low-resolution acquisition (central half of each phase-encode axis) reconstructed by "
            "that network, then 2x super-resolved by a residual U-Net that keeps the acquired k-space"
        ),
    }
    described = "; ".join(methods[m] for m in recon["methods"])
    espirit3d = (
        "with ESPIRiT (Uecker et al. 2014) from one 3D (kz, ky, kx) calibration per volume (3D "
        "encodings; per slice for multi-slice data)"
    )
    coil_maps = {
        "espirit": espirit3d,
        "espirit3d": espirit3d,
        "espirit2d": "with ESPIRiT (Uecker et al. 2014), calibrated per readout plane or slice",
        "lowres": "as low-resolution coil images normalised by their root sum of squares",
    }[recon.get("coil_method", "espirit")]
    simulated = "simulated with reconstudy.phantom" if config.get("simulate", True) else "measured"
    return (
        f"Raw multi-coil k-space of {n_subjects} subjects ({simulated}) was retrospectively "
        f"undersampled in the (ky, kz) plane with a {pattern} pattern and a "
        f"{sampling['calibration']}x{sampling['calibration']} fully sampled calibration region at "
        f"R = {accelerations}, and reconstructed by {described}. Coil sensitivities were "
        f"estimated {coil_maps} from the calibration region. Images were compared with the "
        f"fully sampled {recon['reference']} reconstruction inside the brain mask by PSNR, SSIM "
        "(3D Gaussian window, sigma 1.5 voxels; Wang et al. 2004) and NMSE; methods were compared "
        "with paired Wilcoxon signed-rank tests and Benjamini-Hochberg correction. Processing "
        f"used ReconStudy {v['reconstudy']} (Snakemake {v['snakemake']}, Python {v['python']}, "
        f"NumPy {v['numpy']}, SciPy {v['scipy']})."
    )

"""QSM from SENSE reconstructions of a simulated noisy mGRE (issue 4): the whole recon → phase → TGV path.

Simulated control subjects at the default-config grid (60×72×60, 3 mm, 4 echoes, noise 0.01),
low-resolution coil maps, CG-SENSE at R = 1 (and R = 4 for subject 01), TGV-QSM with the QSM
settings of ``config/config.yaml`` (eager), scored against the true χ in the final mask as the
workflow does.

History, subject 01 (R = 1 NRMSE / R = 4 NRMSE): 1.05 / 15.1 with the old echo gating (late
echoes switched off by the shortest echo's phase noise); 0.94 / 2.6 after it; 0.68 / 3.2 with
the band-limited phantom background (α = (0.002, 0.003), 500 iterations, χ returned on the
model's ring too); 0.49 / 3.6 since χ is returned only where the Laplacian model holds
(``tgv.model_masks``) and the demo runs α = (0.003, 0.0015), 1,000 iterations (docs/qsm.md,
"Issue 4: what limited TGV at 3 mm"); 0.47 / 3.3 since the primal/dual step balance follows the
voxel size (``tgv.default_step_scale``: 90 at 3 mm instead of 10), which lets 1,000 iterations
converge: the held-out subjects' deep grey, 16-21 ppb low in the putamen before, is now within
the issue's tolerance (docs/qsm.md, "Issue 4: deep grey and the step balance"). α, the
iterations and the step rule were chosen on subject 01 (and the numerical phantom); subjects 02
and 03 (anatomies 2 and 3) are held out.
"""

from pathlib import Path

import numpy as np
import pytest
import yaml

from reconstudy.phantom import PhantomConfig, simulate_subject
from reconstudy.qsm import qsm, qsm_metrics
from reconstudy.recon.api import estimate_coil_maps, reconstruct
from reconstudy.sampling import create_mask

pytestmark = pytest.mark.slow

# each nucleus on each side (FreeSurfer labels), as the workflow's ROI table reports them
NUCLEI = {"caudate": (11, 50), "putamen": (12, 51), "pallidum": (13, 52), "thalamus": (10, 49)}
DEEP_GREY = {f"{name} {side}": label for name, pair in NUCLEI.items() for side, label in zip("LR", pair)}
CONFIG_YAML = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
QSM_CONFIG = yaml.safe_load(CONFIG_YAML.read_text())["qsm"]  # the demo's TGV settings


def _qsm_of_subject(subject_id, anatomy, accelerations):
    """{R: {"metrics", "roi"}} of TGV χ from CG-SENSE of one simulated control subject."""
    config = PhantomConfig.from_dict(
        {"matrix": [60, 72, 60], "voxel_size_mm": [3.0, 3.0, 3.0], "mgre": {"echo_times_ms": [4, 10, 16, 22]}}
    )
    subject = simulate_subject(subject_id, "control", anatomy, config, 20261126)
    kspace = subject.kspace["mGRE"]
    geometry = kspace.geometry
    maps = estimate_coil_maps(kspace, coil_method="lowres")
    truth, labels = subject.truth["chi"], subject.truth["labels"]
    brain = subject.truth["brain_mask"] > 0
    out = {}
    for R in accelerations:
        data = kspace
        if R > 1:
            data = kspace.undersample(create_mask("poisson", kspace.sampling_mask.shape, R, calib=12, seed=7))
        image = reconstruct(data, "sense", coil_maps=maps, iterations=20, lam=1e-3)
        chi, final = qsm(
            np.angle(image),
            np.abs(image),
            brain,
            geometry.echo_times_ms,
            geometry.b0_tesla,
            geometry.voxel_size_mm,
            geometry.b0_direction,
            method="tgv",
            iterations=QSM_CONFIG["iterations"],
            alpha=QSM_CONFIG["alpha"],
            erosions=QSM_CONFIG["erosions"],
            use_compile=False,
            return_mask=True,
        )
        mask = final & brain
        errors = {}
        for name, label in DEEP_GREY.items():
            region = (labels == label) & mask
            est = chi[region].mean() - chi[mask].mean()
            ref = truth[region].mean() - truth[mask].mean()
            errors[name] = (est - ref, ref)
        out[R] = {"metrics": qsm_metrics(chi, truth, mask), "roi": errors}
    return out


@pytest.fixture(scope="module")
def results():
    # subject 01 (anatomy 1): the subject on which the demo's α and iterations were chosen
    return _qsm_of_subject("01", 1, (1, 4))


@pytest.fixture(scope="module")
def held_out():
    # subjects 02 and 03 (anatomies 2 and 3): not used to choose any setting
    return {sid: _qsm_of_subject(sid, anatomy, (1,))[1] for sid, anatomy in (("02", 2), ("03", 3))}


def _within_issue4_tolerance(roi):
    return {name: abs(err) <= max(0.015, 0.2 * abs(ref)) for name, (err, ref) in roi.items()}


def test_issue4_acceptance_on_the_reference(results):
    # issue 4: NRMSE below 60 % in the eroded mask, deep-grey means within 15 ppb or 20 % of truth
    # (measured: NRMSE 0.47; caudate / putamen / pallidum / thalamus L -4 / -6 / -20 / -5,
    # R -5 / -7 / -13 / -5 ppb)
    m = results[1]["metrics"]
    assert m["nrmse"] < 0.60, m
    assert all(_within_issue4_tolerance(results[1]["roi"]).values()), results[1]["roi"]


def test_issue4_nrmse_on_a_held_out_subject(held_out):
    # measured 0.44 (02) and 0.46 (03); 02 was 0.68 with the old output mask, α and iterations
    for sid, result in held_out.items():
        assert result["metrics"]["nrmse"] < 0.60, (sid, result["metrics"])


def test_issue4_deep_grey_on_a_held_out_subject(held_out):
    # Was an expected failure (02's putamen 16-21 ppb low with s = 10): 1,000 iterations had not
    # converged on 3 mm voxels. Measured with the voxel-scaled step balance, caudate / putamen /
    # pallidum / thalamus, L and R (ppb; tolerance 15, pallidum ~30):
    # 02: -12 / -10, -14 / -11, -27 / -15, -9 / -8; 03: -1 / -10, -11 / -11, -17 / -16, -11 / -11
    for sid, result in held_out.items():
        assert all(_within_issue4_tolerance(result["roi"]).values()), (sid, result["roi"])


def test_qsm_from_r4_sense_is_not_noise_dominated(results):
    # was 15 (and 8-30 in the workflow) before the gating fix: the map was noise. R = 4 SENSE
    # phase noise is 0.15-0.25 rad per echo: χ stays above NRMSE 1 whatever the regularisation
    m = results[4]["metrics"]
    assert m["nrmse"] < 5.0, m
    for name, (err, ref) in results[4]["roi"].items():
        assert abs(err) < 0.06, (name, err, ref)

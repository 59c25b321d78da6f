"""``reconstudy qsm``: outputs, refused inputs (no output left behind), and the real mGRE data."""

from pathlib import Path

import numpy as np
import pytest

from reconstudy.cli import main
from reconstudy.io.nifti import load_image, save_image
from reconstudy.qsm import qsm
from reconstudy.qsm.synthetic import make_phantom

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mgre_small"
SCANNER_PHASE_MAX = 0.003674  # mgre_small stores ±π as ±0.003674 (see the data README)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("qsm")
    ph = make_phantom((28, 32, 32), noise=0.01, seed=5)
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    save_image(root / "phase.nii.gz", ph.phase, affine)
    save_image(root / "mag.nii.gz", ph.magnitude, affine)
    save_image(root / "mask.nii.gz", ph.brain.astype(np.uint8), affine)
    return root, ph


def _args(root, *extra, out="chi.nii.gz"):
    return [
        "qsm",
        "--phase",
        str(root / "phase.nii.gz"),
        "--magnitude",
        str(root / "mag.nii.gz"),
        "--te",
        "4,8,12",
        "--b0",
        "3",
        "--out",
        str(root / out),
        *extra,
    ]


@pytest.mark.parametrize("method", ["tgv", "classic"])
def test_cli_writes_chi_map(inputs, method):
    root, ph = inputs
    out = f"chi_{method}.nii.gz"
    rc = main(
        _args(
            root,
            "--method",
            method,
            "--iterations",
            "150" if method == "tgv" else "20",
            "--mask",
            str(root / "mask.nii.gz"),
            "--alpha",
            "20,30",
            "--mask-out",
            str(root / f"m_{method}.nii.gz"),
            out=out,
        )
    )
    assert rc == 0
    chi, affine = load_image(root / out)
    final, _ = load_image(root / f"m_{method}.nii.gz")
    assert chi.shape == ph.chi.shape and np.isfinite(chi).all()
    assert np.allclose(affine, np.eye(4))
    brightest = (ph.labels == 2) & (final > 0)
    assert chi[brightest].mean() > 0.05  # the +0.15 ppm sphere comes out clearly paramagnetic


def _assert_refused(capsys, root, argv, message, out="bad.nii.gz"):
    assert main(argv) == 1
    assert message in capsys.readouterr().err
    assert not (root / out).exists()
    assert not list(root.glob(".bad*"))


def test_cli_refuses_te_count_mismatch(inputs, capsys):
    root, _ = inputs
    argv = _args(root, out="bad.nii.gz")
    argv[argv.index("4,8,12")] = "4,8"
    _assert_refused(capsys, root, argv, "2 echo times")


def test_cli_refuses_phase_not_in_radians(inputs, capsys, tmp_path):
    root, ph = inputs
    save_image(tmp_path / "phase.nii.gz", ph.phase * 4096 / np.pi, np.eye(4))
    (tmp_path / "mag.nii.gz").symlink_to(root / "mag.nii.gz")
    _assert_refused(capsys, tmp_path, _args(tmp_path, out="bad.nii.gz"), "not in radians")


def test_cli_refuses_empty_mask(inputs, capsys, tmp_path):
    root, ph = inputs
    save_image(tmp_path / "empty.nii.gz", np.zeros(ph.brain.shape, np.uint8), np.eye(4))
    _assert_refused(
        capsys, root, _args(root, "--mask", str(tmp_path / "empty.nii.gz"), out="bad.nii.gz"), "empty"
    )


def test_cli_refuses_mismatched_grids(inputs, capsys, tmp_path):
    root, ph = inputs
    save_image(tmp_path / "small.nii.gz", ph.brain[:-2].astype(np.uint8), np.eye(4))
    _assert_refused(
        capsys, root, _args(root, "--mask", str(tmp_path / "small.nii.gz"), out="bad.nii.gz"), "grid"
    )
    shifted = np.eye(4)
    shifted[0, 3] = 5.0
    save_image(tmp_path / "shifted.nii.gz", ph.brain.astype(np.uint8), shifted)
    _assert_refused(
        capsys, root, _args(root, "--mask", str(tmp_path / "shifted.nii.gz"), out="bad.nii.gz"), "affine"
    )


def test_api_refuses_bad_inputs(inputs):
    _, ph = inputs
    with pytest.raises(ValueError, match="method"):
        qsm(ph.phase, ph.magnitude, ph.brain, ph.te_ms, 3.0, (1, 1, 1), method="medi")
    with pytest.raises(ValueError, match="echo times"):
        qsm(ph.phase, ph.magnitude, ph.brain, [4.0], 3.0, (1, 1, 1))
    with pytest.raises(ValueError, match="radians"):
        qsm(ph.phase * 100, ph.magnitude, ph.brain, ph.te_ms, 3.0, (1, 1, 1))


@pytest.mark.skipif(not DATA.exists(), reason="../shared/data/mgre_small not available")
@pytest.mark.parametrize("method", ["tgv", "classic"])
def test_real_mgre_both_methods(method):
    # Real 3-echo GRE (MriResearchTools.jl test data, MIT): phase in scanner units, TE 4/8/12 ms,
    # 0.47 x 0.47 x 1 mm; field strength not stated upstream, 3 T assumed.
    phase, affine = load_image(DATA / "Phase.nii")
    magnitude, _ = load_image(DATA / "Mag.nii")
    phase = phase.astype(np.float32) * np.float32(np.pi / SCANNER_PHASE_MAX)
    from reconstudy.io.nifti import voxel_sizes

    extra = {"use_compile": False} if method == "tgv" else {}
    chi, final = qsm(
        phase,
        magnitude,
        None,
        [4.0, 8.0, 12.0],
        3.0,
        voxel_sizes(affine),
        method=method,
        iterations=300 if method == "tgv" else 30,
        return_mask=True,
        **extra,
    )
    inside = chi[final]
    assert final.sum() > 0.1 * final.size and np.isfinite(chi).all()
    lo, hi = np.percentile(inside, [1, 99])
    assert -0.5 < lo < 0 < hi < 0.5  # brain χ spans about ±0.2 ppm (veins, iron-rich nuclei more)
    assert inside.std() > 0.005  # not a flat map

"""Embedded segmenter: input checks, grids, model loading errors, the shipped model, quality flags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from phantoms import ellipsoid_phantom
from reconstudy.segment import labels as L
from reconstudy.segment.dice import dice_per_label
from reconstudy.segment.embedded import (
    DEFAULT_MODEL_DIR,
    EmbeddedSegmenter,
    check_image,
    resample_labels,
    working_grid,
)
from reconstudy.segment.postprocess import SCATTERED
from reconstudy.segment.synth import SynthConfig, sample_labels, tissue_image
from reconstudy.segment.train import TrainConfig, export_weights
from reconstudy.segment.unet3d import UNet3D

ROOT = Path(__file__).resolve().parents[1]
ANATOMY = ROOT / "resources" / "anatomy" / "training_seg_01.nii.gz"
RAS25 = np.diag([2.5, 2.5, 2.5, 1.0])


def tiny_segmenter():
    torch.manual_seed(0)
    return EmbeddedSegmenter(UNet3D(L.N_CLASSES, base_channels=2, levels=2), 2.5)


@pytest.mark.parametrize(
    "shape, affine, match",
    [
        ((1, 64, 64), RAS25, "3D brain volume"),
        ((40, 40, 3), RAS25, "3D brain volume"),
        ((40, 40, 40), np.diag([1.0, 1.0, 1.0, 1.0]), "60 mm"),
        ((2, 40, 40, 40), RAS25, "one 3D volume"),
    ],
)
def test_check_image_refuses_non_volumes(shape, affine, match):
    with pytest.raises(ValueError, match=match):
        check_image(np.random.default_rng(0).random(shape), affine, "x.nii.gz")


def test_check_image_refuses_empty_and_constant():
    with pytest.raises(ValueError, match="empty or constant"):
        check_image(np.zeros((40, 40, 40)), RAS25, "zeros.nii.gz")
    with pytest.raises(ValueError, match="no finite"):
        check_image(np.full((40, 40, 40), np.nan), RAS25, "nan.nii.gz")


def test_working_grid_is_identity_for_ras_training_grid_and_covers_others():
    affine = RAS25.copy()
    affine[:3, 3] = [-40, -50, -30]
    grid, shape = working_grid(affine, (30, 40, 32), 2.5)
    assert shape == (30, 40, 32) and np.allclose(grid, affine)
    lia = np.array([[-1.0, 0, 0, 80], [0, 0, 1.0, -90], [0, -1.0, 0, 70], [0, 0, 0, 1]])
    grid, shape = working_grid(lia, (100, 120, 110), 2.5)  # (z, y, x) -> x 110 mm, y 100, z 120
    assert shape == (48, 40, 44)


def test_label_resampling_round_trip_between_grids():
    labels = np.zeros((20, 24, 22), np.int16)
    labels[5:15, 6:18, 4:16] = 17
    fine = RAS25.copy()
    fine[:3, :3] /= 2
    up = resample_labels(labels, RAS25, fine, (40, 48, 44))
    back = resample_labels(up, fine, RAS25, labels.shape)
    assert np.array_equal(back, labels)


def test_tiny_net_returns_labels_on_the_input_grid_and_flags_noise():
    seg = tiny_segmenter()
    image = np.random.default_rng(1).random((30, 36, 32)).astype(np.float32)
    lia = np.array([[-2.0, 0, 0, 60], [0, 0, 2.0, -50], [0, -2.0, 0, 40], [0, 0, 0, 1]])
    result = seg.segment(image, lia)
    assert result.labels.shape == image.shape and result.labels.dtype == np.int16
    assert set(np.unique(result.labels)) <= set(L.LABELS.tolist())
    assert not result.ok and result.quality["flags"]  # an untrained net is unsure


def test_homologue_permutation_swaps_sides_and_is_its_own_inverse():
    perm = L.homologue_class_permutation()
    assert np.array_equal(perm[perm], np.arange(L.N_CLASSES))
    labels = L.LABELS
    for left, right in ((17, 53), (18, 54), (4, 43), (2, 41)):
        assert labels[perm[list(labels).index(left)]] == right
    assert labels[perm[list(labels).index(16)]] == 16  # brain stem has no side


def test_flip_average_makes_the_segmentation_mirror_equivariant():
    """Mirroring the image left-right mirrors the labels and swaps sides, exactly (not so without)."""
    image = np.random.default_rng(2).random((24, 28, 26)).astype(np.float32)
    mirror = np.ascontiguousarray(image[..., ::-1])
    perm = L.homologue_class_permutation()
    swap = np.zeros(int(L.LABELS.max()) + 1, np.int16)
    swap[L.LABELS] = L.LABELS[perm]
    results = {}
    for average in (False, True):
        seg = tiny_segmenter()
        seg.flip_average = average
        results[average] = (seg.segment(image, RAS25).labels, seg.segment(mirror, RAS25).labels)
    plain, mirrored = results[True]
    assert np.array_equal(swap[mirrored[..., ::-1]], plain)
    plain, mirrored = results[False]
    assert not np.array_equal(swap[mirrored[..., ::-1]], plain)


@pytest.mark.parametrize("divisor, tiles", [(1, 8), (2, 12), (3, 27), (4, 36)])
def test_tiles_cover_the_image_at_the_chosen_stride(divisor, tiles):
    """Stride = tile // divisor, last tile flush with the edge: 72x88x72 in 48x56x48 tiles."""
    net = UNet3D(L.N_CLASSES, base_channels=2, levels=2)
    seg = EmbeddedSegmenter(net, 2.5, patch=(48, 56, 48), tile_divisor=divisor)
    calls = []

    def uniform(tile):
        calls.append(tile.shape)
        return np.full((L.N_CLASSES, *tile.shape), 1.0 / L.N_CLASSES, np.float32)

    seg._predict = uniform
    prob = seg._tiled_posteriors(np.zeros((72, 88, 72), np.float32))
    assert len(calls) == tiles and set(calls) == {(48, 56, 48)}
    np.testing.assert_allclose(prob.sum(0), 1.0, rtol=1e-5)  # every voxel covered at least once
    with pytest.raises(ValueError, match="tile_divisor"):
        EmbeddedSegmenter(net, 2.5, tile_divisor=0.5)


def _write_tiny_model(folder, base=2):
    torch.manual_seed(0)
    model = UNet3D(L.N_CLASSES, base_channels=base, levels=2)
    config = TrainConfig(label_maps=["x.nii.gz"], base_channels=base, levels=2)
    return export_weights(model, config, {"wall_s": 1.0}, folder / "segmenter.pt", folder / "manifest.json")


def test_loading_checks_manifest_checksum_and_architecture(tmp_path):
    _write_tiny_model(tmp_path)
    assert EmbeddedSegmenter.load(tmp_path).model.config["base_channels"] == 2
    with pytest.raises(FileNotFoundError, match="manifest"):
        EmbeddedSegmenter.load(tmp_path / "nothing")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    # wrong architecture, correct checksum: the error names the manifest
    manifest["architecture"]["base_channels"] = 4
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="manifest.json"):
        EmbeddedSegmenter.load(tmp_path)
    # corrupted weights: checksum mismatch
    data = bytearray((tmp_path / "segmenter.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "segmenter.pt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        EmbeddedSegmenter.load(tmp_path)


shipped = pytest.mark.skipif(
    not (DEFAULT_MODEL_DIR / "manifest.json").exists(), reason="shipped segmenter not present"
)


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(2)
    return EmbeddedSegmenter.load()


@pytest.fixture(scope="module")
def head():
    if not ANATOMY.exists():
        pytest.skip("resources/anatomy label maps absent")
    labels = sample_labels(ANATOMY, SynthConfig(patch=(64, 80, 64)), np.random.default_rng(0), deform=False)
    return labels, tissue_image(labels, "t1w", rng=np.random.default_rng(1))


@shipped
def test_shipped_model_segments_a_t1w_head(model, head):
    """Regression guard for the shipped weights (GPU-trained on label maps 1 and 2).

    They score a mean Dice of 0.96 on this undeformed training map (0.80 on the held-out
    anatomy 3 of the phantom, docs/segmentation.md) and do not flag the result.
    """
    labels, image = head
    result = model.segment(image, RAS25)
    scores = dice_per_label(result.labels, L.fold_labels(labels), L.EVALUATED)
    assert np.nanmean(list(scores.values())) > 0.9
    assert scores[2] > 0.95 and scores[41] > 0.95  # cerebral white matter
    assert result.ok and not result.quality["flags"]
    for label in set(L.LABELS[1:].tolist()) - set(SCATTERED):  # clean-up: one piece per structure
        assert ndi.label(result.labels == label, structure=np.ones((3, 3, 3)))[1] <= 1, label
    noise = model.segment(np.random.default_rng(2).random(image.shape).astype(np.float32), RAS25)
    assert result.quality["score"] > noise.quality["score"]


def non_brain_image(kind: str, shape=(64, 80, 64)) -> np.ndarray:
    """Objects the segmenter must not pass as a brain (2.5 mm voxels, centred, light noise)."""
    rng = np.random.default_rng(2)
    z, y, x = np.meshgrid(*[np.arange(n) - n / 2 for n in shape], indexing="ij")
    radius = np.sqrt(y**2 + x**2)
    if kind == "noise":
        return rng.random(shape).astype(np.float32)
    if kind == "sphere":
        image = ((z**2 + y**2 + x**2) < 25**2).astype(float)
    elif kind == "shepp_logan":  # a head-shaped phantom without brain anatomy
        image = ellipsoid_phantom(shape).astype(float)
    elif kind == "water_bottle":  # the QA phantom of every scanner: a cylinder along z
        image = 0.8 * ((radius < 22) & (np.abs(z) < 28))
    elif kind == "knee":  # soft tissue around femur and tibia with a cartilage layer
        femur, tibia = (radius < 14) & (z > 3), (radius < 13) & (z < -3)
        image = 0.5 * (radius < 28)
        image[(radius < 15) & (np.abs(z) < 5)] = 0.3
        image[femur | tibia] = 0.9
    else:
        raise ValueError(kind)
    return (image + 0.03 * rng.standard_normal(shape)).astype(np.float32)


@shipped
@pytest.mark.parametrize("kind", ["noise", "sphere", "shepp_logan", "water_bottle", "knee"])
def test_shipped_model_flags_non_brain_images(model, kind):
    """Measured (docs/segmentation.md): quality score 0.61-0.66 on such objects, flag below 0.75."""
    result = model.segment(non_brain_image(kind), RAS25)
    assert not result.ok and result.quality["flags"]


@shipped
def test_shipped_manifest_describes_the_weights():
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    for key in ("sha256", "architecture", "training", "retrain", "labels"):
        assert key in manifest
    assert (DEFAULT_MODEL_DIR / manifest["file"]).stat().st_size < 8e6

"""Segmentation building blocks: label set, Dice, synthetic generator, U-Net, training loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from reconstudy.segment import labels as L
from reconstudy.segment.dice import dice_per_label, mean_dice
from reconstudy.segment.synth import SynthConfig, sample_labels, synthesize_image
from reconstudy.segment.unet3d import Conv3x3x3, UNet3D, pad_multiple

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data" / "synthseg_label_maps"
ANATOMY = ROOT / "resources" / "anatomy" / "training_seg_01.nii.gz"
needs_anatomy = pytest.mark.skipif(not ANATOMY.exists(), reason="resources/anatomy label maps absent")


def test_fold_labels_matches_synthseg_tables():
    if not SHARED.exists():
        pytest.skip("shared SynthSeg tables absent")
    seg = np.load(SHARED / "synthseg_segmentation_labels_2.0.npy")
    names = np.load(SHARED / "synthseg_segmentation_names_2.0.npy")
    assert set(seg.tolist()) == set(L.LABELS.tolist())
    assert all(L.CSV_NAMES[int(v)] == str(n) for v, n in zip(seg, names))


def test_fold_and_class_round_trip():
    labels = np.array([0, 2, 25, 57, 136, 164, 507, 24, 60, 30])
    assert L.fold_labels(labels).tolist() == [0, 2, 2, 41, 4, 43, 0, 24, 60, 0]
    classes = L.to_classes(labels)
    assert classes.max() < L.N_CLASSES
    assert L.to_labels(classes).tolist() == L.fold_labels(labels).tolist()


def test_dice_known_answers():
    a = np.zeros((4, 4, 4), int)
    b = np.zeros((4, 4, 4), int)
    a[:2], b[1:3] = 17, 17  # 32 voxels each, 16 shared
    a[3, 0, 0] = 18
    scores = dice_per_label(a, b, [17, 18, 53])
    assert scores[17] == pytest.approx(0.5)
    assert scores[18] == 0.0
    assert np.isnan(scores[53])  # absent from both: not counted
    assert mean_dice(scores) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="shape"):
        dice_per_label(a, b[:2])


def test_unet_shapes_and_errors():
    torch.manual_seed(0)
    net = UNet3D(5, base_channels=2, levels=3)
    out = net(torch.zeros(2, 1, 8, 16, 12))
    assert out.shape == (2, 5, 8, 16, 12)
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.zeros(1, 1, 8, 10, 12))
    assert pad_multiple((9, 16, 3), 4) == [(1, 2), (0, 0), (0, 1)]


def test_fast_conv_matches_torch_conv_and_gradients():
    torch.manual_seed(1)
    conv = Conv3x3x3(3, 4)
    x = torch.randn(2, 3, 6, 7, 5, requires_grad=True)
    y = conv(x)
    g = torch.randn_like(y)
    y.backward(g)
    gx, gw = x.grad.clone(), conv.weight.grad.clone()
    x.grad, conv.weight.grad = None, None
    ref = torch.nn.functional.conv3d(x, conv.weight, padding=1)
    ref.backward(g)
    assert torch.allclose(y, ref, atol=1e-5)
    assert torch.allclose(gx, x.grad, atol=1e-4)
    assert torch.allclose(gw, conv.weight.grad, atol=1e-3)


@needs_anatomy
def test_sample_labels_is_seeded_and_flip_swaps_sides():
    config = SynthConfig(patch=(24, 32, 24), flip_probability=0.0)
    a = sample_labels(ANATOMY, config, np.random.default_rng([1, 2]))
    b = sample_labels(ANATOMY, config, np.random.default_rng([1, 2]))
    assert a.shape == (24, 32, 24) and np.array_equal(a, b)
    plain = sample_labels(ANATOMY, config, np.random.default_rng(3), deform=False)
    x = np.arange(24)[None, None, :]
    # RAS axes: left hemisphere (label 2/3) has smaller x (more negative R) than the right one.
    assert np.mean(np.broadcast_to(x, plain.shape)[plain == 3]) < np.mean(
        np.broadcast_to(x, plain.shape)[plain == 42]
    )
    # A flip mirrors the anatomy and swaps homologous labels: left labels stay on the left.
    flip = SynthConfig(patch=(24, 32, 24), flip_probability=1.0)
    flipped = sample_labels(ANATOMY, flip, np.random.default_rng([1, 2]))
    xs = np.broadcast_to(x, flipped.shape)
    assert np.mean(xs[flipped == 3]) < np.mean(xs[flipped == 42])
    assert not np.array_equal(flipped, a)


@needs_anatomy
def test_synthetic_image_range_and_determinism():
    config = SynthConfig(patch=(24, 24, 24))
    labels = sample_labels(ANATOMY, config, np.random.default_rng(5))
    one = synthesize_image(labels, config, np.random.default_rng(6))
    two = synthesize_image(labels, config, np.random.default_rng(6))
    assert one.dtype == np.float32 and one.shape == labels.shape
    assert 0.0 <= one.min() and one.max() <= 1.0 and one.std() > 0.01
    assert np.array_equal(one, two)


def test_blur_and_percentiles_match_scipy_and_numpy():
    from scipy import ndimage as ndi

    from reconstudy.segment.synth import _gaussian_blur, _percentiles

    volume = np.random.default_rng(0).random((12, 15, 18)).astype(np.float32)
    sigmas = (0.5, 0.9, 1.4)
    ours = _gaussian_blur(torch.from_numpy(volume), sigmas).numpy()
    np.testing.assert_allclose(ours, ndi.gaussian_filter(volume, sigmas, mode="nearest"), atol=1e-5)
    fractions = (0.005, 0.5, 0.99, 0.995)
    np.testing.assert_allclose(
        _percentiles(torch.from_numpy(volume), fractions),
        np.percentile(volume, [100 * f for f in fractions]),
        rtol=1e-5,
    )


@needs_anatomy
def test_synthesis_on_a_device_matches_the_numpy_interface():
    """The tensor path (what a GPU runs) is the same generator: on the CPU it gives the same pair."""
    from reconstudy.segment.synth import training_pair

    config = SynthConfig(patch=(20, 24, 20))
    image, classes = training_pair([ANATOMY], config, np.random.default_rng([4, 2]))
    image_t, classes_t = training_pair([ANATOMY], config, np.random.default_rng([4, 2]), device="cpu")
    assert isinstance(image_t, torch.Tensor) and classes_t.dtype == torch.int64
    np.testing.assert_array_equal(classes_t.numpy(), classes)
    np.testing.assert_allclose(image_t.numpy(), image, atol=1e-6)


def _tiny_training(steps, **overrides):
    """A two-level, two-channel U-Net on 16^3 patches of one label map: seconds per run."""
    from reconstudy.segment.train import TrainConfig

    options = dict(base_channels=2, levels=2, threads=1, checkpoint_every=2, warmup_steps=1)
    options["synth"] = SynthConfig(patch=(16, 16, 16))
    options.update(overrides)
    return TrainConfig(label_maps=[str(ANATOMY)], steps=steps, **options)


@needs_anatomy
def test_training_resume_reproduces_uninterrupted_run(tmp_path):
    from reconstudy.segment.train import train

    straight, history = train(_tiny_training(4), tmp_path / "a.pt", resume=False)
    train(_tiny_training(2), tmp_path / "b.pt", resume=False)
    resumed, _ = train(_tiny_training(4), tmp_path / "b.pt")
    for key, value in straight.state_dict().items():
        assert torch.allclose(value, resumed.state_dict()[key], atol=1e-6), key
    # Synthesis on the training device (CPU here) is the same image stream as the CPU path.
    on_device, on_history = train(_tiny_training(4), tmp_path / "c.pt", resume=False, synth_on_device=True)
    for key, value in straight.state_dict().items():
        assert torch.allclose(value, on_device.state_dict()[key], atol=1e-6), key
    assert on_history["synthesis"] == "on cpu"
    assert history["completed_steps"] == 4 and len(history["loss"]) == 1
    other = _tiny_training(4, base_channels=3)
    with pytest.raises(ValueError, match=r"another training config \(base_channels: 2 -> 3\)"):
        train(other, tmp_path / "b.pt")
    atrophied = _tiny_training(4, synth=SynthConfig(patch=(16, 16, 16), atrophy_probability=0.5))
    assert atrophied.differences(_tiny_training(4)) == ["synth.atrophy_probability: 0.0 -> 0.5"]
    assert _tiny_training(9, threads=3).differences(_tiny_training(4)) == []  # resumable changes


def _ball_in_white_matter():
    """A hippocampus (17) ball beside an amygdala (18) ball, both in white matter (2), air around."""
    z, y, x = np.mgrid[:30, :30, :40]
    labels = np.zeros((30, 30, 40), np.int16)
    labels[(z - 15) ** 2 + (y - 15) ** 2 + (x - 20) ** 2 <= 13**2] = 2
    labels[(z - 15) ** 2 + (y - 15) ** 2 + (x - 14) ** 2 <= 5**2] = 17
    labels[(z - 15) ** 2 + (y - 15) ** 2 + (x - 25) ** 2 <= 3**2] = 18
    return labels


def test_resize_structure_counts_and_neighbours():
    """Shrinking and growing change exactly the asked share, from the surface, never another structure."""
    from scipy import ndimage as ndi

    from reconstudy.phantom.effects import resize_structure

    parenchyma = np.zeros(600, bool)
    parenchyma[[2, 17, 18]] = True
    before = _ball_in_white_matter()
    n = int((before == 17).sum())
    shrunk = before.copy()
    resize_structure(shrunk, 17, -0.3, parenchyma, (1.0, 1.0, 1.0), np.random.default_rng(0))
    assert (shrunk == 17).sum() == n - round(0.3 * n)
    lost = (before == 17) & (shrunk != 17)
    assert set(np.unique(shrunk[lost])) == {2}  # the neighbour outside, never air or the amygdala
    depth = ndi.distance_transform_edt(before == 17)
    assert depth[lost].max() <= depth[shrunk == 17].min()  # outermost voxels go first
    grown = before.copy()
    resize_structure(grown, 17, 0.2, parenchyma, (1.0, 1.0, 1.0), np.random.default_rng(0))
    assert (grown == 17).sum() == n + round(0.2 * n)
    gained = (grown == 17) & (before != 17)
    assert set(np.unique(before[gained])) == {2}
    np.testing.assert_array_equal(grown == 18, before == 18)
    unchanged = before.copy()
    resize_structure(unchanged, 17, 0.0, parenchyma, (1.0, 1.0, 1.0), np.random.default_rng(0))
    np.testing.assert_array_equal(unchanged, before)


@needs_anatomy
def test_structure_size_augmentation():
    """Resizing changes only the six structures' sizes, within the range, on both synthesis paths."""
    from reconstudy.phantom.effects import BASELINE
    from reconstudy.segment.synth import resize_structures, training_pair

    config = SynthConfig(patch=(32, 40, 32), resize_probability=1.0, resize_range=0.3)
    labels = sample_labels(ANATOMY, config, np.random.default_rng(7))
    original = labels.copy()
    resized = resize_structures(labels, config, np.random.default_rng(8))
    np.testing.assert_array_equal(labels, original)  # the input patch is not modified
    assert resized.dtype == labels.dtype and not np.array_equal(resized, labels)
    changed = 0
    for label in BASELINE:
        n, m = int((labels == label).sum()), int((resized == label).sum())
        assert abs(m - n) <= round(0.3 * n) + 1, label
        changed += m != n
    assert changed >= 4
    moved = resized != labels  # every changed voxel is gained or lost by one of the six
    assert (np.isin(labels[moved], list(BASELINE)) | np.isin(resized[moved], list(BASELINE))).all()
    image, classes = training_pair([ANATOMY], config, np.random.default_rng([4, 2]))
    image_t, classes_t = training_pair([ANATOMY], config, np.random.default_rng([4, 2]), device="cpu")
    np.testing.assert_array_equal(classes_t.numpy(), classes)
    np.testing.assert_allclose(image_t.numpy(), image, atol=1e-6)


@needs_anatomy
def test_fine_tuning_starts_from_given_weights(tmp_path):
    """--init-weights: the run starts from that state dict (checked with a zero learning rate);
    other architectures are refused by name; checkpoints written before the option still resume."""
    import json

    from reconstudy.segment.train import build_model, sha256, train

    def config(steps, **overrides):
        return _tiny_training(steps, checkpoint_every=1, **overrides)

    start = build_model(config(1))
    with torch.no_grad():  # unlike the seeded initialisation train() would make
        for parameter in start.parameters():
            parameter.normal_()
    torch.save(start.state_dict(), tmp_path / "segmenter.pt")
    model, history = train(
        config(2, init_weights=str(tmp_path), learning_rate=0.0), tmp_path / "a.pt", resume=False
    )
    for key, value in start.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key
    assert history["init_sha256"] == sha256(tmp_path / "segmenter.pt")
    with pytest.raises(ValueError, match="--base-channels"):
        train(config(1, base_channels=3, init_weights=str(tmp_path)), tmp_path / "b.pt", resume=False)
    with pytest.raises(FileNotFoundError, match="init-weights"):
        train(config(1, init_weights=str(tmp_path / "none.pt")), tmp_path / "c.pt", resume=False)
    from reconstudy.segment.train import train_and_export

    with pytest.raises(FileNotFoundError, match="init-weights"):  # and nothing is left behind
        train_and_export(config(1, init_weights=str(tmp_path / "none.pt")), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # A checkpoint of an older version (no init_weights / resize fields) resumes with today's defaults.
    train(config(1), tmp_path / "d.pt", resume=False)
    state = torch.load(tmp_path / "d.pt", weights_only=True)
    old = json.loads(state["config"])
    old.pop("init_weights")
    for key in ("resize_probability", "resize_range", "harmonise_probability", "atrophy_probability",
                "atrophy_max", "ventricle_growth_max"):
        old["synth"].pop(key)
    state["config"] = json.dumps(old)
    torch.save(state, tmp_path / "d.pt")
    _, resumed = train(config(2), tmp_path / "d.pt")
    assert resumed["completed_steps"] == 2


def test_run_key_and_augmentation_settings_are_checked():
    """A longer run keeps its checkpoint folder, another run gets its own; bad settings are named."""
    assert _tiny_training(4).run_key() == _tiny_training(40, threads=3, checkpoint_every=7).run_key()
    assert _tiny_training(4).run_key() != _tiny_training(4, learning_rate=1e-4).run_key()
    with pytest.raises(ValueError, match="resize_probability .* got 1.5"):
        SynthConfig(resize_probability=1.5)
    with pytest.raises(ValueError, match="resize_range"):
        SynthConfig(resize_range=0.95)
    with pytest.raises(ValueError, match=r"harmonise_probability \(--harmonise-probability\) .* got -0.1"):
        SynthConfig(harmonise_probability=-0.1)
    with pytest.raises(ValueError, match=r"atrophy_probability \(--atrophy-probability\) .* got 2"):
        SynthConfig(atrophy_probability=2)
    with pytest.raises(ValueError, match="atrophy_max"):
        SynthConfig(atrophy_max=0.9)
    with pytest.raises(ValueError, match="ventricle_growth_max"):
        SynthConfig(ventricle_growth_max=-0.1)


@needs_anatomy
@pytest.mark.parametrize("flipped", [False, True])
def test_harmonisation_sets_the_phantoms_normative_sizes(flipped):
    """Each of the six structures is scaled to BASELINE x ICV of its map (x U(0.92, 1.08)), as
    reconstudy.phantom.effects.harmonise sets every subject's; a flipped patch takes its homologue's."""
    import nibabel as nib
    import pandas as pd

    from reconstudy.phantom.effects import BASELINE
    from reconstudy.segment.labels import HOMOLOGUES
    from reconstudy.segment.synth import resize_structures, training_pair

    raw = np.asarray(nib.load(ANATOMY).dataobj).astype(int)
    tissue = pd.read_csv(ROOT / "resources" / "tissue_properties.tsv", sep="\t")
    intracranial = np.isin(raw, tissue.label[tissue.compartment.isin(["parenchyma", "csf"])])
    config = SynthConfig(patch=(56, 64, 56), harmonise_probability=1.0)
    labels = sample_labels(ANATOMY, config, np.random.default_rng(3), deform=False)
    resized = resize_structures(labels, config, np.random.default_rng(4), path=ANATOMY, flipped=flipped)
    swap = {**HOMOLOGUES, **{r: left for left, r in HOMOLOGUES.items()}} if flipped else {}
    for label in BASELINE:
        source = swap.get(label, label)
        wanted = BASELINE[source] * intracranial.sum() / (raw == source).sum()  # normative / own size
        ratio = (resized == label).sum() / (labels == label).sum()
        assert 0.92 * wanted - 0.05 <= ratio <= 1.08 * wanted + 0.05, (label, ratio, wanted)
    with pytest.raises(ValueError, match="needs the label map's path"):
        resize_structures(labels, config, np.random.default_rng(4))
    # off: no resizing draws at all, so a pair is exactly map choice + sample_labels + synthesis
    off = SynthConfig(patch=(32, 40, 32), harmonise_probability=0.0)
    image, classes = training_pair([ANATOMY], off, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    rng.integers(1)  # training_pair's choice of map
    plain = sample_labels(ANATOMY, off, rng)
    np.testing.assert_array_equal(classes, L.to_classes(plain))
    np.testing.assert_array_equal(image, synthesize_image(plain, off, rng))


@needs_anatomy
def test_atrophy_augmentation_turns_the_rim_to_csf_as_the_phantom_does():
    """Hippocampi and amygdalae lose U(0, atrophy_max) of their voxels, outermost first, to the
    inferior lateral ventricle; the lateral ventricles grow by U(0, ventricle_growth_max) into
    parenchyma; nothing else changes."""
    from scipy import ndimage as ndi

    from reconstudy.phantom.effects import ATROPHY, BASELINE, LATERAL_VENTRICLES
    from reconstudy.segment.synth import resize_structures

    config = SynthConfig(
        patch=(56, 64, 56), atrophy_probability=1.0, atrophy_max=0.4, ventricle_growth_max=0.6
    )
    labels = sample_labels(ANATOMY, config, np.random.default_rng(3), deform=False)
    out = resize_structures(labels, config, np.random.default_rng(8))
    # the draws, in resize_structures' order: one per structure for resizing (off), the atrophy coin,
    # one loss per atrophied structure (the growth comes after atrophy's tie-break draws)
    rng = np.random.default_rng(8)
    rng.random(len(BASELINE))
    assert rng.random() < 1.0
    loss = {label: rng.uniform(0, 0.4) for label in ATROPHY}
    for label, csf in ATROPHY.items():
        before = labels == label
        lost = before & (out != label)
        assert lost.sum() == round(loss[label] * before.sum()), label
        assert np.all(out[lost] == csf), label  # the rim becomes the temporal horn
        assert not np.any((out == label) & ~before), label  # nothing grows
        depth = ndi.distance_transform_edt(before)
        assert depth[lost].max() <= depth[before & ~lost].min() + 1e-9, label  # outside in
    grown_total, growth = 0, None
    for label in LATERAL_VENTRICLES:
        before = labels == label
        grown = (out == label) & ~before
        assert not np.any(before & (out != label)), label
        if growth is None:  # one growth for both sides, in (0, ventricle_growth_max]
            growth = grown.sum() / before.sum()
            assert 0 < growth <= 0.6 + 1 / before.sum()
        assert abs(grown.sum() - growth * before.sum()) <= 1, label
        assert not np.any(np.isin(labels[grown], [*ATROPHY, *LATERAL_VENTRICLES])), label
        grown_total += grown.sum()
    changed = labels != out
    lost_total = sum(((labels == label) & (out != label)).sum() for label in ATROPHY)
    assert changed.sum() == lost_total + grown_total  # no other voxel touched
    assert grown_total > 0 and lost_total > 0
    # off (the default): no atrophy draws, the patch comes back unchanged
    np.testing.assert_array_equal(resize_structures(labels, SynthConfig(), np.random.default_rng(8)), labels)

"""The workflow's training data: the sheet's learning split and k-space -> training volumes."""

import numpy as np
import pytest

from reconstudy.io.kspace import KSpace
from reconstudy.training.data import rss_image, training_volume
from reconstudy.training.sheet import assign_splits, volumes_from_kspace
from reconstudy.training.synthetic import synthetic_kspace


def test_declared_splits_are_kept_and_empty_cells_are_drawn():
    declared = {"01": "test", "02": "train", "03": "", "04": "", "05": "", "06": "", "07": "", "08": "val"}
    splits = assign_splits(declared, seed=7, val_fraction=0.2, test_fraction=0.2)
    assert list(splits) == list(declared)
    assert {s: splits[s] for s in ("01", "02", "08")} == {"01": "test", "02": "train", "08": "val"}
    drawn = [splits[s] for s in ("03", "04", "05", "06", "07")]
    # 5 free subjects: round(1.0) test, round(1.0) val, the other 3 train
    assert sorted(drawn) == ["test", "train", "train", "train", "val"]
    assert assign_splits(declared, seed=7, val_fraction=0.2, test_fraction=0.2) == splits


def test_seeded_split_depends_on_the_seed_only_through_the_shuffle():
    declared = {f"{i:02d}": "" for i in range(20)}
    draws = [assign_splits(declared, seed, 0.25, 0.25) for seed in range(4)]
    for splits in draws:
        assert sorted(splits.values()).count("test") == 5 and list(splits.values()).count("val") == 5
    assert len({tuple(d.values()) for d in draws}) > 1  # different seeds, different folds


def test_seeded_split_keeps_one_training_subject():
    assert assign_splits({"a": ""}, 1, 0.4, 0.5) == {"a": "train"}
    splits = assign_splits({"a": "", "b": ""}, 1, 0.5, 0.4)
    assert "train" in splits.values()


@pytest.mark.parametrize(
    "declared, fractions",
    [({"a": "training"}, (0.2, 0.2)), ({"a": ""}, (0.6, 0.5)), ({"a": ""}, (-0.1, 0.2))],
)
def test_bad_splits_are_refused(declared, fractions):
    with pytest.raises(ValueError, match="split"):
        assign_splits(declared, 0, *fractions)


def test_volumes_match_training_volume_and_rss_target():
    kspace, _ = synthetic_kspace((12, 14, 10), n_coils=3, seed=1)
    (volume,) = volumes_from_kspace([kspace], ["sub-01_T1w"])
    expected = training_volume(kspace, name="sub-01_T1w")
    assert volume.name == "sub-01_T1w" and volume.group == 0
    assert volume.planes.shape == (10, 3, 12, 14)  # (x, coil, kz, ky)
    np.testing.assert_array_equal(volume.planes, expected.planes)
    # target: RSS image (z, y, x) -> (x, z, y), divided by its 99th percentile
    rss = rss_image(kspace.data[0])
    np.testing.assert_allclose(volume.target * volume.scale, rss.transpose(2, 0, 1), rtol=1e-5, atol=1e-6)
    assert volume.scale == pytest.approx(np.percentile(rss, 99), rel=1e-5)


def test_every_echo_becomes_a_volume():
    a, _ = synthetic_kspace((8, 10, 6), n_coils=2, seed=2)
    b, _ = synthetic_kspace((8, 10, 6), n_coils=2, seed=3)
    echoes = KSpace(np.concatenate([a.data, 0.5 * b.data]), a.geometry, "mGRE")
    volumes = volumes_from_kspace([a, echoes], ["s1", "s2"])
    assert [v.name for v in volumes] == ["s1", "s2_echo0", "s2_echo1"]
    assert [v.group for v in volumes] == [0, 1, 1]
    # each echo has its own scale: the halved second echo normalises to the same target
    np.testing.assert_allclose(volumes[2].scale, 0.5 * training_volume(b).scale, rtol=1e-5)
    assert [v.name for v in volumes_from_kspace([echoes], ["s2"], echoes=[1])] == ["s2_echo1"]


def test_undersampled_or_missing_echo_is_refused():
    kspace, _ = synthetic_kspace((8, 10, 6), n_coils=2, seed=4)
    with pytest.raises(ValueError, match="echo 2 does not exist"):
        volumes_from_kspace([kspace], ["s1"], echoes=[2])
    with pytest.raises(ValueError, match="2 names given for 1"):
        volumes_from_kspace([kspace], ["a", "b"])
    mask = np.ones((8, 10), bool)
    mask[::2] = False
    under = KSpace(kspace.data * mask[None, None, :, :, None], kspace.geometry, "T1w", sampling_mask=mask)
    with pytest.raises(ValueError, match="fully sampled"):
        volumes_from_kspace([under], ["s1"])

"""Connected-component clean-up of segmenter posteriors (reconstudy.segment.postprocess)."""

import numpy as np
from scipy import ndimage as ndi

from reconstudy.segment import labels as L
from reconstudy.segment.postprocess import keep_largest_components

CLASS = {int(label): c for c, label in enumerate(L.LABELS)}


def posteriors_for(label_map, runner_up):
    """Posteriors whose arg-max is ``label_map`` and whose second choice is ``runner_up``."""
    prob = np.full((L.N_CLASSES, *label_map.shape), 0.01, np.float32)
    for label in np.unique(label_map):
        prob[CLASS[int(label)]][label_map == label] = 0.6
    for label in np.unique(runner_up):
        prob[CLASS[int(label)]][runner_up == label] += 0.2
    return prob / prob.sum(0, keepdims=True)


def test_islands_go_to_the_runner_up_and_stray_voxels_to_background():
    labels = np.zeros((20, 24, 22), np.int16)
    labels[2:18, 2:20, 2:20] = 2  # white matter: the head
    labels[5:11, 5:11, 5:11] = 12  # putamen, the true piece (216 voxels)
    labels[14:16, 14:16, 14:16] = 12  # a putamen speck inside white matter (8 voxels)
    labels[6:8, 6:8, 14:16] = 24  # CSF specks: scattered by nature, kept
    labels[12:14, 3:5, 3:5] = 24
    labels[19, 22:24, 21] = 17  # a "hippocampus" pair of voxels outside the head
    runner_up = np.where(labels == 12, 13, 2).astype(np.int16)  # the speck's second choice: pallidum
    prob = posteriors_for(labels, runner_up)
    before = prob.copy()

    cleaned = keep_largest_components(prob)
    result = L.to_labels(cleaned.argmax(0))

    np.testing.assert_array_equal(prob, before)  # input untouched
    np.testing.assert_allclose(cleaned.sum(0), 1.0, atol=1e-5)
    assert (result[5:11, 5:11, 5:11] == 12).all()
    assert (result[14:16, 14:16, 14:16] == 13).all()
    assert (result[6:8, 6:8, 14:16] == 24).all() and (result[12:14, 3:5, 3:5] == 24).all()
    assert (result[19, 22:24, 21] == 0).all()
    changed = result != labels
    assert changed.sum() == 8 + 2  # nothing else moved


def test_a_single_piece_per_structure_is_left_alone():
    labels = np.zeros((12, 12, 12), np.int16)
    labels[1:11, 1:11, 1:11] = 41
    labels[3:6, 3:9, 3:6] = 53
    labels[7:10, 3:9, 3:6] = 54
    prob = posteriors_for(labels, np.zeros_like(labels))
    np.testing.assert_array_equal(L.to_labels(keep_largest_components(prob).argmax(0)), labels)


def _speck_with_a_runner_up_elsewhere():
    """A putamen speck whose runner-up, pallidum, has its own piece: handing it over splits pallidum."""
    labels = np.zeros((20, 24, 22), np.int16)
    labels[2:18, 2:20, 2:20] = 2  # white matter
    labels[4:9, 4:9, 4:9] = 12  # putamen
    labels[4:8, 14:18, 4:8] = 13  # pallidum, its own piece
    labels[14:16, 14:16, 14:16] = 12  # a putamen speck far from both
    runner_up = np.where(labels == 12, 13, 2).astype(np.int16)
    runner_up[4:9, 4:9, 4:9] = 2
    return labels, posteriors_for(labels, runner_up)


def test_a_speck_handed_to_a_structure_that_has_its_own_piece_moves_on():
    """The runner-up of a removed speck would become two pieces: the speck goes to its third choice."""
    labels, prob = _speck_with_a_runner_up_elsewhere()
    speck = (slice(14, 16),) * 3
    prob[CLASS[2]][speck] += 0.1  # third choice: white matter
    prob /= prob.sum(0, keepdims=True)

    result = L.to_labels(keep_largest_components(prob).argmax(0))

    assert (result[speck] == 2).all()
    for label in (12, 13):
        assert ndi.label(result == label, structure=np.ones((3, 3, 3)))[1] == 1
    assert ((result != labels).sum()) == 8


def test_a_clean_up_that_does_not_converge_says_so(monkeypatch, caplog):
    """Given one pass where two are needed, the clean-up warns and names the structure left in pieces."""
    import reconstudy.segment.postprocess as post

    _, prob = _speck_with_a_runner_up_elsewhere()  # pallidum is in two pieces after pass 1

    with caplog.at_level("WARNING", logger="reconstudy"):
        post.keep_largest_components(prob)
    assert not caplog.records  # converges within the default passes
    monkeypatch.setattr(post, "_MAX_PASSES", 1)
    with caplog.at_level("WARNING", logger="reconstudy"):
        post.keep_largest_components(prob)
    assert "after 1 passes left pallidum still in more than one piece" in caplog.text

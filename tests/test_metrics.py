import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from reconstudy import metrics


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    reference = np.zeros((24, 28, 20))
    reference[4:20, 5:22, 3:17] = 1.0
    reference[8:14, 9:15, 6:12] = 2.5
    image = reference + 0.1 * rng.standard_normal(reference.shape)
    return image, reference


def test_ssim_map_matches_skimage(pair):
    image, reference = pair
    _, expected = structural_similarity(
        reference,
        image,
        data_range=2.5,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    ours = metrics.ssim_map(image, reference, data_range=2.5)
    np.testing.assert_allclose(ours, expected, atol=1e-10)


def test_psnr_matches_skimage_without_mask(pair):
    image, reference = pair
    expected = peak_signal_noise_ratio(reference, image, data_range=2.5)
    assert metrics.psnr(image, reference, data_range=2.5) == pytest.approx(expected, rel=1e-12)


def test_masked_metrics_by_hand():
    reference = np.ones((4, 4, 4))
    image = reference.copy()
    image[0, 0, 0] = 3.0  # outside the mask: must not count
    image[2, 2, 2] = 1.5
    mask = np.zeros_like(reference, bool)
    mask[1:3, 1:3, 1:3] = True
    assert metrics.nmse(image, reference, mask) == pytest.approx(0.25 / 8)
    assert metrics.psnr(image, reference, mask) == pytest.approx(10 * np.log10(1 / (0.25 / 8)))


def test_identical_images_are_perfect(pair):
    _, reference = pair
    result = metrics.image_metrics(reference, reference)
    assert result["ssim"] == pytest.approx(1.0)
    assert result["nmse"] == 0 and result["psnr"] == float("inf")


def test_metrics_order_noise_levels(pair):
    _, reference = pair
    rng = np.random.default_rng(1)
    low = metrics.image_metrics(reference + 0.05 * rng.standard_normal(reference.shape), reference)
    high = metrics.image_metrics(reference + 0.3 * rng.standard_normal(reference.shape), reference)
    assert low["ssim"] > high["ssim"] and low["psnr"] > high["psnr"] and low["nmse"] < high["nmse"]


def test_minmax_clip_normalisation(pair):
    image, reference = pair
    scaled = metrics.image_metrics(3 * image, 3 * reference, normalise="minmax_clip")
    plain = metrics.image_metrics(image, reference, normalise="minmax_clip")
    assert scaled["ssim"] == pytest.approx(plain["ssim"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mask": np.zeros((24, 28, 20), bool)}, "mask is empty"),
        ({"mask": np.ones((2, 2, 2), bool)}, "mask shape"),
        ({"normalise": "zscore"}, "unknown normalise"),
    ],
)
def test_bad_input(pair, kwargs, message):
    image, reference = pair
    with pytest.raises(ValueError, match=message):
        metrics.image_metrics(image, reference, **kwargs)

"""Video metrics against scikit-image and hand computation."""

import math

import numpy as np
import pytest
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.morphology import disk

from egoexo_models.metrics.video import (
    hoi_region,
    psnr,
    region_dilation_px,
    region_psnr,
    region_ssim,
    score_video,
    ssim,
)


def frame_pairs():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    yield noise, np.clip(noise.astype(int) + rng.integers(-40, 40, noise.shape), 0, 255).astype(np.uint8)
    smooth = (ndimage.gaussian_filter(rng.random((33, 41, 3)), (4, 4, 0)) * 255).astype(np.uint8)
    yield smooth, np.roll(smooth, 3, axis=1)
    yield smooth, np.full_like(smooth, 128)


def noisy(frame: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(frame.astype(int) + rng.integers(-25, 25, frame.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("pair", list(frame_pairs()), ids=["noise", "shifted", "flat"])
def test_ssim_and_psnr_agree_with_scikit_image(pair):
    a, b = pair
    assert ssim(a, b) == pytest.approx(structural_similarity(a, b, channel_axis=-1, data_range=255), abs=1e-6)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-6)


def test_identical_frames_have_ssim_one_and_infinite_psnr():
    frame = np.random.default_rng(3).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert ssim(frame, frame) == pytest.approx(1.0)
    assert psnr(frame, frame) == math.inf


def test_region_psnr_is_the_psnr_of_the_region_mse():
    reference = np.full((20, 30, 3), 100, dtype=np.uint8)
    predicted = reference.copy()
    region = np.zeros((20, 30), dtype=bool)
    region[5:10, 5:15] = True  # 50 pixels
    predicted[region] += 10  # error 10 on every channel inside, 0 outside
    assert region_psnr(reference, predicted, region) == pytest.approx(10 * math.log10(255**2 / 100))
    assert psnr(reference, predicted) == pytest.approx(10 * math.log10(255**2 / (100 * 50 / 600)))


def test_region_ssim_is_the_mean_of_the_scikit_image_ssim_map_over_the_region():
    a, b = next(frame_pairs())
    _, full_map = structural_similarity(a, b, channel_axis=-1, data_range=255, full=True)
    region = np.zeros(a.shape[:2], dtype=bool)
    region[10:30, 20:50] = True
    assert region_ssim(a, b, region) == pytest.approx(full_map.mean(axis=2)[region].mean(), abs=1e-6)


def test_region_ssim_over_the_whole_frame_equals_ssim():
    a, b = next(frame_pairs())
    everything = np.ones(a.shape[:2], dtype=bool)
    assert region_ssim(a, b, everything) == pytest.approx(ssim(a, b), abs=1e-12)


def test_region_metrics_are_undefined_without_a_region():
    a, b = next(frame_pairs())
    nothing = np.zeros(a.shape[:2], dtype=bool)
    assert math.isnan(region_psnr(a, b, nothing)) and math.isnan(region_ssim(a, b, nothing))


def test_hoi_region_is_the_union_over_frames_dilated_by_a_disk():
    labels = np.zeros((2, 128, 128), dtype=np.uint8)
    labels[0, 30, 30] = 1
    labels[1, 90, 100] = 2
    radius = region_dilation_px(128, 128)
    assert radius == 4  # ceil(0.02 * 181.02)
    region = hoi_region(labels)
    assert region.sum() == 2 * disk(radius).sum()
    assert region[30, 34] and not region[30, 35] and region[90, 100]


def test_hoi_region_is_empty_without_hands_or_objects():
    assert not hoi_region(np.zeros((3, 16, 16), dtype=np.uint8)).any()


def test_score_video_scores_each_frame():
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    predicted = np.stack([noisy(frame, seed) for seed, frame in enumerate(truth)])
    region = np.zeros((24, 24), dtype=bool)
    region[8:16, 8:16] = True
    scores = score_video(truth, predicted, region)
    for index in range(3):
        assert scores.ssim[index] == pytest.approx(ssim(truth[index], predicted[index]))
        assert scores.psnr[index] == pytest.approx(psnr(truth[index], predicted[index]))
        assert scores.region_ssim[index] == pytest.approx(region_ssim(truth[index], predicted[index], region))
        assert scores.region_psnr[index] == pytest.approx(region_psnr(truth[index], predicted[index], region))


def test_mismatched_frames_are_rejected():
    with pytest.raises(ValueError, match="one shape"):
        psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(ValueError, match="region must be a boolean mask"):
        score_video(np.zeros((1, 8, 8, 3), np.uint8), np.zeros((1, 8, 8, 3), np.uint8), np.ones((4, 4), bool))

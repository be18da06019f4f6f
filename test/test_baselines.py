"""Baselines: copy the first ego frame and mask, or predict all background."""

import numpy as np
import pytest

from egoexo_models.baselines import ALL_BACKGROUND, COPY_FIRST, all_background, baselines, copy_first
from egoexo_models.clip import Clip, ClipMeta
from egoexo_models.prediction_dir import validate_prediction


def make_clip(with_masks: bool = True) -> Clip:
    rng = np.random.default_rng(0)
    n, h, w = 5, 8, 10
    return Clip(
        meta=ClipMeta(instruction="open the drawer", fps=5.0, num_frames=n, height=h, width=w, source="test"),
        exo=rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8),
        ego=rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8),
        ego_masks=rng.integers(0, 3, (n, h, w), dtype=np.uint8) if with_masks else None,
    )


def test_copy_first_repeats_the_first_ego_frame_and_its_ground_truth_mask():
    clip = make_clip()
    prediction = copy_first(clip)
    validate_prediction(prediction)
    assert prediction.frames.shape == (4, 8, 10, 3)
    assert all(np.array_equal(frame, clip.ego[0]) for frame in prediction.frames)
    assert all(np.array_equal(mask, clip.ego_masks[0]) for mask in prediction.ego_masks)
    assert prediction.num_frames == clip.num_frames


def test_all_background_predicts_empty_masks_and_no_frames():
    prediction = all_background(make_clip())
    validate_prediction(prediction)
    assert prediction.ego_masks.shape == (5, 8, 10) and not prediction.ego_masks.any()
    assert prediction.frames is None


def test_baselines_are_named():
    assert set(baselines(make_clip())) == {COPY_FIRST, ALL_BACKGROUND}


def test_copy_first_needs_the_ground_truth_mask():
    with pytest.raises(ValueError, match="has no ego_masks"):
        copy_first(make_clip(with_masks=False))

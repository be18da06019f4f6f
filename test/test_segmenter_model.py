"""HOI segmenters: frame in, label map out; the runner refuses the wrong view and bad frames."""

import numpy as np
import pytest
import torch

from egoexo_models.maskpred import (
    HOISegmenter,
    MaskInputError,
    SegmenterConfig,
    load_ego_segmenter,
    load_exo_segmenter,
)
from egoexo_models.maskpred.segmenting import EgoSegmenter
from egoexo_models.weights import WeightsError, save_weights

TINY = SegmenterConfig(
    image_size=(32, 48), stem_width=8, encoder_widths=(8, 8, 16), decoder_widths=(16, 8, 8)
)


def test_the_segmenter_maps_frames_to_full_resolution_logits():
    model = HOISegmenter(TINY).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 48)).shape == (2, 3, 32, 48)


def test_the_runner_returns_a_uint8_label_map():
    segmenter = load_exo_segmenter(config=TINY)
    labels = segmenter.segment(np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8))
    assert labels.dtype == np.uint8 and labels.shape == (32, 48) and labels.max() <= 2
    assert segmenter.backend == "torch" and segmenter.model_id.startswith("exo_segmenter:random-")


def test_an_exo_segmenter_is_not_loaded_as_an_ego_segmenter(tmp_path):
    torch.manual_seed(0)
    save_weights(
        tmp_path / "exo", kind="exo_segmenter", config=TINY, state_dict=HOISegmenter(TINY).state_dict()
    )
    assert load_exo_segmenter(tmp_path / "exo").config == TINY
    with pytest.raises(WeightsError, match="holds 'exo_segmenter' weights, expected 'ego_segmenter'"):
        load_ego_segmenter(tmp_path / "exo")
    with pytest.raises(ValueError, match="needs a segmenter trained on ego frames"):
        EgoSegmenter(load_exo_segmenter(config=TINY).runtime, TINY, "exo_segmenter:random")


def test_bad_frames_are_named():
    segmenter = load_exo_segmenter(config=TINY)
    with pytest.raises(MaskInputError, match=r"exo_frame is 32x32 \(WxH\); the model takes 48x32"):
        segmenter.segment(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(MaskInputError, match="exo_frame contains NaN"):
        segmenter.segment(np.full((32, 48, 3), np.nan, np.float32))


def test_nan_weights_raise():
    segmenter = load_exo_segmenter(config=TINY)
    with torch.no_grad():
        segmenter.runtime.module.head.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="exo segmenter"):
        segmenter.segment(np.zeros((32, 48, 3), np.uint8))


def test_a_bad_segmenter_config_is_named():
    with pytest.raises(ValueError, match="view must be one of"):
        SegmenterConfig(view="top")

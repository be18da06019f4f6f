"""Streaming mask predictor: step-by-step equals the whole clip; bad input and NaN are named errors."""

import numpy as np
import pytest
import torch

from egoexo_models.maskpred import MaskInputError, load_mask_predictor
from egoexo_models.maskpred.config import tiny_mask_predictor_config
from egoexo_models.weights import WeightsError, save_weights

TINY = tiny_mask_predictor_config(memory_ring=3)


def uint8_clip(frames: int = 6, size=(32, 32)):
    rng = np.random.default_rng(2)
    exo = rng.integers(0, 256, (frames, *size, 3), dtype=np.uint8)
    ego_first = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    masks = np.zeros((frames, *size), np.uint8)
    for n in range(frames):  # a hand block moving right and an object block
        masks[n, 8:16, 2 + 2 * n : 10 + 2 * n] = 1
        masks[n, 20:28, 18:26] = 2
    return exo, masks, ego_first


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    return load_mask_predictor(config=TINY)


def test_streaming_steps_reproduce_the_whole_clip_forward(predictor):
    exo, masks, ego_first = uint8_clip()
    state = predictor.init_state(ego_first)
    stepped = []
    for frame, mask in zip(exo, masks, strict=True):
        logits, state = predictor.step_logits(state, frame, mask)
        stepped.append(logits)
    assert state.frames_seen == 6
    model = predictor.runtime.module.model
    ego = np.zeros((1, 6, 3, 32, 32), np.float32)
    ego[0, 0] = ego_first.transpose(2, 0, 1) / 255.0
    with torch.no_grad():
        whole = model(
            torch.from_numpy(exo.transpose(0, 3, 1, 2)[None] / np.float32(255.0)),
            torch.from_numpy(masks[None].astype(np.int64)),
            torch.from_numpy(ego),
        )[0].numpy()
    np.testing.assert_allclose(np.stack(stepped), whole, atol=1e-5)
    labels = predictor.predict_clip(ego_first, exo, masks)
    assert labels.dtype == np.uint8 and labels.shape == (6, 32, 32) and labels.max() <= 2
    np.testing.assert_array_equal(labels, whole.argmax(axis=1))


def test_a_state_can_be_stepped_twice_and_streams_do_not_interfere(predictor):
    exo, masks, ego_first = uint8_clip()
    start = predictor.init_state(ego_first)
    first, after_one = predictor.step(start, exo[0], masks[0])
    again, _ = predictor.step(start, exo[0], masks[0])
    np.testing.assert_array_equal(first, again)
    other = predictor.init_state(np.zeros_like(ego_first))
    predictor.step(other, exo[1], masks[1])
    second, _ = predictor.step(after_one, exo[1], masks[1])
    np.testing.assert_array_equal(second, predictor.predict_clip(ego_first, exo[:2], masks[:2])[1])


@pytest.mark.parametrize(
    "frame, mask, message",
    [
        (np.zeros((16, 32, 3), np.uint8), None, r"exo_frame is 32x16 \(WxH\); the model takes 32x32"),
        (np.zeros((32, 32, 3), np.float32), None, "exo_frame must be uint8"),
        (np.full((32, 32, 3), np.nan, np.float32), None, "exo_frame contains NaN"),
        (np.zeros((32, 32), np.uint8), None, r"exo_frame must have shape \(H,W,3\)"),
        ([[0]], None, "exo_frame must be a numpy uint8 array"),
        (None, np.full((32, 32), 3, np.uint8), r"exo_mask holds labels \[3\] outside"),
        (None, np.zeros((32, 32), np.int64), "exo_mask must be a uint8 label map"),
        (None, np.zeros((16, 16), np.uint8), r"exo_mask has shape \(16, 16\)"),
        (None, np.full((32, 32), np.nan), "exo_mask contains NaN"),
    ],
)
def test_bad_frames_and_masks_are_named(predictor, frame, mask, message):
    exo, masks, ego_first = uint8_clip(frames=1)
    state = predictor.init_state(ego_first)
    with pytest.raises(MaskInputError, match=message):
        predictor.step(state, exo[0] if frame is None else frame, masks[0] if mask is None else mask)


def test_a_bad_first_ego_frame_or_state_is_named(predictor):
    with pytest.raises(MaskInputError, match="ego_first_frame is 16x16"):
        predictor.init_state(np.zeros((16, 16, 3), np.uint8))
    exo, masks, _ = uint8_clip(frames=1)
    with pytest.raises(MaskInputError, match="state must come from init_state"):
        predictor.step({"keys": None}, exo[0], masks[0])


def test_nan_weights_raise_instead_of_returning_labels():
    predictor = load_mask_predictor(config=TINY)
    with torch.no_grad():
        predictor.runtime.module.model.decoder.head.bias.fill_(float("nan"))
    exo, masks, ego_first = uint8_clip(frames=1)
    with pytest.raises(FloatingPointError, match="NaN or infinite logits"):
        predictor.step(predictor.init_state(ego_first), exo[0], masks[0])


def test_saved_weights_load_back_and_damaged_weights_are_named(tmp_path):
    torch.manual_seed(3)
    from egoexo_models.maskpred import MaskPredictor

    model = MaskPredictor(TINY)
    save_weights(tmp_path / "w", kind="maskpred", config=TINY, state_dict=model.state_dict())
    loaded = load_mask_predictor(tmp_path / "w")
    assert loaded.model_id.startswith("maskpred:") and loaded.config == TINY
    exo, masks, ego_first = uint8_clip(frames=2)
    model.eval()
    assert loaded.predict_clip(ego_first, exo, masks).shape == (2, 32, 32)

    with pytest.raises(WeightsError, match="no such weights directory"):
        load_mask_predictor(tmp_path / "absent")
    (tmp_path / "w" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(WeightsError, match="corrupt"):
        load_mask_predictor(tmp_path / "w")
    save_weights(tmp_path / "seg", kind="exo_segmenter", config=TINY, state_dict={"x": torch.zeros(1)})
    with pytest.raises(WeightsError, match="holds 'exo_segmenter' weights, expected 'maskpred'"):
        load_mask_predictor(tmp_path / "seg")

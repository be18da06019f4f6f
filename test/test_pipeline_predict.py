"""EgoExoPipeline on tiny random weights: masks stream, video generation, whole-clip prediction, errors."""

import numpy as np
import pytest
import torch

from egoexo_models.clip import Clip, ClipMeta
from egoexo_models.pipeline import EgoExoPipeline, PipelineOptions, write_random_weights
from egoexo_models.runtime import BackendUnavailableError

SIZE, FRAMES = 32, 4


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_random_weights(tmp_path_factory.mktemp("weights"), size=SIZE, num_frames=FRAMES)


@pytest.fixture(scope="module")
def pipeline(weights):
    pipeline = EgoExoPipeline.load(PipelineOptions(weights_dir=weights, steps=2))
    yield pipeline
    pipeline.close()


def make_clip(with_exo_masks: bool) -> Clip:
    rng = np.random.default_rng(0)
    meta = ClipMeta(
        instruction="pick up the cup with the right hand",
        fps=8.0,
        num_frames=FRAMES,
        height=SIZE,
        width=SIZE,
        source="sim",
    )
    return Clip(
        meta=meta,
        exo=rng.integers(0, 256, (FRAMES, SIZE, SIZE, 3), dtype=np.uint8),
        ego=rng.integers(0, 256, (FRAMES, SIZE, SIZE, 3), dtype=np.uint8),
        exo_masks=rng.integers(0, 3, (FRAMES, SIZE, SIZE), dtype=np.uint8) if with_exo_masks else None,
    )


def test_the_pipeline_reports_its_geometry_backend_and_model_ids(pipeline):
    assert (pipeline.num_frames, pipeline.height, pipeline.width, pipeline.fps) == (FRAMES, SIZE, SIZE, 8.0)
    assert (pipeline.backend, pipeline.device) == ("torch", "cpu")
    for kind in ("maskpred", "exo_segmenter", "vae", "video_unet"):
        assert kind + ":" in pipeline.model_id


def test_mask_steps_use_the_given_exo_mask_or_the_segmenter(pipeline):
    clip = make_clip(with_exo_masks=True)
    window = pipeline.start_window(clip.ego[0])
    given = pipeline.mask_step(window, clip.exo[0], clip.exo_masks[0])
    segmented = pipeline.mask_step(window, clip.exo[1], None)
    assert (given.exo_mask_source, segmented.exo_mask_source) == ("given", "segmenter")
    assert given.ego_mask.shape == (SIZE, SIZE) and given.ego_mask.dtype == np.uint8
    assert segmented.exo_mask.shape == (SIZE, SIZE) and segmented.latency_s > 0
    assert window.ego_masks().shape == (2, SIZE, SIZE)


@pytest.mark.parametrize("with_exo_masks", [True, False])
def test_predict_clip_gives_all_masks_the_later_frames_and_stage_timings(pipeline, with_exo_masks):
    prediction = pipeline.predict_clip(make_clip(with_exo_masks), seed=3)
    assert prediction.ego_masks.shape == (FRAMES, SIZE, SIZE)
    assert prediction.frames.shape == (FRAMES - 1, SIZE, SIZE, 3)
    info = prediction.info
    assert info["exo_mask_source"] == ("given" if with_exo_masks else "segmenter")
    assert (info["seed"], info["steps"], info["backend"]) == (3, 2, "torch")
    assert {"masks_s", "unet_s", "vae_decode_s", "generate_s"} <= set(info["timings_s"])


def test_predict_clip_is_reproducible_with_a_seed(pipeline):
    a = pipeline.predict_clip(make_clip(True), seed=5).frames
    b = pipeline.predict_clip(make_clip(True), seed=5).frames
    np.testing.assert_array_equal(a, b)


def test_a_clip_of_another_size_is_a_clear_error(pipeline):
    clip = make_clip(True)
    clip.meta.height = clip.meta.width = 64
    with pytest.raises(ValueError, match="resample the clip first"):
        pipeline.predict_clip(clip)


def test_a_frame_of_another_size_is_rejected_by_generate(pipeline):
    masks = np.zeros((FRAMES, SIZE, SIZE), np.uint8)
    with pytest.raises(ValueError, match="resize"):
        pipeline.generate(np.zeros((SIZE + 1, SIZE, 3), np.uint8), "push the box", masks)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"steps": 0}, "steps must be an integer"),
        ({"seed": 2**40}, "seed must be an integer"),
        ({"backend": "tflite"}, "unknown backend"),
        ({"device": "gpu"}, "device must be"),
    ],
)
def test_bad_options_are_rejected_before_anything_loads(options, message):
    with pytest.raises(ValueError, match=message):
        PipelineOptions(**options)


def test_the_fallback_order_starts_at_the_chosen_backend():
    assert PipelineOptions(backend="tensorrt").backend_order() == ["tensorrt", "onnxruntime", "torch"]
    assert PipelineOptions(backend="onnxruntime").backend_order() == ["onnxruntime", "torch"]
    assert PipelineOptions(backend="torch", fallback=()).backend_order() == ["torch"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_an_unavailable_device_with_no_fallback_names_the_reason(weights):
    with pytest.raises(BackendUnavailableError, match="no CUDA GPU"):
        EgoExoPipeline.load(PipelineOptions(weights_dir=weights, device="cuda", fallback=()))

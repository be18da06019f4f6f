"""Prompters: the generic ONNX/TorchScript prompter under its contract, and the output checks."""

import numpy as np
import pytest
from test_annotate_support import (
    ColourSegmenter,
    RedDetector,
    colour_frames,
    export_onnx,
    export_torchscript,
    write_spec,
)

from training.annotation.generic import GenericModelPrompter, load_prompter_spec
from training.annotation.prompts import Box, FramePrompt, PrompterError, checked_prompt


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {
        "onnx": export_onnx(ColourSegmenter(), folder / "seg.onnx"),
        "torchscript": export_torchscript(ColourSegmenter(), folder / "seg.pt"),
        "onnx4": export_onnx(ColourSegmenter(num_classes=4), folder / "seg4.onnx"),
        "detector": export_torchscript(RedDetector(), folder / "det.ts"),
    }


def prompter(tmp_path, **spec) -> GenericModelPrompter:
    return GenericModelPrompter(load_prompter_spec(write_spec(tmp_path / "spec.yaml", **spec)))


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_user_segmentation_model_gives_the_same_labels_as_in_torch(tmp_path, models, fmt):
    frames, labels = colour_frames(3, 32)
    generic = prompter(tmp_path, model=str(models[fmt]), kind="labels")
    for frame, expected in zip(frames, labels, strict=True):
        assert np.array_equal(generic.prompt(frame).labels, expected)
    assert generic.name.startswith(f"generic:{models[fmt].name}:")


def test_model_classes_are_mapped_to_labels_through_the_spec(tmp_path, models):
    frames, labels = colour_frames(2, 32)
    generic = prompter(tmp_path, model=str(models["onnx4"]), kind="labels", classes={0: 0, 1: 1, 2: 1, 3: 2})
    assert np.array_equal(generic.prompt(frames[1]).labels, labels[1])


def test_an_unmapped_model_class_is_an_error_unless_a_default_label_is_set(tmp_path, models):
    frame = colour_frames(1, 32)[0][0]
    with pytest.raises(PrompterError, match=r"class\(es\) \[3\] that the spec's `classes` does not map"):
        prompter(tmp_path, model=str(models["onnx4"]), kind="labels").prompt(frame)
    relaxed = prompter(tmp_path, model=str(models["onnx4"]), kind="labels", default_label=0)
    assert set(np.unique(relaxed.prompt(frame).labels)) == {0, 1}


def test_frames_of_another_size_are_resized_for_a_fixed_size_model_and_back(tmp_path, models):
    frames, labels = colour_frames(1, 64)
    generic = prompter(tmp_path, model=str(models["onnx"]), kind="labels")
    assert generic.input_size == (32, 32)  # read from the ONNX input
    result = generic.prompt(frames[0]).labels
    assert result.shape == (64, 64)
    assert (result == labels[0]).mean() > 0.97


def test_a_detector_gives_boxes_scaled_to_the_frame(tmp_path, models):
    frames, labels = colour_frames(1, 32)
    spec = {"model": str(models["detector"]), "kind": "boxes", "classes": {7: 1}, "input_size": [16, 16]}
    boxes = prompter(tmp_path, **spec).prompt(frames[0]).boxes
    ys, xs = np.nonzero(labels[0] == 1)
    assert len(boxes) == 1 and boxes[0].label == 1 and boxes[0].score == pytest.approx(0.9)
    assert boxes[0].xyxy == pytest.approx((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), abs=2.0)


def test_detections_below_the_score_threshold_are_dropped(tmp_path, models):
    frame = colour_frames(1, 32)[0][0]
    spec = {"model": str(models["detector"]), "kind": "boxes", "classes": {7: 1}, "score_threshold": 0.95}
    assert prompter(tmp_path, **spec).prompt(frame).boxes == ()


def test_a_segmentation_spec_on_a_detector_is_an_error_naming_the_output_shape(tmp_path, models):
    frame = colour_frames(1, 32)[0][0]
    with pytest.raises(PrompterError, match=r"output has shape \(1, 4\)"):
        prompter(tmp_path, model=str(models["detector"]), kind="labels", classes={7: 1}).prompt(frame)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"model": "missing.onnx", "kind": "labels"}, "model file not found"),
        ({"model": "seg.onnx", "kind": "masks"}, "kind: 'masks' is not one of"),
        ({"model": "seg.onnx", "kind": "labels", "classes": {1: 5}}, r"map to \[5\]"),
        ({"model": "seg.onnx", "kind": "labels", "colour": 1}, r"unknown key\(s\) \['colour'\]"),
        ({"kind": "labels"}, r"missing key\(s\) \['model'\]"),
    ],
)
def test_bad_specs_are_named(tmp_path, models, spec, message):
    (tmp_path / "seg.onnx").write_bytes(models["onnx"].read_bytes())
    with pytest.raises(PrompterError, match=message):
        prompter(tmp_path, **spec)


def test_a_corrupt_model_file_is_an_error_naming_it(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(PrompterError, match=r"bad\.onnx: ONNX Runtime cannot load the model"):
        prompter(tmp_path, model="bad.onnx", kind="labels")
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(PrompterError, match=r"bad\.pt: not a loadable TorchScript model"):
        prompter(tmp_path, model="bad.pt", kind="labels")


def test_checked_prompt_rejects_a_wrong_size_wrong_labels_and_bad_boxes():
    good = np.zeros((8, 8), np.uint8)
    assert checked_prompt(FramePrompt(labels=good), (8, 8), "labels", "p") is not None
    with pytest.raises(
        PrompterError, match=r"p returned a label map of shape \(4, 4\) for a frame of \(8, 8\)"
    ):
        checked_prompt(FramePrompt(labels=np.zeros((4, 4), np.uint8)), (8, 8), "labels", "p")
    with pytest.raises(PrompterError, match=r"labels \[5\] outside"):
        checked_prompt(FramePrompt(labels=np.full((8, 8), 5, np.uint8)), (8, 8), "labels", "p")
    with pytest.raises(PrompterError, match="must return a uint8 label map, got float32"):
        checked_prompt(FramePrompt(labels=good.astype(np.float32)), (8, 8), "labels", "p")
    with pytest.raises(PrompterError, match="outside the 8x8 frame"):
        checked_prompt(FramePrompt(boxes=(Box(1, (0, 0, 9, 4), 1.0),)), (8, 8), "boxes", "p")
    with pytest.raises(PrompterError, match="boxes are 1 \\(hand\\) or 2 \\(object\\)"):
        checked_prompt(FramePrompt(boxes=(Box(3, (0, 0, 4, 4), 1.0),)), (8, 8), "boxes", "p")
    with pytest.raises(PrompterError, match="returned ndarray, expected a FramePrompt"):
        checked_prompt(good, (8, 8), "labels", "p")


def test_the_best_box_of_a_label_is_the_highest_scoring():
    prompt = FramePrompt(
        boxes=(Box(1, (0, 0, 2, 2), 0.4), Box(1, (1, 1, 3, 3), 0.8), Box(2, (0, 0, 1, 1), 0.9))
    )
    assert prompt.object_box(1).score == 0.8
    assert prompt.object_mask(1) is None

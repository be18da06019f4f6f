"""SAM-2 propagation plumbing (a SAM-2 built from its config without weights, on CPU, at a small
size: the masks it propagates are meaningless, the keyframes, objects and overlaps are not) and
the re-prompt policy."""

import importlib.util
import itertools

import numpy as np
import pytest
import torch
from test_annotate_support import colour_frames, torch_threads

from training.annotation.keyframes import KeyframePolicy, agreement, box_iou, mask_iou, should_reprompt
from training.annotation.prompts import Box, FramePrompt
from training.annotation.sam2_tracker import (
    Sam2Error,
    available_configs,
    build_sam2_tracker,
    resolve_config,
    resolve_overlaps,
)

# sam2 installs with a recipe of its own (docs/annotation.md); without it the SAM-2 tests cannot run.
needs_sam2 = pytest.mark.skipif(
    importlib.util.find_spec("sam2") is None, reason="the sam2 package is not installed (docs/annotation.md)"
)


@pytest.fixture(scope="module")
def tracker():
    torch.manual_seed(0)
    return build_sam2_tracker("sam2.1_hiera_t", None, image_size=64, allow_random_init=True)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    with torch_threads(1):  # several times faster than the default on the shared test machine
        yield


def label_prompts(labels: np.ndarray) -> list[FramePrompt]:
    return [FramePrompt(labels=frame_labels) for frame_labels in labels]


# ----------------------------------------------------------------------------------------- policy


def test_iou_helpers():
    a = np.zeros((4, 4), bool)
    assert mask_iou(a, a) == 1.0  # both empty agree
    b = a.copy()
    b[:2] = True
    assert mask_iou(a, b) == 0.0
    assert box_iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert agreement(b, Box(1, (0, 0, 4, 2), 1.0)) == 1.0


def test_a_frame_is_reprompted_only_when_seen_disagreeing_and_far_enough_from_the_last_keyframe():
    policy = KeyframePolicy(reprompt_iou=0.5, min_gap=2, max_keyframes=3)
    seen = np.zeros((4, 4), bool)
    seen[:2] = True
    elsewhere = ~seen
    assert should_reprompt(2, elsewhere, seen, [0], policy)
    assert not should_reprompt(1, elsewhere, seen, [0], policy)  # too close
    assert not should_reprompt(2, seen, seen, [0], policy)  # agrees
    assert not should_reprompt(2, elsewhere, None, [0], policy)  # the prompter does not see it
    assert not should_reprompt(6, elsewhere, seen, [0, 2, 4], policy)  # budget spent


def test_policy_values_are_checked():
    with pytest.raises(ValueError, match="reprompt_iou must be within"):
        KeyframePolicy(reprompt_iou=1.5)
    with pytest.raises(ValueError, match="at least 1"):
        KeyframePolicy(min_gap=0)


def test_overlaps_go_to_the_object_with_the_larger_logit():
    logits = np.full((2, 1, 1, 3), -5.0, np.float32)
    logits[0, 0, 0] = [2.0, 1.0, -1.0]  # hand
    logits[1, 0, 0] = [1.0, 3.0, -2.0]  # object
    assert resolve_overlaps(logits)[0, 0].tolist() == [1, 2, 0]


# ----------------------------------------------------------------------------------------- SAM-2


@needs_sam2
def test_keyframes_carry_the_prompts_and_labels_are_a_valid_label_map(tracker):
    frames, labels = colour_frames(6, 32)
    policy = KeyframePolicy(reprompt_iou=0.5, min_gap=2, max_keyframes=8)
    result = tracker.track(frames, label_prompts(labels), policy)
    assert result.labels.shape == labels.shape and result.labels.dtype == np.uint8
    assert set(np.unique(result.labels)) <= {0, 1, 2}
    for name, label in (("hand", 1), ("object", 2)):
        frames_prompted = result.keyframes[name]
        assert frames_prompted[0] == 0
        assert all(b - a >= policy.min_gap for a, b in itertools.pairwise(frames_prompted))
        for frame in frames_prompted:  # SAM-2 returns a prompted mask as it is on its keyframe
            assert mask_iou(result.labels[frame] == label, labels[frame] == label) > 0.8


@needs_sam2
def test_an_object_first_seen_later_is_absent_before_its_first_keyframe(tracker):
    frames, labels = colour_frames(5, 32, object_from=3)
    result = tracker.track(frames, label_prompts(labels), KeyframePolicy())
    assert result.keyframes["object"][0] == 3
    assert not (result.labels[:3] == 2).any()


@needs_sam2
def test_an_object_never_seen_is_never_labelled(tracker):
    frames, labels = colour_frames(4, 32)
    labels[labels == 2] = 0
    result = tracker.track(frames, label_prompts(labels), KeyframePolicy())
    assert result.keyframes["object"] == []
    assert not (result.labels == 2).any()


@needs_sam2
def test_the_keyframe_budget_caps_reprompting(tracker):
    frames, labels = colour_frames(6, 32)
    result = tracker.track(
        frames, label_prompts(labels), KeyframePolicy(reprompt_iou=1.0, min_gap=1, max_keyframes=2)
    )
    assert all(len(kf) <= 2 for kf in result.keyframes.values())


@needs_sam2
def test_box_prompts_are_tracked(tracker):
    frames, labels = colour_frames(4, 32)
    prompts = []
    for frame_labels in labels:
        ys, xs = np.nonzero(frame_labels == 1)
        prompts.append(FramePrompt(boxes=(Box(1, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), 0.9),)))
    result = tracker.track(frames, prompts, KeyframePolicy())
    assert result.keyframes["hand"][0] == 0 and result.keyframes["object"] == []
    assert set(np.unique(result.labels)) <= {0, 1}


@needs_sam2
def test_one_prompt_per_frame_is_required(tracker):
    frames, labels = colour_frames(3, 32)
    with pytest.raises(ValueError, match="2 prompts for 3 frames"):
        tracker.track(frames, label_prompts(labels[:2]), KeyframePolicy())


@needs_sam2
def test_without_a_checkpoint_sam2_refuses_and_says_what_to_pass():
    with pytest.raises(Sam2Error, match=r"pass --sam2-checkpoint PATH.*or --per-frame-only"):
        build_sam2_tracker("sam2.1_hiera_t", None)


@needs_sam2
def test_an_unknown_config_lists_the_available_ones():
    assert "sam2.1_hiera_t" in available_configs()
    assert resolve_config("configs/sam2.1/sam2.1_hiera_t.yaml") == resolve_config("sam2.1_hiera_t")
    with pytest.raises(Sam2Error, match=r"unknown SAM-2 config 'hiera_xxl'; available: \[.*'sam2.1_hiera_t'"):
        resolve_config("hiera_xxl")


@needs_sam2
def test_a_checkpoint_of_another_model_is_named_as_not_matching_the_config(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"model": {"image_encoder.trunk.other": torch.zeros(3)}}, path)
    with pytest.raises(
        Sam2Error, match=r"missing key\(s\).*unexpected key\(s\).*match --sam2-config 'sam2.1_hiera_t'"
    ):
        build_sam2_tracker("sam2.1_hiera_t", path, image_size=64)


@needs_sam2
def test_an_unreadable_checkpoint_is_named(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(Sam2Error, match=r"broken\.pt: unreadable SAM-2 checkpoint"):
        build_sam2_tracker("sam2.1_hiera_t", path, image_size=64)
    with pytest.raises(Sam2Error, match="checkpoint not found"):
        build_sam2_tracker("sam2.1_hiera_t", tmp_path / "nowhere.pt")

"""ClipDataset and make_loader: sampling, resizing, augmentation, and surviving bad clips."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from egoexo_models.clip import Clip, ClipMeta, write_clip
from training.data import BadClipError, ClipDataset, make_loader, swap_left_right
from training.data.augment import AugmentConfig


def _write(
    root,
    name,
    *,
    frames=6,
    size=(16, 20),
    instruction="C pushes the red box to the left with the right hand.",
):
    """A synthetic clip whose pixel values encode (frame, view): exo red = 10*frame, ego green = 10*frame."""
    h, w = size
    exo = np.zeros((frames, h, w, 3), np.uint8)
    ego = np.zeros((frames, h, w, 3), np.uint8)
    exo[..., 0] = (10 * np.arange(frames))[:, None, None]
    ego[..., 1] = (10 * np.arange(frames))[:, None, None]
    masks = np.zeros((frames, h, w), np.uint8)
    masks[:, :, : w // 4] = 1  # hand on the left quarter
    masks[:, : h // 2, -w // 4 :] = 2  # object top right
    meta = ClipMeta(instruction=instruction, fps=8.0, num_frames=frames, height=h, width=w, source="test")
    return write_clip(root / name, Clip(meta, exo, ego, masks, masks.copy()))


@pytest.fixture
def clips(tmp_path):
    for i in range(3):
        _write(tmp_path, f"clip{i}")
    return tmp_path


def test_item_holds_both_views_masks_instruction_and_name(clips):
    item = ClipDataset(clips, num_frames=4, size=(16, 20))[1]
    assert item["exo"].shape == item["ego"].shape == (4, 3, 16, 20)
    assert item["exo"].dtype == torch.float32 and item["exo"].min() >= 0.0 and item["exo"].max() <= 1.0
    assert item["exo_masks"].shape == item["ego_masks"].shape == (4, 16, 20)
    assert item["ego_masks"].dtype == torch.int64
    assert item["clip"] == "clip1" and item["instruction"].startswith("C pushes")
    assert item["skipped"] == 0 and item["skipped_clips"] == ""


def test_frames_are_sampled_with_stride_from_the_start_or_at_random(clips):
    first = ClipDataset(clips, num_frames=3, frame_stride=2, size=(16, 20))[0]
    assert torch.allclose(first["exo"][:, 0, 0, 0] * 255, torch.tensor([0.0, 20.0, 40.0]))
    torch.manual_seed(0)
    starts = {
        round(
            ClipDataset(clips, num_frames=2, random_start=True, size=(16, 20))[0]["exo"][0, 0, 0, 0].item()
            * 25.5
        )
        for _ in range(40)
    }
    assert starts == {0, 1, 2, 3, 4}  # every start that leaves room for 2 frames


def test_resizing_is_bilinear_for_images_and_nearest_for_masks(clips):
    item = ClipDataset(clips, num_frames=2, size=(8, 10))[0]
    assert item["exo"].shape == (2, 3, 8, 10)
    assert set(item["exo_masks"].unique().tolist()) == {0, 1, 2}
    assert (item["exo_masks"][:, :, :2] == 1).all() and (item["exo_masks"][:, :4, -2:] == 2).all()


def test_views_and_masks_can_be_left_out(clips):
    item = ClipDataset(clips, num_frames=2, views=("ego",), masks=False)[0]
    assert "ego" in item and not {"exo", "exo_masks", "ego_masks"} & set(item)
    with pytest.raises(ValueError, match="views must be"):
        ClipDataset(clips, views=("top",))


def test_mirroring_flips_every_view_and_mask_and_swaps_left_and_right(clips):
    always = AugmentConfig(flip_probability=1.0, brightness=0.0, contrast=0.0, saturation=0.0)
    plain = ClipDataset(clips, num_frames=2, size=(16, 20))[0]
    mirrored = ClipDataset(clips, num_frames=2, size=(16, 20), augment=always)[0]
    for key in ("exo", "ego", "exo_masks", "ego_masks"):
        assert torch.equal(mirrored[key], plain[key].flip(-1))
    assert mirrored["instruction"] == "C pushes the red box to the right with the left hand."


def test_colour_jitter_keeps_values_in_range_and_masks_untouched(clips):
    strong = AugmentConfig(flip_probability=0.0, brightness=0.5, contrast=0.5, saturation=0.5)
    torch.manual_seed(1)
    item = ClipDataset(clips, num_frames=3, size=(16, 20), augment=strong)[2]
    plain = ClipDataset(clips, num_frames=3, size=(16, 20))[2]
    assert item["exo"].min() >= 0.0 and item["exo"].max() <= 1.0
    assert not torch.equal(item["exo"], plain["exo"])
    assert torch.equal(item["exo_masks"], plain["exo_masks"])


def test_swap_left_right_changes_whole_words_only():
    assert (
        swap_left_right("Left hand, then the right one; leftover")
        == "Right hand, then the left one; leftover"
    )


def test_a_bad_clip_is_reported_once_and_the_next_good_clip_served(clips, caplog):
    (clips / "clip1" / "ego" / "000002.png").write_bytes(b"not a png")
    dataset = ClipDataset(clips, num_frames=4)
    with caplog.at_level(logging.WARNING, logger="egoexo.data"):
        item = dataset[1]
        again = dataset[1]
    assert item["clip"] == again["clip"] == "clip2"
    assert item["skipped"] == 1 and item["skipped_clips"] == "clip1"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "clip1" in warnings[0] and "unreadable image" in warnings[0]


def test_without_skipping_a_bad_clip_raises_naming_it(clips):
    with pytest.raises(BadClipError, match=r"clip0.*has 6 frames, an item needs 8"):
        ClipDataset(clips, num_frames=8, skip_bad=False)[0]


def test_loader_survives_bad_clips_and_counts_them_at_the_end_of_a_pass(clips, caplog):
    (clips / "clip0" / "meta.json").write_text("{broken")
    _write(clips, "clip3", frames=2)  # too short for 4 frames
    loader = make_loader(ClipDataset(clips, num_frames=4), batch_size=2, shuffle=False, num_workers=0)
    with caplog.at_level(logging.WARNING, logger="egoexo.data"):
        names = [name for batch in loader for name in batch["clip"]]
    assert names == ["clip1", "clip1", "clip2", "clip1"]  # bad clips replaced by the next good one
    # Item 0 passes over clip0; item 3 over clip3 and, wrapping round, clip0 again.
    assert loader.skipped == 3 and loader.bad_clips == {"clip0", "clip3"}
    assert (
        "skipped 3 read(s) of bad clips; 2 bad clip(s) so far: clip0, clip3"
        in caplog.records[-1].getMessage()
    )


def test_an_empty_directory_is_an_error_that_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="egoexo sim"):
        ClipDataset(tmp_path)


def test_loader_shuffles_reproducibly_by_seed(clips):
    orders = [
        [n for b in make_loader(ClipDataset(clips, num_frames=2), 1, shuffle=True, seed=s) for n in b["clip"]]
        for s in (3, 3, 4, 5)
    ]
    assert orders[0] == orders[1] and sorted(orders[0]) == ["clip0", "clip1", "clip2"]
    assert any(order != orders[0] for order in orders[2:])

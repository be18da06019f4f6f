"""Clip format v1: a clip round-trips exactly, and every kind of damage is rejected by name."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from egoexo_models.clip import (
    CameraInfo,
    Clip,
    ClipFormatError,
    ClipMeta,
    list_clips,
    read_clip,
    read_meta,
    write_clip,
)

N, H, W = 4, 12, 16


def make_clip(num_frames: int = N, with_masks: bool = True, with_depth: bool = False) -> Clip:
    rng = np.random.default_rng(0)
    pose = np.tile(np.eye(4), (num_frames, 1, 1))
    meta = ClipMeta(
        instruction="C picks up the red cup with the right hand",
        fps=8.0,
        num_frames=num_frames,
        height=H,
        width=W,
        source="sim",
        ego_camera=CameraInfo(K=np.diag([10.0, 10.0, 1.0]), T_world_cam=pose),
        extra={"take_uid": "abc"},
    )
    labels = rng.integers(0, 3, (num_frames, H, W), dtype=np.uint8)
    return Clip(
        meta=meta,
        exo=rng.integers(0, 256, (num_frames, H, W, 3), dtype=np.uint8),
        ego=rng.integers(0, 256, (num_frames, H, W, 3), dtype=np.uint8),
        exo_masks=labels if with_masks else None,
        ego_masks=labels[::-1].copy() if with_masks else None,
        ego_depth=rng.uniform(0.1, 3.0, (num_frames, H, W)).astype(np.float32) if with_depth else None,
    )


@pytest.fixture
def clip_dir(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip_a", make_clip())


def test_a_written_clip_reads_back_identically(tmp_path):
    clip = make_clip(with_depth=True)
    loaded = read_clip(write_clip(tmp_path / "c", clip), load_depth=True)
    for name in ("exo", "ego", "exo_masks", "ego_masks"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(clip, name))
    np.testing.assert_allclose(loaded.ego_depth, clip.ego_depth, atol=0.0005 + 1e-6)
    assert loaded.meta.instruction == clip.meta.instruction
    assert loaded.meta.extra == {"take_uid": "abc"}
    np.testing.assert_array_equal(loaded.meta.ego_camera.T_world_cam, clip.meta.ego_camera.T_world_cam)
    assert loaded.meta.exo_camera is None


def test_prediction_input_needs_only_the_first_ego_frame(clip_dir):
    for index in range(1, N):
        (clip_dir / "ego" / f"{index:06d}.png").unlink()
    assert read_clip(clip_dir, ego_frames="first").ego.shape == (1, H, W, 3)
    with pytest.raises(ClipFormatError, match=r"000001\.png.*missing frame 1"):
        read_clip(clip_dir)


def test_masks_are_optional(tmp_path):
    loaded = read_clip(write_clip(tmp_path / "c", make_clip(with_masks=False)))
    assert loaded.exo_masks is None and loaded.ego_masks is None


def test_a_missing_frame_is_named(clip_dir):
    (clip_dir / "exo" / "000002.png").unlink()
    with pytest.raises(ClipFormatError, match=r"exo/000002\.png: missing frame 2 of 4"):
        read_clip(clip_dir)


def test_a_frame_of_another_size_is_named(clip_dir):
    Image.fromarray(np.zeros((H + 1, W, 3), np.uint8)).save(clip_dir / "ego" / "000003.png")
    with pytest.raises(ClipFormatError, match=r"ego/000003\.png: size 16x13 differs from meta.json's 16x12"):
        read_clip(clip_dir)


def test_a_label_outside_0_1_2_is_named(clip_dir):
    labels = np.zeros((H, W), np.uint8)
    labels[0, 0] = 7
    Image.fromarray(labels).save(clip_dir / "ego_masks" / "000001.png")
    with pytest.raises(ClipFormatError, match=r"ego_masks/000001\.png: label values \[7\] outside"):
        read_clip(clip_dir)


def test_a_wrong_format_tag_is_rejected(clip_dir):
    meta = json.loads((clip_dir / "meta.json").read_text())
    meta["format"] = "egoexo-clip/2"
    (clip_dir / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(
        ClipFormatError, match=r"meta.json: format is 'egoexo-clip/2', expected 'egoexo-clip/1'"
    ):
        read_clip(clip_dir)


def test_an_unreadable_png_is_named(clip_dir):
    (clip_dir / "exo_masks" / "000000.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ClipFormatError, match=r"exo_masks/000000\.png: unreadable image"):
        read_clip(clip_dir)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("instruction"), "missing key 'instruction'"),
        (lambda m: m.update(num_frames=0), "num_frames must be positive"),
        (lambda m: m.update(fps="fast"), "key 'fps' has the wrong type"),
        (
            lambda m: m.update(ego_camera={"K": [[1, 0], [0, 1]], "T_world_cam": []}),
            r"ego_camera.K must be 3x3",
        ),
    ],
)
def test_bad_meta_json_is_rejected(clip_dir, change, message):
    meta = json.loads((clip_dir / "meta.json").read_text())
    change(meta)
    (clip_dir / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ClipFormatError, match=message):
        read_meta(clip_dir)


def test_meta_json_that_is_not_json_is_rejected(clip_dir):
    (clip_dir / "meta.json").write_text("{not json")
    with pytest.raises(ClipFormatError, match="not valid JSON"):
        read_clip(clip_dir)


def test_writing_refuses_to_overwrite_unless_asked(tmp_path):
    target = write_clip(tmp_path / "c", make_clip())
    with pytest.raises(FileExistsError):
        write_clip(target, make_clip())
    write_clip(target, make_clip(num_frames=2), overwrite=True)
    assert read_clip(target).num_frames == 2


def test_writing_inconsistent_arrays_leaves_nothing_behind(tmp_path):
    clip = make_clip()
    clip.ego_masks = clip.ego_masks + 5
    with pytest.raises(ValueError, match="ego_masks holds label"):
        write_clip(tmp_path / "c", clip)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_mid_write_leaves_no_partial_clip(tmp_path, monkeypatch):
    import egoexo_models.clip as clip_module

    def fail(folder, frames):
        raise OSError("disk full")

    monkeypatch.setattr(clip_module, "_write_view", fail)
    with pytest.raises(OSError, match="disk full"):
        write_clip(tmp_path / "c", make_clip())
    assert list(tmp_path.iterdir()) == []


def test_list_clips_finds_clip_directories_sorted(tmp_path):
    for name in ("b", "a"):
        write_clip(tmp_path / name, make_clip())
    (tmp_path / "not_a_clip").mkdir()
    assert [p.name for p in list_clips(tmp_path)] == ["a", "b"]
    assert list_clips(tmp_path / "a") == [tmp_path / "a"]

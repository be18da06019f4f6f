"""Ego-Exo4D converter, on a small download tree in the real layout built here (tiny mp4 videos)."""

from __future__ import annotations

import json

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

from egoexo_models.clip import read_clip
from training.convert import egoexo4d

TAKE_UID, TAKE = "3c489f86-0000-4c86-8a5a-929999799d36", "upenn_cooking_1_2"
FPS, FRAMES = 30, 60


def _write_video(path, frames):
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimwrite(path, frames, fps=FPS, codec="libx264", quality=10, macro_block_size=16)


def _aria_frames(marker=True):
    """Grey level 4*index; a white square in the upright top-left corner. Stored turned 90 deg CCW."""
    frames = []
    for index in range(FRAMES):
        upright = np.full((64, 64, 3), 4 * index, np.uint8)
        if marker:
            upright[:16, :16] = 255
        frames.append(np.rot90(upright, k=1).copy())
    return frames


def _gopro_frames(channel):
    frames = []
    for index in range(FRAMES):
        frame = np.full((64, 112, 3), 4 * index, np.uint8)
        frame[24:40, 48:64, channel] = 255  # a coloured square in the middle tells the cameras apart
        frames.append(frame)
    return frames


def _description(text, timestamp, *, subject="C", visible="1", best="cam02"):
    return {
        "text": text,
        "timestamp": timestamp,
        "narration_subject": subject,
        "ego_visible": visible,
        "best_exo": {"raw_cam_id": best[-1], "cam_id": best},
        "unsure": "0",
    }


@pytest.fixture
def egoexo_root(tmp_path):
    root = tmp_path / "egoexo4d"

    def stream(path):
        return {"relative_path": path, "clip_uid": "x", "stream_id": "0", "readable_stream_id": "0"}

    take = {
        "take_uid": TAKE_UID,
        "take_name": TAKE,
        "root_dir": f"takes/{TAKE}",
        "parent_task_name": "Cooking",
        "task_name": "Making Tea",
        "duration_sec": FRAMES / FPS,
        "frame_aligned_videos": {
            "aria01": {
                "rgb": stream("frame_aligned_videos/aria01_214-1.mp4"),
                "slam-left": stream("frame_aligned_videos/aria01_1201-1.mp4"),
            },
            "cam01": {"0": stream("frame_aligned_videos/cam01.mp4")},
            "cam02": {"0": stream("frame_aligned_videos/cam02.mp4")},
            "collage": {"0": stream("ego_preview.mp4")},
            "best_exo": {"0": {"relative_path": None}},
        },
    }
    bike = dict(
        take,
        take_uid="bike-uid",
        take_name="cmu_bike01_2",
        root_dir="takes/cmu_bike01_2",
        parent_task_name="Bike Repair",
    )
    (root / "annotations").mkdir(parents=True)
    (root / "takes.json").write_text(json.dumps([take, bike]))
    annotations = {
        TAKE_UID: [
            {
                "annotation_uid": "a",
                "rejected": True,
                "descriptions": [_description("C rejected pass.", 0.5)],
            },
            {
                "annotation_uid": "b",
                "rejected": False,
                "descriptions": [
                    _description("C picks up the kettle with his right hand.", 0.5),
                    _description("The man X walks towards C.", 0.8, subject="O"),
                    _description("C looks at the window.", 1.0, visible="0"),
                    _description("C pours water into the cup.", 1.5, best="cam01"),
                ],
            },
            {
                "annotation_uid": "c",
                "rejected": False,
                "descriptions": [_description("C duplicate pass.", 0.7)],
            },
        ],
        "bike-uid": [
            {
                "annotation_uid": "d",
                "rejected": False,
                "descriptions": [_description("C turns the wheel.", 0.5)],
            }
        ],
    }
    (root / "annotations" / "atomic_descriptions_train.json").write_text(
        json.dumps({"annotations": annotations})
    )
    videos = root / "takes" / TAKE / "frame_aligned_videos"
    small = videos / "downscaled" / "448"
    _write_video(small / "aria01_214-1.mp4", _aria_frames())
    _write_video(small / "cam01.mp4", _gopro_frames(channel=1))
    _write_video(small / "cam02.mp4", _gopro_frames(channel=2))
    for name, width in (("aria01_214-1.mp4", 64), ("cam01.mp4", 112), ("cam02.mp4", 112)):
        _write_video(videos / name, [np.full((64, width, 3), 128, np.uint8)] * FRAMES)
    return root


def _convert(root, out, **kwargs):
    return egoexo4d.convert(root, out, frames=4, size=32, log=lambda _: None, **kwargs)


def test_each_wearer_narration_visible_in_ego_becomes_one_clip(egoexo_root, tmp_path):
    written = _convert(egoexo_root, tmp_path / "out")
    assert [p.name for p in written] == [f"egoexo4d_{TAKE}_0000", f"egoexo4d_{TAKE}_0003"]
    first, second = (read_clip(p) for p in written)
    assert first.meta.instruction == "C picks up the kettle with his right hand."
    assert second.meta.instruction == "C pours water into the cup."
    assert first.meta.source == "egoexo4d" and first.meta.extra["take_uid"] == TAKE_UID
    assert first.meta.num_frames == 4 and first.meta.fps == pytest.approx(4.0)


def test_frames_are_spread_over_a_window_centred_on_the_narration(egoexo_root, tmp_path):
    clip = read_clip(_convert(egoexo_root, tmp_path / "out")[0])
    # Window [0, 1] s around 0.5 s: bin centres 0.125, 0.375, 0.625, 0.875 s -> frames 4, 11, 19, 26.
    assert clip.meta.extra["source_frames"] == [4, 11, 19, 26]
    assert np.allclose(clip.ego[:, 24, 24].mean(axis=1), [16, 44, 76, 104], atol=6)
    # The Aria frames are turned upright: the marker is top-left again.
    assert clip.ego[:, :6, :6].min() > 230 and clip.ego[:, -6:, -6:].max() < 120


def test_the_annotated_best_exo_camera_is_used_without_masks(egoexo_root, tmp_path):
    first, second = (read_clip(p) for p in _convert(egoexo_root, tmp_path / "out"))
    assert (first.meta.extra["exo_cam"], second.meta.extra["exo_cam"]) == ("cam02", "cam01")
    assert first.meta.extra["exo_selection"] == "best_exo"
    centre_first, centre_second = first.exo[0, 16, 16].astype(int), second.exo[0, 16, 16].astype(int)
    assert centre_first[2] > centre_first[1] + 80 and centre_second[1] > centre_second[2] + 80


def test_hand_masks_choose_the_exo_view_with_the_most_hand(egoexo_root, tmp_path):
    masks = tmp_path / "masks" / TAKE
    for cam, rows in (("cam01", 30), ("cam02", 5)):
        (masks / cam).mkdir(parents=True)
        for index in range(FRAMES):
            labels = np.zeros((64, 112), np.uint8)
            labels[:rows] = 1
            Image.fromarray(labels).save(masks / cam / f"{index:06d}.png")
    clips = [read_clip(p) for p in _convert(egoexo_root, tmp_path / "out", exo_masks=tmp_path / "masks")]
    assert {c.meta.extra["exo_cam"] for c in clips} == {"cam01"}
    assert {c.meta.extra["exo_selection"] for c in clips} == {"hand_masks"}
    assert clips[0].exo_masks is not None and (clips[0].exo_masks[:, :14] == 1).all()


def test_full_resolution_videos_are_read_when_asked(egoexo_root, tmp_path):
    clip = read_clip(_convert(egoexo_root, tmp_path / "out", downscaled=False, max_clips=1)[0])
    assert np.allclose(clip.ego.mean(), 128, atol=4)


def test_missing_metadata_or_videos_are_reported_clearly(egoexo_root, tmp_path, capsys):
    assert egoexo4d.main([str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "takes.json: missing; is this an Ego-Exo4D download directory?" in capsys.readouterr().err
    (egoexo_root / "takes" / TAKE / "frame_aligned_videos" / "cam01.mp4").unlink()
    assert egoexo4d.main([str(egoexo_root), "--out", str(tmp_path / "out"), "--full-resolution"]) == 2
    assert f"take {TAKE}: video" in capsys.readouterr().err


def test_all_exo_views_keeps_every_gopro_beside_a_provisional_exo_view(egoexo_root, tmp_path):
    written = _convert(egoexo_root, tmp_path / "out", all_exo_views=True)
    for path in written:
        clip = read_clip(path)
        assert clip.meta.extra["exo_views"] == ["cam01", "cam02"]
        assert "exo_view_cameras" not in clip.meta.extra  # Ego-Exo4D calibration is not converted
        views = {cam: read_clip_view(path / "exo_views" / cam) for cam in ("cam01", "cam02")}
        assert np.array_equal(clip.exo, views[clip.meta.extra["exo_cam"]])
        green, blue = views["cam01"][0, 16, 16].astype(int), views["cam02"][0, 16, 16].astype(int)
        assert green[1] > green[2] + 80 and blue[2] > blue[1] + 80
    assert [read_clip(p).meta.extra["exo_cam"] for p in written] == ["cam02", "cam01"]  # best_exo
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [p.name for p in written]


def read_clip_view(folder):
    return np.stack([np.asarray(Image.open(path)) for path in sorted(folder.glob("*.png"))])

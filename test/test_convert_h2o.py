"""H2O converter, on a small tree in the real H2O layout built here (tiny 16:9 frames)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from egoexo_models.clip import list_clips, read_clip
from training.convert import h2o

SEQUENCE = "subject3/k2/0"
W, H = 64, 36  # 16:9 like H2O's 1280x720


def _frame(cam: int, index: int) -> np.ndarray:
    """Red encodes the frame index, green the camera; the centre square is brighter in blue."""
    image = np.zeros((H, W, 3), np.uint8)
    image[..., 0] = 4 * index
    image[..., 1] = 40 * cam
    image[:, (W - H) // 2 : (W + H) // 2, 2] = 200
    return image


@pytest.fixture
def h2o_root(tmp_path):
    root = tmp_path / "h2o"
    for cam in range(5):
        cam_dir = root / SEQUENCE / f"cam{cam}"
        (cam_dir / "rgb").mkdir(parents=True)
        (cam_dir / "cam_pose").mkdir()
        (cam_dir / "cam_intrinsics.txt").write_text(f"{50.0 + cam} {50.0 + cam} 31.5 17.5 {W} {H}\n")
        for index in range(24):
            Image.fromarray(_frame(cam, index)).save(cam_dir / "rgb" / f"{index:06d}.png")
            pose = np.eye(4)
            pose[:3, 3] = [cam, index / 100, 1.0]
            (cam_dir / "cam_pose" / f"{index:06d}.txt").write_text(" ".join(f"{v:.6f}" for v in pose.ravel()))
    labels = root / "action_labels"
    labels.mkdir()
    (labels / "action_val.txt").write_text(
        "id path action_label start_act end_act start_frame end_frame\n"
        f"1 {SEQUENCE} 23 4 19 0 23\n"
        f"2 {SEQUENCE} 1 20 23 0 23\n"
    )
    return root


def test_each_action_segment_becomes_a_clip_with_a_narration(h2o_root, tmp_path):
    written = h2o.convert(h2o_root, tmp_path / "out", frames=4, size=24, log=lambda _: None)
    assert [p.name for p in written] == ["h2o_subject3_k2_0_0001", "h2o_subject3_k2_0_0002"]
    first, second = (read_clip(p) for p in written)
    assert first.meta.instruction == "C pours the milk." and second.meta.instruction == "C grabs the book."
    assert first.meta.source == "h2o" and first.meta.extra["source_frames"] == [4, 9, 14, 19]
    assert first.meta.fps == pytest.approx(4 * 30 / 16)
    # Frames come from the segment, ego from cam4 and exo from cam0, centre-cropped to a square.
    assert first.exo.shape == (4, 24, 24, 3)
    assert np.allclose(first.ego[:, 12, 12, 0], [16, 36, 56, 76], atol=2)
    assert np.allclose(first.ego[:, 12, 12, 1], 160, atol=2) and np.allclose(
        first.exo[:, 12, 12, 1], 0, atol=2
    )
    assert first.ego[:, :, :, 2].min() > 180  # only the bright centre square survives the crop


def test_cameras_follow_the_crop_and_the_per_frame_poses(h2o_root, tmp_path):
    clip = read_clip(h2o.convert(h2o_root, tmp_path / "out", frames=4, size=24, log=lambda _: None)[0])
    K = clip.meta.ego_camera.K
    scale = 24 / 36
    assert K[0, 0] == pytest.approx(54.0 * scale)
    assert K[0, 2] == pytest.approx((31.5 - 14 + 0.5) * scale - 0.5) and K[1, 2] == pytest.approx(11.5)
    assert np.allclose(clip.meta.ego_camera.T_world_cam[:, 1, 3], [0.04, 0.09, 0.14, 0.19])


def test_hand_masks_pick_the_exo_camera_and_are_written(h2o_root, tmp_path):
    masks = tmp_path / "masks"
    for cam, hand_rows in (("cam0", 2), ("cam2", 10)):
        folder = masks / SEQUENCE / cam
        folder.mkdir(parents=True)
        for index in range(24):
            labels = np.zeros((H, W), np.uint8)
            labels[:hand_rows] = 1
            Image.fromarray(labels).save(folder / f"{index:06d}.png")
    clip = read_clip(
        h2o.convert(h2o_root, tmp_path / "out", frames=4, size=24, exo_masks=masks, log=lambda _: None)[0]
    )
    assert clip.meta.extra["exo_cam"] == "cam2"
    assert np.allclose(clip.exo[:, 12, 12, 1], 80, atol=2)
    assert (
        clip.exo_masks is not None
        and (clip.exo_masks[:, :6] == 1).all()
        and (clip.exo_masks[:, 8:] == 0).all()
    )


def test_rerunning_keeps_clips_already_converted(h2o_root, tmp_path):
    out = tmp_path / "out"
    h2o.convert(h2o_root, out, frames=2, size=16, max_clips=1, log=lambda _: None)
    assert len(h2o.convert(h2o_root, out, frames=2, size=16, log=lambda _: None)) == 1
    assert len(list_clips(out)) == 2


def test_bad_inputs_are_named_in_the_error(h2o_root, tmp_path, capsys):
    assert h2o.main([str(h2o_root), "--out", str(tmp_path / "o"), "--split", "test"]) == 2
    assert "action_test.txt: missing H2O action label file" in capsys.readouterr().err
    (h2o_root / "action_labels" / "action_val.txt").write_text("id path action_label\n1 subject3/k2/0 5\n")
    with pytest.raises(ValueError, match="expected 7 fields"):
        h2o.convert(h2o_root, tmp_path / "o")
    with pytest.raises(ValueError, match="exo_cam must be one of cam0, cam1, cam2, cam3"):
        h2o.convert(h2o_root, tmp_path / "o", exo_cam="cam4")
    with pytest.raises(ValueError, match="unknown H2O action label 0"):
        h2o.instruction(0)


def test_all_exo_views_keeps_the_four_fixed_cameras_with_their_calibration(h2o_root, tmp_path):
    path = h2o.convert(
        h2o_root, tmp_path / "out", frames=4, size=24, all_exo_views=True, max_clips=1, log=lambda _: None
    )[0]
    clip = read_clip(path)
    assert clip.meta.extra["exo_views"] == list(h2o.EXO_CAMS)
    assert (clip.meta.extra["exo_cam"], clip.meta.extra["exo_selection"]) == ("cam0", "exo_cam")
    cameras = clip.meta.extra["exo_view_cameras"]
    scale = 24 / 36
    for cam in range(4):
        frames = np.stack(
            [np.asarray(Image.open(p)) for p in sorted((path / "exo_views" / f"cam{cam}").iterdir())]
        )
        assert frames.shape == (4, 24, 24, 3) and np.allclose(frames[:, 12, 12, 1], 40 * cam, atol=2)
        assert cameras[f"cam{cam}"]["K"][0][0] == pytest.approx((50.0 + cam) * scale)
        assert np.allclose(np.array(cameras[f"cam{cam}"]["T_world_cam"])[:, 0, 3], cam)
    assert np.array_equal(
        clip.exo,
        np.stack([np.asarray(Image.open(p)) for p in sorted((path / "exo_views" / "cam0").iterdir())]),
    )
    assert np.allclose(clip.meta.exo_camera.K, cameras["cam0"]["K"])


def test_a_failed_write_of_the_exo_views_leaves_no_clip_behind(h2o_root, tmp_path, monkeypatch):
    saves = []
    original_save = Image.Image.save

    def failing_save(self, *args, **kwargs):
        saves.append(1)
        if len(saves) == 14:  # after the clip's own frames, within exo_views/
            raise OSError("disk full")
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        h2o.convert(h2o_root, tmp_path / "out", frames=4, size=24, all_exo_views=True, log=lambda _: None)
    assert list((tmp_path / "out").iterdir()) == []

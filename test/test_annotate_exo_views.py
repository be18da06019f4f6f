"""Several exo cameras, end to end: converter --all-exo-views -> annotate.py -> the best view recorded.

The fixture trees are in the real H2O and Ego-Exo4D layouts, drawn in the colour world of
test_annotate_support (red hand, blue object on grey), so the colour segmenter exported to ONNX
annotates them exactly and each camera shows the hand at a known size.
"""

import json
import shutil

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image
from test_annotate_support import BACKGROUND, BLUE, RED, ColourSegmenter, export_onnx, write_spec

from egoexo_models.clip import read_clip
from training.annotate import main as annotate
from training.convert import egoexo4d, h2o

HAND_SIDE = {"cam0": 4, "cam1": 6, "cam2": 14, "cam3": 8, "cam4": 10}  # H2O: cam2 shows the most hand
SEQUENCE = "subject1/h1/0"


def colour_frame(height: int, width: int, hand_side: int, index: int) -> np.ndarray:
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = BACKGROUND
    left = (width - height) // 2  # inside the centred square the converters keep
    frame[4 : 4 + hand_side, left + 2 + index % 4 : left + 2 + index % 4 + hand_side] = RED
    frame[height - 12 : height - 4, left + height - 12 : left + height - 4] = BLUE
    return frame


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prompter")
    export_onnx(ColourSegmenter(), folder / "colour.onnx")
    return write_spec(folder / "colour.yaml", model="colour.onnx", kind="labels")


@pytest.fixture
def h2o_root(tmp_path):
    root = tmp_path / "h2o"
    for cam, side in HAND_SIDE.items():
        cam_dir = root / SEQUENCE / cam
        (cam_dir / "rgb").mkdir(parents=True)
        (cam_dir / "cam_pose").mkdir()
        (cam_dir / "cam_intrinsics.txt").write_text(f"{40.0 + side} {40.0 + side} 31.5 17.5 64 36\n")
        for index in range(8):
            Image.fromarray(colour_frame(36, 64, side, index)).save(cam_dir / "rgb" / f"{index:06d}.png")
            (cam_dir / "cam_pose" / f"{index:06d}.txt").write_text(" ".join(map(str, np.eye(4).ravel())))
    (root / "action_labels").mkdir()
    (root / "action_labels" / "action_val.txt").write_text(
        f"id path action_label start_act end_act start_frame end_frame\n1 {SEQUENCE} 5 0 7 0 7\n"
    )
    return root


def convert_h2o(root, out):
    return h2o.convert(root, out, frames=4, size=32, all_exo_views=True, log=lambda _: None)


def annotate_exo(root, spec) -> int:
    return annotate([str(root), "--views", "exo", "--prompter", str(spec), "--per-frame-only"])


def test_h2o_clip_gets_the_camera_with_the_most_hand_after_annotation(h2o_root, spec, tmp_path):
    clip_dir = convert_h2o(h2o_root, tmp_path / "clips")[0]
    assert read_clip(clip_dir).meta.extra["exo_cam"] == "cam0"  # the provisional --exo-cam default
    assert annotate_exo(tmp_path / "clips", spec) == 0

    clip = read_clip(clip_dir)
    choice = clip.meta.extra["exo_view"]
    fractions = choice["hand_fraction"]
    assert choice["selected"] == "cam2" == clip.meta.extra["exo_cam"]
    assert clip.meta.extra["exo_selection"] == "hand_masks"
    assert fractions["cam2"] > fractions["cam3"] > fractions["cam1"] > fractions["cam0"] > 0
    cam2 = np.stack([np.asarray(Image.open(p)) for p in sorted((clip_dir / "exo_views" / "cam2").iterdir())])
    assert np.array_equal(clip.exo, cam2)
    assert (clip.exo_masks == 1).mean() == pytest.approx(fractions["cam2"], abs=1e-6)
    assert clip.meta.exo_camera.K[0, 0] == pytest.approx((40.0 + 14) * 32 / 36)  # cam2's calibration
    for cam in h2o.EXO_CAMS:
        assert len(list((clip_dir / "exo_view_masks" / cam).iterdir())) == 4


def test_ego_exo4d_clip_gets_the_gopro_with_the_most_hand_after_annotation(spec, tmp_path):
    root = tmp_path / "egoexo4d"
    take = {
        "take_uid": "uid-1",
        "take_name": "lab_cooking_1",
        "root_dir": "takes/lab_cooking_1",
        "parent_task_name": "Cooking",
        "frame_aligned_videos": {
            "aria01": {"rgb": {"relative_path": "frame_aligned_videos/aria01_214-1.mp4"}},
            **{
                cam: {"0": {"relative_path": f"frame_aligned_videos/{cam}.mp4"}} for cam in ("cam01", "cam02")
            },
        },
    }
    (root / "annotations").mkdir(parents=True)
    (root / "takes.json").write_text(json.dumps([take]))
    narration = {
        "text": "C picks up the cup.",
        "timestamp": 0.5,
        "narration_subject": "C",
        "ego_visible": "1",
    }
    (root / "annotations" / "atomic_descriptions_train.json").write_text(
        json.dumps({"annotations": {"uid-1": [{"rejected": False, "descriptions": [narration]}]}})
    )
    videos = root / "takes" / "lab_cooking_1" / "frame_aligned_videos"
    videos.mkdir(parents=True)
    for name, side in (("aria01_214-1", 12), ("cam01", 6), ("cam02", 16)):
        frames = [colour_frame(48, 64, side, index) for index in range(30)]
        imageio.mimwrite(
            videos / f"{name}.mp4", frames, fps=30, codec="libx264", quality=10, macro_block_size=16
        )

    clip_dir = egoexo4d.convert(
        root, tmp_path / "clips", frames=4, size=32, all_exo_views=True, log=lambda _: None
    )[0]
    assert read_clip(clip_dir).meta.extra["exo_selection"] == "first"  # provisional: no best_exo given
    assert annotate_exo(tmp_path / "clips", spec) == 0
    clip = read_clip(clip_dir)
    assert clip.meta.extra["exo_view"]["selected"] == "cam02" == clip.meta.extra["exo_cam"]
    assert clip.meta.extra["exo_selection"] == "hand_masks"
    assert clip.meta.exo_camera is None


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: shutil.rmtree(d / "exo_views" / "cam3"),
            "\"exo_views\" lists ['cam0', 'cam1', 'cam2', 'cam3'] but",
        ),
        (
            lambda d: (d / "exo_views" / "cam1" / "000002.png").write_bytes(b"\x89PNG broken"),
            "exo_views/cam1/000002.png: unreadable image",
        ),
        (
            lambda d: (d / "exo_views" / "cam2" / "000003.png").unlink(),
            "exo_views/cam2/000003.png: missing frame 3 of 4",
        ),
        (
            lambda d: Image.new("RGB", (16, 16)).save(d / "exo_views" / "cam1" / "000000.png"),
            "exo_views/cam1/000000.png: size 16x16 differs from meta.json's 32x32",
        ),
        (
            lambda d: edit_meta(d, exo_view_cameras={"cam2": {"K": [[1, 0], [0, 1]], "T_world_cam": []}}),
            '"exo_view_cameras"["cam2"]: K (2, 2)',
        ),
    ],
    ids=["camera-missing", "corrupt-frame", "missing-frame", "wrong-size", "bad-calibration"],
)
def test_a_clip_with_a_broken_exo_view_fails_with_the_problem_and_stays_as_it_was(
    h2o_root, spec, tmp_path, capsys, damage, message
):
    clip_dir = convert_h2o(h2o_root, tmp_path / "clips")[0]
    good = shutil.copytree(clip_dir, tmp_path / "clips" / "h2o_good")
    damage(clip_dir)
    before = {p: p.read_bytes() for p in clip_dir.rglob("*") if p.is_file()}
    assert annotate_exo(tmp_path / "clips", spec) == 1
    out = capsys.readouterr().out
    assert f"failed {clip_dir.name}:" in out and message in out
    assert {p: p.read_bytes() for p in clip_dir.rglob("*") if p.is_file()} == before
    assert read_clip(good).meta.extra["exo_view"]["selected"] == "cam2"  # the other clip goes on
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == sorted([clip_dir.name, good.name])


def edit_meta(clip_dir, **changes):
    meta = json.loads((clip_dir / "meta.json").read_text())
    meta.update(changes)
    (clip_dir / "meta.json").write_text(json.dumps(meta))

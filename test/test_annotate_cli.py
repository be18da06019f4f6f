"""training/annotate.py and the clip annotator: resumable per clip, all or nothing, clear failures."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_annotate_support import (
    ColourSegmenter,
    colour_frames,
    export_onnx,
    torch_threads,
    write_colour_clip,
    write_spec,
)

from egoexo_models.clip import read_clip, read_meta
from training.annotate import main
from training.annotation.annotator import AnnotationSettings, ClipAnnotator, recover_interrupted
from training.annotation.generic import GenericModelPrompter, load_prompter_spec
from training.annotation.keyframes import KeyframePolicy
from training.annotation.sam2_tracker import build_sam2_tracker

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    with torch_threads(1):  # several times faster than the default on the shared test machine
        yield


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prompter")
    export_onnx(ColourSegmenter(), folder / "colour.onnx")
    return write_spec(folder / "colour.yaml", model="colour.onnx", kind="labels")


@pytest.fixture
def clips(tmp_path):
    root = tmp_path / "clips"
    for name in ("clip_a", "clip_b", "clip_c"):
        write_colour_clip(root, name, num_frames=4)
    return root


def run(root: Path, *args: str) -> int:
    return main([str(root), *args])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_per_frame_annotation_fills_both_views_and_records_it(clips, spec, capsys):
    assert run(clips, "--prompter", str(spec), "--per-frame-only") == 0
    _frames, labels = colour_frames(4, 32)
    for clip_dir in sorted(clips.iterdir()):
        clip = read_clip(clip_dir)
        assert np.array_equal(clip.exo_masks, labels)
        assert np.array_equal(clip.ego_masks, labels[:, ::-1])
        record = clip.meta.extra["annotation"]
        assert record["settings"]["mode"] == "per-frame" and record["settings"]["sam2"] is None
        assert record["settings"]["prompters"]["exo"].startswith("generic:colour.onnx:")
    assert "3 clips in" in capsys.readouterr().out


def test_a_rerun_skips_the_clips_already_done_and_changes_nothing(clips, spec, capsys):
    assert run(clips, "--prompter", str(spec), "--per-frame-only") == 0
    before = snapshot(clips)
    capsys.readouterr()
    assert run(clips, "--prompter", str(spec), "--per-frame-only") == 0
    out = capsys.readouterr().out
    assert "0 done, 3 skipped, 0 failed" in out
    assert "skipped clip_a: already annotated with these settings" in out
    assert snapshot(clips) == before


def test_bad_clips_fail_with_their_reason_while_the_others_are_annotated(clips, spec, capsys):
    (clips / "clip_a" / "exo" / "000002.png").write_bytes(b"\x89PNG broken")
    shutil.rmtree(clips / "clip_b" / "ego")
    before = {name: snapshot(clips / name) for name in ("clip_a", "clip_b")}
    assert run(clips, "--prompter", str(spec), "--per-frame-only") == 1
    out = capsys.readouterr().out
    assert "1 done, 0 skipped, 2 failed" in out
    assert "failed clip_a:" in out and "exo/000002.png: unreadable image" in out
    assert "failed clip_b:" in out and "ego: missing" in out
    for name, files in before.items():  # untouched, nothing half-written
        assert snapshot(clips / name) == files
    assert sorted(p.name for p in clips.iterdir()) == ["clip_a", "clip_b", "clip_c"]
    assert read_clip(clips / "clip_c").exo_masks is not None


def test_existing_masks_not_made_by_the_tool_are_kept_unless_overwrite(tmp_path, spec, capsys):
    root = tmp_path / "clips"
    write_colour_clip(root, "with_truth", num_frames=4, masks=True)
    assert run(root, "--prompter", str(spec), "--per-frame-only") == 0
    assert "has ego_masks/, exo_masks/ not made by annotate.py (ground truth?)" in capsys.readouterr().out
    assert "annotation" not in read_meta(root / "with_truth").extra
    assert run(root, "--prompter", str(spec), "--per-frame-only", "--overwrite") == 0
    assert "annotation" in read_meta(root / "with_truth").extra


def test_a_prompter_breaking_its_contract_fails_the_clip_naming_clip_view_frame_and_prompter(
    tmp_path, clips, capsys
):
    export_onnx(ColourSegmenter(num_classes=4), tmp_path / "four.onnx")
    strict = write_spec(tmp_path / "four.yaml", model="four.onnx", kind="labels")  # class 3 is not mapped
    assert run(clips, "--views", "exo", "--prompter", str(strict), "--per-frame-only") == 1
    out = capsys.readouterr().out
    assert "failed clip_a: clip_a/exo frame 0: prompter generic:four.onnx:" in out
    assert "class(es) [3] that the spec's `classes` does not map" in out


def test_without_sam2_weights_the_tool_says_what_to_pass(clips, spec, capsys):
    assert run(clips, "--prompter", str(spec)) == 2
    err = capsys.readouterr().err
    assert "SAM-2 needs weights" in err and "--per-frame-only" in err


def test_a_device_torch_cannot_use_is_refused_before_any_clip_is_touched(clips, spec, capsys):
    before = snapshot(clips)
    assert run(clips, "--prompter", str(spec), "--per-frame-only", "--device", "gpu0") == 2
    assert "--device 'gpu0' is not a torch device" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert run(clips, "--prompter", str(spec), "--per-frame-only", "--device", "cuda") == 2
        assert "no CUDA GPU that torch can use; use cpu" in capsys.readouterr().err
    assert snapshot(clips) == before


def test_an_empty_root_and_an_unknown_view_are_errors(tmp_path, spec, capsys):
    (tmp_path / "empty").mkdir()
    assert run(tmp_path / "empty", "--prompter", str(spec), "--per-frame-only") == 2
    assert "no clip directories" in capsys.readouterr().err
    assert run(tmp_path / "empty", "--views", "side", "--per-frame-only") == 2
    assert "views must be distinct names from ('ego', 'exo')" in capsys.readouterr().err


def test_a_failing_write_leaves_the_clip_as_it_was(clips, spec, monkeypatch):
    before = snapshot(clips / "clip_a")
    saves = []

    def failing_save(self, *args, **kwargs):
        saves.append(1)
        if len(saves) == 3:
            raise OSError("disk full")
        return original_save(self, *args, **kwargs)

    original_save = Image.Image.save
    monkeypatch.setattr(Image.Image, "save", failing_save)
    prompter = GenericModelPrompter(load_prompter_spec(spec))
    annotator = ClipAnnotator(
        {"ego": prompter, "exo": prompter}, None, AnnotationSettings(per_frame_only=True)
    )
    outcome = annotator.annotate(clips / "clip_a")
    assert outcome.status == "failed" and "disk full" in outcome.reason
    assert snapshot(clips / "clip_a") == before
    assert sorted(p.name for p in clips.iterdir()) == ["clip_a", "clip_b", "clip_c"]


def test_an_interrupted_replace_is_recovered(clips):
    (clips / "clip_a").rename(clips / ".clip_a.old")  # killed between the two renames of replace_dir
    (clips / ".clip_b.annotate.partial").mkdir()
    actions = recover_interrupted(clips)
    assert "restored clip_a from .clip_a.old" in actions
    assert sorted(p.name for p in clips.iterdir()) == ["clip_a", "clip_b", "clip_c"]


def test_sam2_propagation_annotates_a_clip_and_records_the_keyframes(clips, spec):
    pytest.importorskip("sam2", reason="the sam2 package is not installed (see docs/annotation.md)")
    torch.manual_seed(0)
    tracker = build_sam2_tracker("sam2.1_hiera_t", None, image_size=64, allow_random_init=True)
    prompter = GenericModelPrompter(load_prompter_spec(spec))
    settings = AnnotationSettings(views=("exo",), policy=KeyframePolicy(min_gap=2))
    outcome = ClipAnnotator({"exo": prompter}, tracker, settings).annotate(clips / "clip_a")
    assert outcome.status == "done", outcome.reason
    clip = read_clip(clips / "clip_a")
    assert clip.ego_masks is None and set(np.unique(clip.exo_masks)) <= {0, 1, 2}
    record = clip.meta.extra["annotation"]
    assert record["settings"]["sam2"] == "sam2:sam2.1_hiera_t:random-init"
    assert record["keyframes"]["exo"]["hand"][0] == 0 and record["keyframes"]["exo"]["object"][0] == 0


def test_the_exo_view_with_the_most_hand_becomes_the_clips_exo_view(tmp_path, spec):
    root = tmp_path / "clips"
    clip_dir = write_colour_clip(root, "take", num_frames=4)
    frames, _ = colour_frames(4, 32)
    small_hand = frames.copy()
    small_hand[:, :, :6][np.all(small_hand[:, :, :6] == (230, 20, 20), axis=-1)] = (128, 128, 128)
    for camera, views in (("cam_a", small_hand), ("cam_b", frames)):
        (clip_dir / "exo_views" / camera).mkdir(parents=True)
        for index, frame in enumerate(views):
            Image.fromarray(frame).save(clip_dir / "exo_views" / camera / f"{index:06d}.png")
    meta = json.loads((clip_dir / "meta.json").read_text())
    cameras = {
        name: {"K": (np.eye(3) * scale).tolist(), "T_world_cam": np.tile(np.eye(4), (4, 1, 1)).tolist()}
        for name, scale in (("cam_a", 1.0), ("cam_b", 2.0))
    }
    meta["exo_view_cameras"] = cameras
    (clip_dir / "meta.json").write_text(json.dumps(meta))

    assert main([str(root), "--views", "exo", "--prompter", str(spec), "--per-frame-only"]) == 0
    clip = read_clip(clip_dir)
    choice = clip.meta.extra["exo_view"]
    assert choice["selected"] == "cam_b" == clip.meta.extra["exo_cam"]
    assert choice["hand_fraction"]["cam_b"] > choice["hand_fraction"]["cam_a"] > 0
    assert np.array_equal(clip.exo, frames)
    assert (clip_dir / "exo_view_masks" / "cam_a" / "000000.png").is_file()
    assert np.array_equal(clip.meta.exo_camera.K, np.eye(3) * 2.0)  # cam_b's camera


def test_annotate_py_runs_as_a_script(clips, spec):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "training" / "annotate.py"),
            str(clips),
            "--prompter",
            str(spec),
            "--per-frame-only",
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        cwd=clips,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "3 done, 0 skipped, 0 failed" in result.stdout

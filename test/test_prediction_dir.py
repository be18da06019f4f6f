"""Prediction directories: round trip, atomic writing, preview, and clear errors on bad input."""

import json

import numpy as np
import pytest
from PIL import Image

import egoexo_models.prediction_dir as prediction_dir
from egoexo_models.clip import Clip, ClipMeta
from egoexo_models.prediction_dir import (
    Prediction,
    PredictionFormatError,
    list_predictions,
    read_prediction,
    write_prediction,
)

N, H, W = 4, 24, 32


def make_prediction(with_frames: bool = True) -> Prediction:
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 3, (N, H, W), dtype=np.uint8)
    frames = rng.integers(0, 256, (N - 1, H, W, 3), dtype=np.uint8) if with_frames else None
    info = {
        "models": {"maskpred": "maskpred:1234abcd"},
        "backend": "torch",
        "seed": 3,
        "timings_s": {"masks": 0.5},
    }
    return Prediction(ego_masks=masks, frames=frames, info=info)


def make_clip(ego_frames: int = N) -> Clip:
    rng = np.random.default_rng(1)
    return Clip(
        meta=ClipMeta(
            instruction="pick up the cup", fps=10.0, num_frames=N, height=H, width=W, source="test"
        ),
        exo=rng.integers(0, 256, (N, H, W, 3), dtype=np.uint8),
        ego=rng.integers(0, 256, (ego_frames, H, W, 3), dtype=np.uint8),
    )


def test_a_written_prediction_reads_back_equal(tmp_path):
    prediction = make_prediction()
    clip = make_clip()
    clip.path = tmp_path / "clips" / "clip_0001"
    out = write_prediction(tmp_path / "clip_0001", prediction, clip)
    assert sorted(p.name for p in (out / "pred_ego").iterdir()) == ["000001.png", "000002.png", "000003.png"]
    assert sorted(p.name for p in (out / "pred_ego_masks").iterdir())[0] == "000000.png"
    loaded = read_prediction(out)
    np.testing.assert_array_equal(loaded.ego_masks, prediction.ego_masks)
    np.testing.assert_array_equal(loaded.frames, prediction.frames)
    assert loaded.info == prediction.info
    document = json.loads((out / "pred.json").read_text())
    assert document["clip"] == "clip_0001" and document["frames_predicted"] is True
    assert document["backend"] == "torch"


def test_a_mask_only_prediction_has_no_frame_folder(tmp_path):
    out = write_prediction(tmp_path / "p", make_prediction(with_frames=False))
    assert not (out / "pred_ego").exists()
    assert read_prediction(out).frames is None


def test_the_preview_puts_exo_truth_masks_and_prediction_side_by_side(tmp_path):
    clip = make_clip()
    out = write_prediction(tmp_path / "p", make_prediction(), clip)
    gif = Image.open(out / "preview.gif")
    zoom = 4  # 32 px panels are enlarged to at least 128 px
    assert gif.n_frames == N
    assert gif.size == (4 * W * zoom, 12 + H * zoom)
    assert gif.info["duration"] == 100  # 10 fps
    gif.seek(0)
    first = np.asarray(gif.convert("RGB"))
    predicted_panel_pixel = first[12 + 2 * zoom, 3 * W * zoom + 2 * zoom]
    assert np.abs(predicted_panel_pixel.astype(int) - clip.ego[0, 2, 2]).max() < 40  # frame 0 shows the input


def test_the_preview_without_ground_truth_frames_has_fewer_panels(tmp_path):
    out = write_prediction(tmp_path / "p", make_prediction(with_frames=False), make_clip(ego_frames=1))
    assert Image.open(out / "preview.gif").size[0] == 2 * W * 4  # exo | masks


def test_an_existing_directory_is_kept_unless_overwrite_is_given(tmp_path):
    write_prediction(tmp_path / "p", make_prediction())
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_prediction(tmp_path / "p", make_prediction(with_frames=False))
    write_prediction(tmp_path / "p", make_prediction(with_frames=False), overwrite=True)
    assert read_prediction(tmp_path / "p").frames is None


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken_preview(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(prediction_dir, "write_preview", broken_preview)
    with pytest.raises(OSError, match="disk full"):
        write_prediction(tmp_path / "p", make_prediction())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: setattr(p, "ego_masks", p.ego_masks.astype(np.int32)), "ego_masks must be uint8"),
        (lambda p: p.ego_masks.__setitem__((0, 0, 0), 3), "label 3"),
        (lambda p: setattr(p, "frames", p.frames[:2]), r"frames must be uint8 \(3, 24, 32, 3\)"),
        (lambda p: p.info.__setitem__("num_frames", 4), "reserved"),
        (lambda p: setattr(p, "ego_masks", p.ego_masks[:1]), "needs N >= 2"),
        (lambda p: p.info.__setitem__("latency", float("nan")), "JSON-serialisable"),
    ],
    ids=["dtype", "label", "frame count", "reserved key", "single frame", "nan"],
)
def test_malformed_predictions_are_rejected_before_writing(tmp_path, change, message):
    prediction = make_prediction()
    change(prediction)
    with pytest.raises(ValueError, match=message):
        write_prediction(tmp_path / "p", prediction)
    assert not (tmp_path / "p").exists()


def test_a_prediction_that_does_not_match_its_clip_is_rejected(tmp_path):
    prediction = make_prediction()
    prediction.ego_masks = prediction.ego_masks[:, :, :16]
    prediction.frames = prediction.frames[:, :, :16]
    with pytest.raises(ValueError, match="16x24, clip <in memory> has 4 of 32x24"):
        write_prediction(tmp_path / "p", prediction, make_clip())


def test_reading_names_a_missing_mask_frame(tmp_path):
    out = write_prediction(tmp_path / "p", make_prediction())
    (out / "pred_ego_masks" / "000002.png").unlink()
    with pytest.raises(PredictionFormatError, match=r"pred_ego_masks/000002\.png: missing frame"):
        read_prediction(out)


def test_reading_rejects_labels_outside_the_three_classes(tmp_path):
    out = write_prediction(tmp_path / "p", make_prediction())
    Image.fromarray(np.full((H, W), 7, np.uint8)).save(out / "pred_ego_masks" / "000001.png")
    with pytest.raises(PredictionFormatError, match=r"000001\.png: label values \[7\]"):
        read_prediction(out)


def test_reading_rejects_a_frame_of_another_size(tmp_path):
    out = write_prediction(tmp_path / "p", make_prediction())
    Image.fromarray(np.zeros((H, W + 1, 3), np.uint8)).save(out / "pred_ego" / "000003.png")
    with pytest.raises(PredictionFormatError, match=r"size 33x24 differs from pred\.json's 32x24"):
        read_prediction(out)


def test_reading_rejects_an_unreadable_png_and_extra_frames(tmp_path):
    out = write_prediction(tmp_path / "p", make_prediction())
    (out / "pred_ego" / "000001.png").write_bytes(b"not a png")
    with pytest.raises(PredictionFormatError, match="unreadable image"):
        read_prediction(out)
    out = write_prediction(tmp_path / "q", make_prediction())
    Image.fromarray(np.zeros((H, W), np.uint8)).save(out / "pred_ego_masks" / "000004.png")
    with pytest.raises(PredictionFormatError, match="beyond num_frames=4"):
        read_prediction(out)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "missing: a prediction directory needs pred.json"),
        ("{", "not valid JSON"),
        ('{"format": "egoexo-prediction/0"}', "format is 'egoexo-prediction/0'"),
        (
            '{"format": "egoexo-prediction/1", "num_frames": 0, "height": 2, "width": 2, "frames_predicted": false}',
            "'num_frames' must be a positive integer, got 0",
        ),
    ],
    ids=["missing", "not json", "format", "num_frames"],
)
def test_reading_rejects_a_bad_pred_json(tmp_path, content, message):
    (tmp_path / "p").mkdir()
    if content is not None:
        (tmp_path / "p" / "pred.json").write_text(content)
    with pytest.raises(PredictionFormatError, match=message):
        read_prediction(tmp_path / "p")


def test_list_predictions_finds_the_directories_with_pred_json(tmp_path):
    write_prediction(tmp_path / "b", make_prediction())
    write_prediction(tmp_path / "a", make_prediction(with_frames=False))
    (tmp_path / "not_a_prediction").mkdir()
    assert [p.name for p in list_predictions(tmp_path)] == ["a", "b"]
    assert list_predictions(tmp_path / "a") == [tmp_path / "a"]

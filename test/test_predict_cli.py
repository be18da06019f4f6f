"""`egoexo predict CLIP_DIR --out OUT_DIR` on tiny random weights: output directory, timings, errors."""

import json

import numpy as np
import pytest

from egoexo_models.cli import main
from egoexo_models.clip import Clip, ClipMeta, write_clip
from egoexo_models.pipeline import write_random_weights

SIZE, FRAMES = 32, 4


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_random_weights(tmp_path_factory.mktemp("weights"), size=SIZE, num_frames=FRAMES)


def clip_dir(root, *, size=SIZE, exo_masks=True):
    rng = np.random.default_rng(1)
    meta = ClipMeta(
        instruction="put the can down to the left",
        fps=8.0,
        num_frames=FRAMES,
        height=size,
        width=size,
        source="sim",
    )
    clip = Clip(
        meta=meta,
        exo=rng.integers(0, 256, (FRAMES, size, size, 3), dtype=np.uint8),
        ego=rng.integers(0, 256, (FRAMES, size, size, 3), dtype=np.uint8),
        exo_masks=rng.integers(0, 3, (FRAMES, size, size), dtype=np.uint8) if exo_masks else None,
        ego_masks=rng.integers(0, 3, (FRAMES, size, size), dtype=np.uint8),
    )
    return write_clip(root / f"clip_{size}", clip)


def test_predict_writes_the_prediction_directory_and_prints_stage_timings(tmp_path, weights, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            str(clip_dir(tmp_path)),
            "--out",
            str(out),
            "--weights-dir",
            str(weights),
            "--steps",
            "2",
            "--seed",
            "4",
        ]
    )
    assert code == 0
    assert sorted(p.name for p in (out / "pred_ego").iterdir()) == ["000001.png", "000002.png", "000003.png"]
    assert len(list((out / "pred_ego_masks").iterdir())) == FRAMES
    assert (out / "preview.gif").is_file()
    info = json.loads((out / "pred.json").read_text())
    assert (info["seed"], info["steps"], info["backend"]) == (4, 2, "torch")
    printed = capsys.readouterr().out
    assert "unet_s" in printed and "masks_s" in printed and f"wrote {out}" in printed


def test_predict_refuses_to_overwrite_without_the_flag(tmp_path, weights, capsys):
    out = tmp_path / "out"
    out.mkdir()
    assert main(["predict", str(clip_dir(tmp_path)), "--out", str(out), "--weights-dir", str(weights)]) == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--steps", "0"], "steps must be an integer"),
        (["--seed", "-3"], "seed must be an integer"),
    ],
)
def test_bad_sampler_arguments_are_reported_without_a_traceback(tmp_path, weights, capsys, extra, message):
    args = [
        "predict",
        str(clip_dir(tmp_path)),
        "--out",
        str(tmp_path / "o"),
        "--weights-dir",
        str(weights),
        *extra,
    ]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_a_clip_of_another_size_is_reported_with_what_the_models_need(tmp_path, weights, capsys):
    args = [
        "predict",
        str(clip_dir(tmp_path, size=48)),
        "--out",
        str(tmp_path / "o"),
        "--weights-dir",
        str(weights),
    ]
    assert main(args) == 2
    assert "need 4 frames of 32x32" in capsys.readouterr().err


def test_a_missing_clip_directory_is_reported(tmp_path, weights, capsys):
    assert (
        main(["predict", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--weights-dir", str(weights)])
        == 2
    )
    assert "nope" in capsys.readouterr().err

"""`egoexo evaluate` end to end on tiny clips written in tmp_path."""

import json
import math

import numpy as np
import pytest
import torch

from egoexo_models.cli import main
from egoexo_models.clip import Clip, ClipMeta, write_clip
from egoexo_models.evaluation import (
    NOT_PREDICTED,
    WEIGHTS_NOT_GIVEN,
    EvaluationError,
    PerceptualWeights,
    evaluate,
)
from egoexo_models.metrics.fvd import I3d
from egoexo_models.metrics.lpips import ALEXNET_CHANNELS, AlexNetFeatures
from egoexo_models.prediction_dir import Prediction, write_prediction

SIZE = 32


def make_clip(num_frames: int = 4, seed: int = 0, with_masks: bool = True, ego_frames: str = "all") -> Clip:
    """A hand (8x8 square) moving right 2 px per frame past a still object, on a smooth background."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((num_frames, SIZE, SIZE), dtype=np.uint8)
    for k in range(num_frames):
        masks[k, 4:12, 2 + 2 * k : 10 + 2 * k] = 1
        masks[k, 20:28, 20:28] = 2
    background = np.linspace(40, 200, SIZE * SIZE * 3).reshape(SIZE, SIZE, 3)
    ego = np.repeat(background[None], num_frames, axis=0).astype(np.uint8)
    ego[masks == 1] = (230, 160, 120)
    ego[masks == 2] = (30, 60, 220)
    ego = np.clip(ego + rng.integers(-5, 5, ego.shape), 0, 255).astype(np.uint8)
    return Clip(
        meta=ClipMeta("pick up the cup", 8.0, num_frames, SIZE, SIZE, "test"),
        exo=rng.integers(0, 256, (num_frames, SIZE, SIZE, 3), dtype=np.uint8),
        ego=ego if ego_frames == "all" else ego[:1],
        ego_masks=masks if with_masks else None,
    )


def perfect(clip: Clip) -> Prediction:
    return Prediction(ego_masks=clip.ego_masks.copy(), frames=clip.ego[1:].copy(), info={"model": "oracle"})


def write_pair(root, name: str, clip: Clip, prediction: Prediction) -> None:
    write_clip(root / "clips" / name, clip)
    write_prediction(root / "pred" / name, prediction, clip)


def test_a_perfect_prediction_scores_perfectly_beside_the_baselines(tmp_path):
    clip = make_clip()
    write_pair(tmp_path, "c0", clip, perfect(clip))
    report = evaluate(tmp_path / "pred", tmp_path / "clips")
    model, copy, background = (report.mean[p] for p in ("model", "copy_first", "all_background"))
    for name in ("hand", "object", "hand_or_object"):
        assert model[f"unobserved/{name}/iou"] == 1.0
        assert model[f"unobserved/{name}/contour_accuracy"] == 1.0
        assert model[f"unobserved/{name}/location_error"] == 0.0
    assert model["video/ssim"] == pytest.approx(1.0)
    assert model["video/psnr"] == math.inf and model["video/region_psnr"] == math.inf
    # copy-first: the hand moved 2, 4, 6 px of its 8 px width, the object stayed
    expected_hand_iou = (48 / 80 + 32 / 96 + 16 / 112) / 3
    assert copy["unobserved/hand/iou"] == pytest.approx(expected_hand_iou)
    assert copy["unobserved/object/iou"] == 1.0
    assert copy["observed/hand/iou"] == 1.0
    assert copy["video/psnr"] < 40
    assert background["unobserved/hand/iou"] == 0.0
    assert math.isnan(background["unobserved/hand/location_error"])
    assert background["unobserved/hand/location_error_frames"] == 0
    assert background["video/ssim"] == NOT_PREDICTED
    assert model["video/lpips"] == WEIGHTS_NOT_GIVEN and model["video/fvd"] == WEIGHTS_NOT_GIVEN


def test_the_mean_pools_the_frames_of_all_clips(tmp_path):
    good, bad = make_clip(seed=1), make_clip(seed=2)
    write_pair(tmp_path, "good", good, perfect(good))
    empty = Prediction(ego_masks=np.zeros_like(bad.ego_masks), frames=bad.ego[1:].copy())
    write_pair(tmp_path, "bad", bad, empty)
    report = evaluate(tmp_path / "pred", tmp_path / "clips")
    assert [c.name for c in report.clips] == ["bad", "good"]
    assert report.clips[0].scores["model"]["unobserved/hand/iou"] == 0.0
    assert report.mean["model"]["unobserved/hand/iou"] == pytest.approx(0.5)
    assert report.mean["model"]["unobserved/hand/location_error_frames"] == 3


def test_a_mask_only_prediction_says_its_video_was_not_predicted(tmp_path):
    clip = make_clip()
    write_pair(tmp_path, "c0", clip, Prediction(ego_masks=clip.ego_masks.copy()))
    report = evaluate(tmp_path / "pred", tmp_path / "clips")
    assert report.clips[0].scores["model"]["video/ssim"] == NOT_PREDICTED
    assert isinstance(report.clips[0].scores["copy_first"]["video/ssim"], float)
    assert report.clips[0].scores["model"]["unobserved/hand/iou"] == 1.0
    assert "masks only" in report.format_table()


def test_a_mask_only_prediction_can_be_scored_against_an_input_clip(tmp_path):
    clip = make_clip(ego_frames="first")
    write_pair(tmp_path, "c0", clip, Prediction(ego_masks=clip.ego_masks.copy()))
    scores = evaluate(tmp_path / "pred", tmp_path / "clips").clips[0].scores
    assert scores["model"]["unobserved/hand/iou"] == 1.0
    assert scores["copy_first"]["video/ssim"].startswith(
        "not computed: the clip has no ground-truth ego frames"
    )


def test_the_json_report_is_strict_json_and_says_what_was_not_computed(tmp_path):
    clip = make_clip()
    write_pair(tmp_path, "c0", clip, perfect(clip))
    report = evaluate(tmp_path / "pred", tmp_path / "clips")
    report.write_json(tmp_path / "report.json")

    def reject(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    document = json.loads((tmp_path / "report.json").read_text(), parse_constant=reject)
    assert document["clips"][0]["name"] == "c0" and document["clips"][0]["info"] == {"model": "oracle"}
    assert document["mean"]["scores"]["model"]["video/psnr"] == "inf"
    assert document["mean"]["scores"]["all_background"]["unobserved/hand/location_error"] is None
    assert {"metric": "video/lpips", "predictor": "model", "reason": WEIGHTS_NOT_GIVEN} in document[
        "not_computed"
    ]
    assert {"metric": "video/fvd", "predictor": "copy_first", "reason": WEIGHTS_NOT_GIVEN} in document[
        "not_computed"
    ]


def test_the_table_has_the_baselines_side_by_side(tmp_path):
    clip = make_clip()
    write_pair(tmp_path, "c0", clip, perfect(clip))
    table = evaluate(tmp_path / "pred", tmp_path / "clips").format_table()
    header = next(line for line in table.splitlines() if "copy_first" in line)
    assert header.split() == ["model", "copy_first", "all_background"]
    assert "clip c0: 4 frames, 32x32" in table and "mean over 1 clip(s)" in table
    assert "video LPIPS (model): not computed: weights not given" in table
    row = next(line for line in table.splitlines() if line.startswith("unobserved hand|object IoU"))
    copy_first_iou = (112 / 144 + 96 / 160 + 80 / 176) / 3  # hand overlap + still object, over the union
    assert row.split()[-3:] == ["1.000", f"{copy_first_iou:.3f}", "0.000"]


def test_a_prediction_without_a_clip_of_its_name_is_an_error(tmp_path):
    clip = make_clip()
    write_clip(tmp_path / "clips" / "c0", clip)
    write_prediction(tmp_path / "pred" / "c1", perfect(clip))
    with pytest.raises(EvaluationError, match=r"no clip under .* for prediction\(s\) \['c1'\]"):
        evaluate(tmp_path / "pred", tmp_path / "clips")


def test_a_clip_without_ground_truth_masks_is_an_error(tmp_path):
    clip = make_clip()
    write_pair(tmp_path, "c0", make_clip(with_masks=False), perfect(clip))
    with pytest.raises(EvaluationError, match=r"no ground-truth ego masks \(ego_masks/\)"):
        evaluate(tmp_path / "pred", tmp_path / "clips")


def test_predicted_frames_without_ground_truth_frames_are_an_error(tmp_path):
    clip = make_clip()
    write_clip(tmp_path / "clips" / "c0", make_clip(ego_frames="first"))
    write_prediction(tmp_path / "pred" / "c0", perfect(clip))
    with pytest.raises(EvaluationError, match=r"has no ground-truth ego frames 1\.\.N-1"):
        evaluate(tmp_path / "pred", tmp_path / "clips")


def test_a_prediction_of_another_size_is_an_error(tmp_path):
    write_clip(tmp_path / "clips" / "c0", make_clip(num_frames=4))
    write_prediction(tmp_path / "pred" / "c0", perfect(make_clip(num_frames=5)))
    with pytest.raises(EvaluationError, match=r"holds 5 frames of 32x32 but clip .* has 4 frames of 32x32"):
        evaluate(tmp_path / "pred", tmp_path / "clips")


def test_an_empty_prediction_root_is_an_error(tmp_path):
    write_clip(tmp_path / "clips" / "c0", make_clip())
    (tmp_path / "pred").mkdir()
    with pytest.raises(EvaluationError, match="holds no prediction directory"):
        evaluate(tmp_path / "pred", tmp_path / "clips")


def test_a_single_prediction_and_a_single_clip_pair_whatever_their_names(tmp_path):
    clip = make_clip()
    write_clip(tmp_path / "my_clip", clip)
    write_prediction(tmp_path / "out", perfect(clip), clip)
    report = evaluate(tmp_path / "out", tmp_path / "my_clip")
    assert report.mean["model"]["unobserved/hand/iou"] == 1.0


def test_the_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    clip = make_clip()
    write_pair(tmp_path, "c0", clip, perfect(clip))
    argv = ["evaluate", "--pred", str(tmp_path / "pred"), "--clips", str(tmp_path / "clips")]
    assert main([*argv, "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "mean over 1 clip(s)" in out and "r.json" in out
    assert json.loads((tmp_path / "r.json").read_text())["format"] == "egoexo-evaluation/1"


def test_the_cli_reports_bad_input_on_stderr(tmp_path, capsys):
    write_clip(tmp_path / "clips" / "c0", make_clip())
    (tmp_path / "pred").mkdir()
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), "--clips", str(tmp_path / "clips")]) == 2
    assert "egoexo evaluate: " in capsys.readouterr().err


def write_random_lpips(tmp_path) -> PerceptualWeights:
    torch.manual_seed(0)
    torch.save(AlexNetFeatures().state_dict(), tmp_path / "alexnet.pth")
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(ALEXNET_CHANNELS)}
    torch.save(heads, tmp_path / "heads.pth")
    return PerceptualWeights(lpips_alexnet=tmp_path / "alexnet.pth", lpips_heads=tmp_path / "heads.pth")


def test_lpips_is_computed_when_both_weight_files_are_given(tmp_path):
    clip = make_clip()
    write_pair(tmp_path, "c0", clip, perfect(clip))
    report = evaluate(tmp_path / "pred", tmp_path / "clips", weights=write_random_lpips(tmp_path))
    assert report.mean["model"]["video/lpips"] == pytest.approx(0.0, abs=1e-6)
    assert report.mean["copy_first"]["video/lpips"] > 0
    assert report.settings["lpips_heads"] == str(tmp_path / "heads.pth")


def test_lpips_with_only_one_weight_file_is_an_error(tmp_path):
    clip = make_clip()
    write_pair(tmp_path, "c0", clip, perfect(clip))
    weights = PerceptualWeights(lpips_alexnet=tmp_path / "alexnet.pth")
    with pytest.raises(EvaluationError, match="LPIPS needs both weight files"):
        evaluate(tmp_path / "pred", tmp_path / "clips", weights=weights)


def test_an_unusable_device_for_the_learned_metrics_is_an_error(tmp_path):
    clip = make_clip()
    write_pair(tmp_path, "c0", clip, perfect(clip))
    with pytest.raises(EvaluationError, match="is not a torch device"):
        evaluate(tmp_path / "pred", tmp_path / "clips", weights=write_random_lpips(tmp_path), device="gpu0")


@pytest.mark.slow
def test_fvd_is_computed_over_clips_when_i3d_weights_are_given(tmp_path):
    torch.manual_seed(0)
    torch.save(I3d().state_dict(), tmp_path / "i3d.pt")
    for seed in (0, 1):
        clip = make_clip(num_frames=10, seed=seed)
        write_pair(tmp_path, f"c{seed}", clip, perfect(clip))
    report = evaluate(
        tmp_path / "pred", tmp_path / "clips", weights=PerceptualWeights(fvd_i3d=tmp_path / "i3d.pt")
    )
    assert report.mean["model"]["video/fvd"] == pytest.approx(0.0, abs=1e-9)
    assert report.mean["copy_first"]["video/fvd"] > 0
    assert report.mean["all_background"]["video/fvd"] == NOT_PREDICTED

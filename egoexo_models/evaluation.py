"""Scoring prediction directories against clips: the core of `egoexo evaluate`, also called by the demo.

Each prediction directory under the prediction root is matched by name to the clip directory of the
same name under the clip root (when both roots are themselves a single prediction and a single
clip, they are paired whatever their names). Each is scored beside the baselines (copy-first and
all-background, see egoexo_models.baselines):

- masks (egoexo_models.metrics.masks): IoU, contour accuracy (CA) and location error (LE) per class
  (hand, object, hand-or-object), on the observed frame 0 and on the unobserved frames 1..N-1
  apart, with the number of frames whose LE is defined beside it;
- video (frames 1..N-1; egoexo_models.metrics.video): SSIM, PSNR, and both on the ground-truth HOI
  region; LPIPS (AlexNet) when its two weight files are given;
- over all clips only: FVD (I3D) when its weight file is given.

The mean over clips pools frames: each metric is averaged over all scored frames of all clips
(as the Ego-Exo4D evaluation does). A metric that could not be computed holds the reason as a
string instead of a number ("not predicted", "not computed: weights not given", ...); an undefined
value (LE without both masks, a region metric without a region) is NaN, shown "n/a", JSON null.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from egoexo_models.baselines import ALL_BACKGROUND, COPY_FIRST, baselines
from egoexo_models.clip import Clip, frame_name, list_clips, read_clip, read_meta
from egoexo_models.metrics.masks import BOUNDARY_TOLERANCE, EVAL_SIZE, MASK_CLASSES, score_mask_sequence
from egoexo_models.metrics.video import REGION_DILATION, hoi_region, score_video
from egoexo_models.prediction_dir import Prediction, list_predictions, read_prediction
from egoexo_models.weights import atomic_write_bytes

if TYPE_CHECKING:  # torch-based; imported at run time only when their weights are given
    from egoexo_models.metrics.fvd import I3d
    from egoexo_models.metrics.lpips import LpipsAlex

EVALUATION_FORMAT = "egoexo-evaluation/1"
MODEL = "model"
PREDICTORS = (MODEL, COPY_FIRST, ALL_BACKGROUND)
SPLITS = ("observed", "unobserved")  # frame 0, frames 1..N-1
MASK_METRICS = ("iou", "contour_accuracy", "location_error")
VIDEO_METRICS = ("ssim", "psnr", "region_ssim", "region_psnr", "lpips")
FVD = "video/fvd"

NOT_PREDICTED = "not predicted"
WEIGHTS_NOT_GIVEN = "not computed: weights not given"
NO_GROUND_TRUTH_FRAMES = "not computed: the clip has no ground-truth ego frames 1..N-1"

Value = float | int | str  # a score, a frame count, or why there is none


class EvaluationError(ValueError):
    """The predictions and clips cannot be scored together (missing clip, no ground truth, sizes)."""


@dataclass(frozen=True)
class PerceptualWeights:
    """User-given weight files of the learned metrics; a metric whose files are None is not computed."""

    lpips_alexnet: Path | None = None  # torchvision AlexNet state dict
    lpips_heads: Path | None = None  # lpips package weights/v0.1/alex.pth
    fvd_i3d: Path | None = None  # I3D state dict (PyTorch port layout, e.g. rgb_imagenet.pt)


def mask_metric_keys() -> list[str]:
    """Keys of the mask rows in table order, e.g. "unobserved/hand_or_object/iou"."""
    return [
        f"{split}/{name}/{metric}"
        for split in SPLITS
        for name in MASK_CLASSES
        for metric in (*MASK_METRICS, "location_error_frames")
    ]


VIDEO_KEYS = [f"video/{metric}" for metric in VIDEO_METRICS]


@dataclass
class ClipEvaluation:
    """Scores of one clip: predictor -> metric key -> value (or the reason there is none)."""

    name: str
    num_frames: int
    height: int
    width: int
    frames_predicted: bool
    info: dict[str, Any]
    scores: dict[str, dict[str, Value]]


@dataclass
class EvaluationReport:
    """Per-clip and mean scores of the model and the baselines."""

    pred_root: Path
    clip_root: Path
    clips: list[ClipEvaluation]
    mean: dict[str, dict[str, Value]]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def format_table(self) -> str:
        """Plain-text tables: one per clip, then the mean over clips, then the notes."""
        blocks = []
        for clip in self.clips:
            title = (
                f"clip {clip.name}: {clip.num_frames} frames, {clip.width}x{clip.height}"
                f"{'' if clip.frames_predicted else ', masks only'}"
            )
            blocks.append(_table(title, clip.scores, with_fvd=False))
        blocks.append(_table(f"mean over {len(self.clips)} clip(s), frames pooled", self.mean, with_fvd=True))
        if self.notes:
            blocks.append("notes:\n" + "\n".join(f"  - {note}" for note in self.notes))
        return "\n\n".join(blocks) + "\n"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: settings, per-clip scores, mean, what was not computed and why."""
        not_computed = sorted(
            {
                (metric, predictor, value)
                for predictor, scores in self.mean.items()
                for metric, value in scores.items()
                if isinstance(value, str)
            }
        )
        return {
            "format": EVALUATION_FORMAT,
            "pred_root": str(self.pred_root),
            "clip_root": str(self.clip_root),
            "settings": self.settings,
            "predictors": list(PREDICTORS),
            "clips": [
                {
                    "name": clip.name,
                    "num_frames": clip.num_frames,
                    "height": clip.height,
                    "width": clip.width,
                    "frames_predicted": clip.frames_predicted,
                    "info": clip.info,
                    "scores": _json_scores(clip.scores),
                }
                for clip in self.clips
            ],
            "mean": {"num_clips": len(self.clips), "scores": _json_scores(self.mean)},
            "not_computed": [{"metric": m, "predictor": p, "reason": r} for m, p, r in not_computed],
            "notes": self.notes,
        }

    def write_json(self, path: str | os.PathLike) -> None:
        """Write `to_json()` to `path` atomically."""
        text = json.dumps(self.to_json(), indent=1, allow_nan=False) + "\n"
        atomic_write_bytes(Path(path), text.encode())


# ----------------------------------------------------------------------------------------- scoring


@dataclass
class _Scored:
    """Per-frame values of one predictor on one clip, and the metrics it has no values for."""

    frames: dict[str, np.ndarray]
    missing: dict[str, str]


def evaluate(
    pred_root: str | os.PathLike,
    clip_root: str | os.PathLike,
    *,
    weights: PerceptualWeights | None = None,
    device: str = "cpu",
) -> EvaluationReport:
    """Score every prediction directory under `pred_root` against its clip under `clip_root`.

    Args:
        pred_root: a prediction directory, or a directory of them (see egoexo_models.prediction_dir).
        clip_root: a clip directory, or a directory of them (clip format v1).
        weights: LPIPS and FVD weight files; without them those metrics say "not computed".
        device: torch device of the LPIPS and I3D networks.

    Raises:
        EvaluationError: no predictions, a prediction without a clip of its name, a clip without
            ground truth (ego_masks/, or ego frames when frames were predicted), mismatched sizes.
        PredictionFormatError, ClipFormatError: a malformed prediction or clip.
        WeightsError: a weight file that is missing or does not fit its network.
    """
    weights = weights or PerceptualWeights()
    pred_root, clip_root = Path(pred_root), Path(clip_root)
    pairs = _match(pred_root, clip_root)
    lpips = _load_lpips(weights, device)
    i3d = _load_i3d(weights, device)

    clips: list[ClipEvaluation] = []
    pooled: dict[str, list[_Scored]] = {p: [] for p in PREDICTORS}
    i3d_features: dict[str, list[np.ndarray]] = {"ground_truth": [], **{p: [] for p in PREDICTORS}}
    for pred_dir, clip_dir in pairs:
        prediction = read_prediction(pred_dir)
        clip = _read_ground_truth(clip_dir, pred_dir, prediction)
        predictions = {MODEL: prediction, **baselines(clip)}
        scored = {name: _score(p, clip, lpips) for name, p in predictions.items()}
        for name, result in scored.items():
            pooled[name].append(result)
        if i3d is not None:
            _collect_i3d_features(i3d, clip, predictions, i3d_features)
        clips.append(
            ClipEvaluation(
                name=pred_dir.name,
                num_frames=clip.num_frames,
                height=clip.meta.height,
                width=clip.meta.width,
                frames_predicted=prediction.frames is not None,
                info=prediction.info,
                scores={name: _summarise([result]) for name, result in scored.items()},
            )
        )
    mean = {name: _summarise(results) for name, results in pooled.items()}
    notes = _notes(clips)
    for name in PREDICTORS:
        mean[name][FVD] = _fvd(name, clips, i3d_features, weights)
    if i3d is not None:
        notes.append(
            f"FVD over {len(clips)} clip(s); its covariance estimate needs hundreds of videos to be reliable"
        )
    settings = {
        "mask_eval_size": EVAL_SIZE,
        "boundary_tolerance": BOUNDARY_TOLERANCE,
        "location_error_normaliser": "diagonal of a 480x480 frame",
        "region_dilation": REGION_DILATION,
        "lpips_alexnet": _path_or_none(weights.lpips_alexnet),
        "lpips_heads": _path_or_none(weights.lpips_heads),
        "fvd_i3d": _path_or_none(weights.fvd_i3d),
        "device": device,
    }
    return EvaluationReport(pred_root, clip_root, clips, mean, settings, notes)


def _path_or_none(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _match(pred_root: Path, clip_root: Path) -> list[tuple[Path, Path]]:
    """(prediction dir, clip dir) pairs, matched by directory name."""
    if not pred_root.is_dir():
        raise EvaluationError(f"--pred {pred_root}: not a directory")
    if not clip_root.is_dir():
        raise EvaluationError(f"--clips {clip_root}: not a directory")
    pred_dirs = list_predictions(pred_root)
    if not pred_dirs:
        raise EvaluationError(
            f"{pred_root}: holds no prediction directory (a folder with pred.json); run `egoexo predict` first"
        )
    clip_dirs = list_clips(clip_root)
    if pred_dirs == [pred_root] and clip_dirs == [clip_root]:
        return [(pred_root, clip_root)]
    by_name = {clip.name: clip for clip in clip_dirs}
    missing = [p.name for p in pred_dirs if p.name not in by_name]
    if missing:
        raise EvaluationError(
            f"no clip under {clip_root} for prediction(s) {missing[:10]}: each prediction directory must "
            f"carry the name of its clip directory (clips there: {sorted(by_name)[:10]})"
        )
    return [(p, by_name[p.name]) for p in pred_dirs]


def _read_ground_truth(clip_dir: Path, pred_dir: Path, prediction: Prediction) -> Clip:
    """Read the clip with all ego frames when it has them (or when frames must be scored)."""
    meta = read_meta(clip_dir)
    has_frames = (clip_dir / "ego" / frame_name(meta.num_frames - 1)).is_file()
    if prediction.frames is not None and not has_frames:
        raise EvaluationError(
            f"{pred_dir} holds predicted frames but clip {clip_dir} has no ground-truth ego frames 1..N-1 "
            "(only an input clip); evaluate against a clip with the whole ego video"
        )
    clip = read_clip(clip_dir, ego_frames="all" if has_frames else "first")
    if clip.ego_masks is None:
        raise EvaluationError(
            f"clip {clip_dir} has no ground-truth ego masks (ego_masks/), so {pred_dir} cannot be scored; "
            "annotate the clip first (training/annotate.py) or use a sim clip"
        )
    expected = (clip.num_frames, clip.meta.height, clip.meta.width)
    got = (prediction.num_frames, *prediction.size)
    if got != expected:
        raise EvaluationError(
            f"{pred_dir} holds {got[0]} frames of {got[2]}x{got[1]} but clip {clip_dir} has "
            f"{expected[0]} frames of {expected[2]}x{expected[1]}; predict at the clip's size and length"
        )
    return clip


def _score(prediction: Prediction, clip: Clip, lpips: LpipsAlex | None) -> _Scored:
    """Per-frame mask and video values of one prediction on one clip."""
    frames: dict[str, np.ndarray] = {}
    missing: dict[str, str] = {}
    for name, scores in score_mask_sequence(clip.ego_masks, prediction.ego_masks).items():
        for metric in MASK_METRICS:
            values = getattr(scores, metric)
            frames[f"observed/{name}/{metric}"] = values[:1]
            frames[f"unobserved/{name}/{metric}"] = values[1:]
    if prediction.frames is None:
        missing.update(dict.fromkeys(VIDEO_KEYS, NOT_PREDICTED))
    elif clip.ego.shape[0] < clip.num_frames:
        missing.update(dict.fromkeys(VIDEO_KEYS, NO_GROUND_TRUTH_FRAMES))
    else:
        truth = clip.ego[1:]
        video = score_video(truth, prediction.frames, hoi_region(clip.ego_masks))
        for metric in ("ssim", "psnr", "region_ssim", "region_psnr"):
            frames[f"video/{metric}"] = getattr(video, metric)
        if lpips is None:
            missing["video/lpips"] = WEIGHTS_NOT_GIVEN
        else:
            frames["video/lpips"] = lpips.distances(truth, prediction.frames)
    return _Scored(frames, missing)


def _summarise(results: list[_Scored]) -> dict[str, Value]:
    """Mean of each metric over the frames of all `results`, in table order; reasons where none."""
    summary: dict[str, Value] = {}
    for key in [*mask_metric_keys(), *VIDEO_KEYS]:
        if key.endswith("/location_error_frames"):
            le = _pool(results, key.replace("_frames", ""))
            summary[key] = int(np.isfinite(le).sum())
            continue
        values = _pool(results, key)
        if values.size:
            summary[key] = _mean(values)
        else:
            reasons = sorted({r.missing[key] for r in results if key in r.missing})
            summary[key] = "; ".join(reasons) if reasons else math.nan
    return summary


def _pool(results: Iterable[_Scored], key: str) -> np.ndarray:
    arrays = [r.frames[key] for r in results if key in r.frames]
    return np.concatenate(arrays) if arrays else np.zeros(0)


def _mean(values: np.ndarray) -> float:
    """Mean of the defined (non-NaN) values; NaN when none is defined; +inf stays inf."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else math.nan


def _notes(clips: list[ClipEvaluation]) -> list[str]:
    notes = [
        "LE is undefined where ground truth or prediction lacks the class; such frames are left out of "
        "the LE mean and counted in 'LE frames' (all-background therefore has no LE)",
        "copy_first repeats ego frame 0 and its ground-truth mask; all_background predicts empty masks",
    ]
    mask_only = [c.name for c in clips if not c.frames_predicted]
    if mask_only and len(mask_only) < len(clips):
        notes.append(
            f"the model's video means cover {len(clips) - len(mask_only)} of {len(clips)} clips; "
            f"masks only for {mask_only[:10]}"
        )
    return notes


# ----------------------------------------------------------------------------------------- LPIPS, FVD


def _load_lpips(weights: PerceptualWeights, device: str) -> LpipsAlex | None:
    given = (weights.lpips_alexnet, weights.lpips_heads)
    if given == (None, None):
        return None
    if None in given:
        raise EvaluationError(
            "LPIPS needs both weight files: the AlexNet backbone (--lpips-alexnet) and the LPIPS heads "
            "(--lpips-heads); one was given"
        )
    from egoexo_models.metrics.lpips import LpipsAlex  # torch is imported only when LPIPS is asked for

    _check_device(device)
    return LpipsAlex.from_files(weights.lpips_alexnet, weights.lpips_heads, device=device)


def _load_i3d(weights: PerceptualWeights, device: str) -> I3d | None:
    if weights.fvd_i3d is None:
        return None
    from egoexo_models.metrics.fvd import I3d  # torch is imported only when FVD is asked for

    _check_device(device)
    return I3d.from_file(weights.fvd_i3d, device=device)


def _check_device(device: str) -> None:
    from egoexo_models.devices import torch_device_problem

    problem = torch_device_problem(device)
    if problem is not None:
        raise EvaluationError(f"--device {problem}")


def _collect_i3d_features(
    i3d: I3d, clip: Clip, predictions: dict[str, Prediction], features: dict[str, list[np.ndarray]]
) -> None:
    """Append I3D features of the ground truth and of each predicted video (frames 1..N-1) of `clip`."""
    from egoexo_models.metrics.fvd import MIN_FVD_FRAMES

    if clip.ego.shape[0] < clip.num_frames or clip.num_frames - 1 < MIN_FVD_FRAMES:
        return
    features["ground_truth"].append(i3d.video_features([clip.ego[1:]])[0])
    for name, prediction in predictions.items():
        if prediction.frames is not None:
            features[name].append(i3d.video_features([prediction.frames])[0])


def _fvd(
    name: str, clips: list[ClipEvaluation], features: dict[str, list[np.ndarray]], weights: PerceptualWeights
) -> Value:
    """FVD of predictor `name` over all clips, or why it was not computed."""
    if name == ALL_BACKGROUND:
        return NOT_PREDICTED
    if name == MODEL and not all(c.frames_predicted for c in clips):
        return (
            NOT_PREDICTED
            if not any(c.frames_predicted for c in clips)
            else "not computed: some clips masks only"
        )
    if weights.fvd_i3d is None:
        return WEIGHTS_NOT_GIVEN
    from egoexo_models.metrics.fvd import MIN_FVD_FRAMES, frechet_distance

    if len(features["ground_truth"]) < len(clips):
        return f"not computed: needs whole ego videos of at least {MIN_FVD_FRAMES + 1} frames in every clip"
    if len(clips) < 2:
        return "not computed: needs at least 2 clips"
    return frechet_distance(np.stack(features["ground_truth"]), np.stack(features[name]))


# ----------------------------------------------------------------------------------------- rendering

_CLASS_LABELS = {"hand": "hand", "object": "object", "hand_or_object": "hand|object"}
_METRIC_LABELS = {
    "iou": "IoU",
    "contour_accuracy": "CA",
    "location_error": "LE",
    "location_error_frames": "LE frames",
    "ssim": "SSIM",
    "psnr": "PSNR dB",
    "region_ssim": "region SSIM",
    "region_psnr": "region PSNR dB",
    "lpips": "LPIPS",
    "fvd": "FVD",
}


def _row_label(key: str) -> str:
    parts = key.split("/")
    if parts[0] == "video":
        return f"video {_METRIC_LABELS[parts[1]]}"
    split, name, metric = parts
    return f"{split} {_CLASS_LABELS[name]} {_METRIC_LABELS[metric]}"


def _cell(key: str, value: Value) -> str:
    if isinstance(value, str):
        return NOT_PREDICTED if value == NOT_PREDICTED else "not computed"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    if key.endswith("psnr"):
        return f"{value:.2f}"
    if key == FVD:
        return f"{value:.1f}"
    return f"{value:.3f}"


def _table(title: str, scores: dict[str, dict[str, Value]], *, with_fvd: bool) -> str:
    keys = [*mask_metric_keys(), *VIDEO_KEYS, *([FVD] if with_fvd else [])]
    width = max(len(_row_label(k)) for k in keys)
    columns = [max(len(p), 13) for p in PREDICTORS]
    lines = [title, "  ".join([" " * width, *(p.rjust(w) for p, w in zip(PREDICTORS, columns, strict=True))])]
    for key in keys:
        cells = [_cell(key, scores[p][key]).rjust(w) for p, w in zip(PREDICTORS, columns, strict=True)]
        lines.append("  ".join([_row_label(key).ljust(width), *cells]))
    reasons = sorted(
        {
            f"{_row_label(k)} ({p}): {scores[p][k]}"
            for p in PREDICTORS
            for k in keys
            if isinstance(scores[p][k], str) and scores[p][k] != NOT_PREDICTED
        }
    )
    lines.extend(f"  {reason}" for reason in reasons)
    return "\n".join(lines)


def _json_scores(scores: dict[str, dict[str, Value]]) -> dict[str, dict[str, Any]]:
    """NaN becomes null and +inf the string "inf", so the file is strict JSON."""

    def convert(value: Value) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, float) and math.isinf(value):
            return "inf"
        return value

    return {p: {k: convert(v) for k, v in values.items()} for p, values in scores.items()}

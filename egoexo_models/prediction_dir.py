"""Prediction output directory: what `egoexo predict`, the pipeline and the ROS demo write, and
what `egoexo evaluate` reads.

    OUT/pred_ego/000001.png ...        predicted ego frames 1..N-1 (frame 0 is the input); absent when
                                       only masks were predicted
    OUT/pred_ego_masks/000000.png ...  predicted ego label maps 0..N-1 (0 background, 1 hand, 2 object)
    OUT/pred.json                      {"format": "egoexo-prediction/1", "num_frames", "height", "width",
                                        "frames_predicted", "clip" (its directory name, or null),
                                        plus the caller's info: model ids, backend, sampler,
                                        steps, seed, per-stage timings, ...}
    OUT/preview.gif                    exo | ego ground truth | predicted masks | predicted ego, side by
                                       side (panels without data are left out; frame 0 shows the input)

`write_prediction` writes into a temporary sibling directory renamed into place, so OUT is whole
or absent; `read_prediction` validates everything and raises PredictionFormatError naming the file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from egoexo_models.clip import NUM_LABELS, Clip, frame_name, replace_dir, write_label_map

PREDICTION_FORMAT = "egoexo-prediction/1"
PRED_JSON = "pred.json"
FRAMES_DIR = "pred_ego"
MASKS_DIR = "pred_ego_masks"
PREVIEW_GIF = "preview.gif"
PREVIEW_MIN_WIDTH = 128  # smaller panels are enlarged so their titles fit
_STRUCTURE_KEYS = ("format", "num_frames", "height", "width", "frames_predicted", "clip")
# label -> RGB colour of the mask panel of the preview
LABEL_COLOURS = np.array([[40, 40, 40], [235, 90, 60], [60, 150, 235]], dtype=np.uint8)


class PredictionFormatError(ValueError):
    """A prediction directory or one of its files is missing, unreadable or inconsistent."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass
class Prediction:
    """One prediction for a clip of N frames.

    Attributes:
        ego_masks: uint8 (N,H,W) predicted ego label maps of frames 0..N-1, values in {0,1,2}.
        frames: uint8 (N-1,H,W,3) predicted ego frames 1..N-1, or None when only masks were predicted.
        info: JSON-ready facts about how it was made (model ids, backend, sampler, steps, seed,
            timings_s per stage, ...); stored flat in pred.json.
    """

    ego_masks: np.ndarray
    frames: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.ego_masks.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.ego_masks.shape[1]), int(self.ego_masks.shape[2])


def validate_prediction(prediction: Prediction) -> None:
    """Check shapes, dtypes, labels and info; raises ValueError saying what is wrong."""
    masks = prediction.ego_masks
    if not isinstance(masks, np.ndarray) or masks.dtype != np.uint8 or masks.ndim != 3 or masks.shape[0] < 1:
        got = f"{masks.dtype} {masks.shape}" if isinstance(masks, np.ndarray) else type(masks).__name__
        raise ValueError(f"ego_masks must be uint8 (N,H,W) with N >= 1, got {got}")
    if masks.size and masks.max() >= NUM_LABELS:
        raise ValueError(f"ego_masks hold label {int(masks.max())}; labels must be in {{0, 1, 2}}")
    frames = prediction.frames
    if frames is not None and prediction.num_frames < 2:
        raise ValueError(
            "a prediction with frames needs N >= 2 (frame 0 is the input, frames 1..N-1 predicted)"
        )
    if frames is not None:
        expected = (prediction.num_frames - 1, *prediction.size, 3)
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.shape != expected:
            got = (
                f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
            )
            raise ValueError(f"frames must be uint8 {expected} (frames 1..N-1 of the masks' size), got {got}")
    if not isinstance(prediction.info, dict):
        raise ValueError(f"info must be a dict, got {type(prediction.info).__name__}")
    reserved = sorted(set(prediction.info) & set(_STRUCTURE_KEYS))
    if reserved:
        raise ValueError(f"info keys {reserved} are reserved for pred.json's structure; rename them")
    try:
        json.dumps(prediction.info, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"info must be JSON-serialisable without NaN/inf: {error}") from None


def write_prediction(
    out_dir: str | os.PathLike, prediction: Prediction, clip: Clip | None = None, *, overwrite: bool = False
) -> Path:
    """Write `prediction` as a prediction directory, atomically; returns its path.

    Args:
        out_dir: the directory to create.
        prediction: what to write (validated first).
        clip: the input clip, if at hand: its exo frames, first ego frame and (when complete) ego
            ground truth go into preview.gif, and its name into pred.json. Its size and frame count
            must match the prediction.
        overwrite: replace an existing `out_dir`.

    Raises:
        ValueError: the prediction is malformed or does not match `clip`.
        FileExistsError: `out_dir` exists and overwrite is False.
    """
    out_dir = Path(out_dir)
    validate_prediction(prediction)
    if clip is not None and (clip.num_frames, clip.meta.height, clip.meta.width) != (
        prediction.num_frames,
        *prediction.size,
    ):
        raise ValueError(
            f"prediction has {prediction.num_frames} frames of {prediction.size[1]}x{prediction.size[0]}, "
            f"clip {clip.name} has {clip.num_frames} of {clip.meta.width}x{clip.meta.height}"
        )
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir}: already exists (pass overwrite=True to replace it)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        document = {
            "format": PREDICTION_FORMAT,
            "num_frames": prediction.num_frames,
            "height": prediction.size[0],
            "width": prediction.size[1],
            "frames_predicted": prediction.frames is not None,
            "clip": clip.name if clip is not None and clip.path is not None else None,
            **prediction.info,
        }
        (staging / PRED_JSON).write_text(json.dumps(document, indent=1) + "\n")
        (staging / MASKS_DIR).mkdir()
        for index, labels in enumerate(prediction.ego_masks):
            write_label_map(staging / MASKS_DIR / frame_name(index), labels)
        if prediction.frames is not None:
            (staging / FRAMES_DIR).mkdir()
            for index, frame in enumerate(prediction.frames, start=1):
                Image.fromarray(frame).save(staging / FRAMES_DIR / frame_name(index), compress_level=4)
        fps = clip.meta.fps if clip is not None else float(prediction.info.get("fps", 8.0))
        write_preview(staging / PREVIEW_GIF, prediction, clip, fps=fps)
        replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def colourise_labels(labels: np.ndarray) -> np.ndarray:
    """uint8 label maps (...,H,W) -> RGB (...,H,W,3): background grey, hand orange, object blue."""
    return LABEL_COLOURS[labels]


def write_preview(path: Path, prediction: Prediction, clip: Clip | None, fps: float) -> None:
    """An animated GIF of titled panels side by side: exo | ego ground truth | masks | predicted ego.

    Panels narrower than PREVIEW_MIN_WIDTH are enlarged by an integer factor (nearest) so that
    their titles fit; the first panel's title carries the frame index.
    """
    n, (height, width) = prediction.num_frames, prediction.size
    panels: list[tuple[str, np.ndarray]] = []
    if clip is not None:
        panels.append(("exo", clip.exo))
        if clip.ego.shape[0] == n:
            panels.append(("ego truth", clip.ego))
    panels.append(("pred masks", colourise_labels(prediction.ego_masks)))
    if prediction.frames is not None:
        first = clip.ego[:1] if clip is not None else np.zeros((1, height, width, 3), np.uint8)
        panels.append(("pred ego", np.concatenate([first, prediction.frames])))
    zoom = max(1, -(-PREVIEW_MIN_WIDTH // width))
    panel_h, panel_w = height * zoom, width * zoom
    title_height = 12
    images = []
    for index in range(n):
        canvas = np.zeros((title_height + panel_h, panel_w * len(panels), 3), dtype=np.uint8)
        for slot, (_, video) in enumerate(panels):
            enlarged = video[index].repeat(zoom, axis=0).repeat(zoom, axis=1)
            canvas[title_height:, slot * panel_w : (slot + 1) * panel_w] = enlarged
        image = Image.fromarray(canvas)
        draw = ImageDraw.Draw(image)
        for slot, (title, _) in enumerate(panels):
            text = f"{title} {index}" if slot == 0 else title
            draw.text((slot * panel_w + 2, 0), text, fill=(255, 255, 255))
        images.append(image)
    images[0].save(
        path,
        save_all=True,
        append_images=images[1:],
        duration=max(1, round(1000 / fps)),
        loop=0,
        optimize=False,
    )


# ----------------------------------------------------------------------------------------- reading


def is_prediction_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / PRED_JSON).is_file()


def list_predictions(root: str | os.PathLike) -> list[Path]:
    """Prediction directories under `root` (itself, or its children holding pred.json), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a directory of predictions")
    if is_prediction_dir(root):
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and is_prediction_dir(p))


def read_prediction(out_dir: str | os.PathLike) -> Prediction:
    """Load and validate a prediction directory; `info` holds pred.json's keys beyond the structure.

    Raises:
        PredictionFormatError: naming the file and the problem (missing or extra frames, wrong size,
            labels outside {0,1,2}, unreadable PNG, malformed pred.json).
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise PredictionFormatError(out_dir, "not a directory")
    document = _read_pred_json(out_dir / PRED_JSON)
    n, size = document["num_frames"], (document["height"], document["width"])
    masks = np.stack([_read_labels(out_dir / MASKS_DIR / frame_name(i), size) for i in range(n)])
    _reject_extra_frames(out_dir / MASKS_DIR, n)
    frames = None
    if document["frames_predicted"]:
        frames = np.stack([_read_rgb(out_dir / FRAMES_DIR / frame_name(i), size) for i in range(1, n)])
        _reject_extra_frames(out_dir / FRAMES_DIR, n)
    info = {k: v for k, v in document.items() if k not in _STRUCTURE_KEYS}
    return Prediction(ego_masks=masks, frames=frames, info=info)


def _read_pred_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise PredictionFormatError(path, "missing: a prediction directory needs pred.json") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PredictionFormatError(path, f"not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise PredictionFormatError(path, "must hold a JSON object")
    if document.get("format") != PREDICTION_FORMAT:
        raise PredictionFormatError(
            path, f"format is {document.get('format')!r}, expected {PREDICTION_FORMAT!r}"
        )
    for key in ("num_frames", "height", "width"):
        value = document.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise PredictionFormatError(path, f"{key!r} must be a positive integer, got {value!r}")
    if not isinstance(document.get("frames_predicted"), bool):
        raise PredictionFormatError(
            path, f"'frames_predicted' must be true or false, got {document.get('frames_predicted')!r}"
        )
    if document["frames_predicted"] and document["num_frames"] < 2:
        raise PredictionFormatError(
            path, "'frames_predicted' is true but num_frames is 1: no frame to predict"
        )
    if document.get("clip") is not None and not isinstance(document["clip"], str):
        raise PredictionFormatError(path, f"'clip' must be a string or null, got {document['clip']!r}")
    document.setdefault("clip", None)
    return document


def _open_png(path: Path) -> Image.Image:
    if not path.is_file():
        raise PredictionFormatError(path, "missing frame")
    try:
        image = Image.open(path)
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise PredictionFormatError(path, f"unreadable image ({error})") from None
    return image


def _check_size(path: Path, array: np.ndarray, size: tuple[int, int]) -> None:
    if array.shape[:2] != size:
        raise PredictionFormatError(
            path, f"size {array.shape[1]}x{array.shape[0]} differs from pred.json's {size[1]}x{size[0]}"
        )


def _read_labels(path: Path, size: tuple[int, int]) -> np.ndarray:
    image = _open_png(path)
    if image.mode not in ("L", "P"):
        raise PredictionFormatError(
            path, f"expected an 8-bit single-channel label map, got mode {image.mode}"
        )
    labels = np.asarray(image, dtype=np.uint8)
    _check_size(path, labels, size)
    if labels.max(initial=0) >= NUM_LABELS:
        values = sorted(np.unique(labels[labels >= NUM_LABELS]).tolist())
        raise PredictionFormatError(path, f"label values {values} outside {{0 background, 1 hand, 2 object}}")
    return labels


def _read_rgb(path: Path, size: tuple[int, int]) -> np.ndarray:
    image = _open_png(path)
    if image.mode not in ("RGB", "RGBA", "L", "P"):
        raise PredictionFormatError(path, f"expected an 8-bit RGB image, got mode {image.mode}")
    frame = np.asarray(image.convert("RGB"), dtype=np.uint8)
    _check_size(path, frame, size)
    return frame


def _reject_extra_frames(folder: Path, num_frames: int) -> None:
    """Frames beyond num_frames mean pred.json and the folder disagree."""
    extra = sorted(p.name for p in folder.glob("*.png") if not p.stem.isdigit() or int(p.stem) >= num_frames)
    if extra:
        raise PredictionFormatError(
            folder, f"holds frames beyond num_frames={num_frames} in pred.json: {extra[:5]}"
        )

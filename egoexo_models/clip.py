"""Clip directory format v1: read, validate and write (see the README, "Clip format").

A clip directory holds one paired ego/exo recording:

    CLIP/meta.json           {"format": "egoexo-clip/1", "instruction", "fps", "num_frames", "height",
                              "width", "source", optional "ego_camera"/"exo_camera", ...}
    CLIP/exo/000000.png      N RGB frames of the exo (third-person) camera
    CLIP/ego/000000.png      N RGB frames of the ego camera (prediction needs only frame 0)
    CLIP/exo_masks/*.png     optional uint8 label maps: 0 background, 1 hand, 2 interacting object
    CLIP/ego_masks/*.png     optional, same labels
    CLIP/ego_depth/*.png     optional uint16 depth in millimetres (0 = no depth); exo_depth/ likewise

Reading validates everything before returning, so a clip is either loaded whole or rejected with
a ClipFormatError that names the file and the problem. Writing goes to a temporary sibling
directory that is renamed into place, so a clip directory is never half-written.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

CLIP_FORMAT = "egoexo-clip/1"
LABEL_BACKGROUND, LABEL_HAND, LABEL_OBJECT = 0, 1, 2
NUM_LABELS = 3
DEPTH_SCALE_M = 0.001  # one unit of a depth PNG, in metres

_REQUIRED_META = {
    "format": str,
    "instruction": str,
    "fps": (int, float),
    "num_frames": int,
    "height": int,
    "width": int,
    "source": str,
}
_KNOWN_META = set(_REQUIRED_META) | {"ego_camera", "exo_camera"}


class ClipFormatError(ValueError):
    """A clip directory or one of its files does not follow clip format v1."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class CameraInfo:
    """Pinhole intrinsics K (3x3, pixels) and per-frame OpenCV-convention poses T_world_cam (N,4,4)."""

    K: np.ndarray
    T_world_cam: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {"K": self.K.tolist(), "T_world_cam": self.T_world_cam.tolist()}


@dataclass
class ClipMeta:
    """The contents of meta.json; `extra` keeps keys this version does not interpret (take_uid, ...)."""

    instruction: str
    fps: float
    num_frames: int
    height: int
    width: int
    source: str
    ego_camera: CameraInfo | None = None
    exo_camera: CameraInfo | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": CLIP_FORMAT,
            "instruction": self.instruction,
            "fps": float(self.fps),
            "num_frames": int(self.num_frames),
            "height": int(self.height),
            "width": int(self.width),
            "source": self.source,
        }
        if self.ego_camera is not None:
            data["ego_camera"] = self.ego_camera.to_json()
        if self.exo_camera is not None:
            data["exo_camera"] = self.exo_camera.to_json()
        data.update(self.extra)
        return data


@dataclass
class Clip:
    """A loaded clip. Images are uint8 (N,H,W,3), label maps uint8 (N,H,W), depth float32 metres (N,H,W).

    `ego` may hold only the first frame (shape (1,H,W,3)) when the clip is an input for prediction.
    """

    meta: ClipMeta
    exo: np.ndarray
    ego: np.ndarray
    exo_masks: np.ndarray | None = None
    ego_masks: np.ndarray | None = None
    ego_depth: np.ndarray | None = None
    exo_depth: np.ndarray | None = None
    path: Path | None = None

    @property
    def num_frames(self) -> int:
        return self.meta.num_frames

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "<in memory>"


def frame_name(index: int) -> str:
    """File name of frame `index` inside a view folder."""
    return f"{index:06d}.png"


def is_clip_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / "meta.json").is_file()


def list_clips(root: str | os.PathLike) -> list[Path]:
    """Clip directories under `root` (itself, or its children holding meta.json), sorted by name.

    Hidden directories (a writer's `.NAME.*` staging copies) are not clips.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a directory of clips")
    if is_clip_dir(root):
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and is_clip_dir(p))


# ----------------------------------------------------------------------------------------- reading


def read_meta(clip_dir: str | os.PathLike) -> ClipMeta:
    """Parse and validate meta.json of `clip_dir`."""
    path = Path(clip_dir) / "meta.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ClipFormatError(path, "missing: a clip directory needs meta.json") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ClipFormatError(path, f"not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ClipFormatError(path, "must hold a JSON object")
    for key, kind in _REQUIRED_META.items():
        if key not in data:
            raise ClipFormatError(path, f"missing key {key!r}")
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            raise ClipFormatError(path, f"key {key!r} has the wrong type: {data[key]!r}")
    if data["format"] != CLIP_FORMAT:
        raise ClipFormatError(path, f"format is {data['format']!r}, expected {CLIP_FORMAT!r}")
    for key in ("num_frames", "height", "width"):
        if data[key] <= 0:
            raise ClipFormatError(path, f"{key} must be positive, got {data[key]}")
    if not (math.isfinite(data["fps"]) and data["fps"] > 0):
        raise ClipFormatError(path, f"fps must be a positive number, got {data['fps']}")
    num_frames = data["num_frames"]
    cameras = {
        name: _parse_camera(path, name, data[name], num_frames)
        for name in ("ego_camera", "exo_camera")
        if name in data
    }
    return ClipMeta(
        instruction=data["instruction"],
        fps=float(data["fps"]),
        num_frames=num_frames,
        height=data["height"],
        width=data["width"],
        source=data["source"],
        ego_camera=cameras.get("ego_camera"),
        exo_camera=cameras.get("exo_camera"),
        extra={k: v for k, v in data.items() if k not in _KNOWN_META},
    )


def _parse_camera(path: Path, name: str, value: Any, num_frames: int) -> CameraInfo:
    try:
        K = np.asarray(value["K"], dtype=np.float64)
        T = np.asarray(value["T_world_cam"], dtype=np.float64)
    except (TypeError, KeyError, ValueError) as error:
        raise ClipFormatError(path, f"{name} needs numeric 'K' and 'T_world_cam' ({error})") from None
    if K.shape != (3, 3):
        raise ClipFormatError(path, f"{name}.K must be 3x3, got shape {K.shape}")
    if T.shape != (num_frames, 4, 4):
        raise ClipFormatError(path, f"{name}.T_world_cam must be ({num_frames}, 4, 4), got {T.shape}")
    return CameraInfo(K=K, T_world_cam=T)


def read_clip(
    clip_dir: str | os.PathLike,
    *,
    ego_frames: str = "all",
    load_masks: bool = True,
    load_depth: bool = False,
) -> Clip:
    """Load and validate a whole clip directory.

    Args:
        clip_dir: the clip directory.
        ego_frames: "all" requires all N ego frames; "first" loads only ego/000000.png (prediction input).
        load_masks: load exo_masks/ and ego_masks/ when present (each must then be complete).
        load_depth: load ego_depth/ and exo_depth/ when present.

    Raises:
        ClipFormatError: naming the file and the problem; nothing is returned half-loaded.
    """
    if ego_frames not in ("all", "first"):
        raise ValueError(f"ego_frames must be 'all' or 'first', got {ego_frames!r}")
    clip_dir = Path(clip_dir)
    if not clip_dir.is_dir():
        raise ClipFormatError(clip_dir, "not a directory")
    meta = read_meta(clip_dir)
    n, size = meta.num_frames, (meta.height, meta.width)
    exo = _read_view(clip_dir, "exo", n, size, _read_rgb)
    ego = _read_view(clip_dir, "ego", n if ego_frames == "all" else 1, size, _read_rgb)
    masks = {}
    if load_masks:
        for view in ("exo_masks", "ego_masks"):
            masks[view] = (
                _read_view(clip_dir, view, n, size, _read_labels) if (clip_dir / view).is_dir() else None
            )
    depth = {}
    if load_depth:
        for view in ("ego_depth", "exo_depth"):
            depth[view] = (
                _read_view(clip_dir, view, n, size, _read_depth) if (clip_dir / view).is_dir() else None
            )
    return Clip(
        meta=meta,
        exo=exo,
        ego=ego,
        exo_masks=masks.get("exo_masks"),
        ego_masks=masks.get("ego_masks"),
        ego_depth=depth.get("ego_depth"),
        exo_depth=depth.get("exo_depth"),
        path=clip_dir,
    )


def _read_view(clip_dir: Path, view: str, count: int, size: tuple[int, int], read_one) -> np.ndarray:
    folder = clip_dir / view
    if not folder.is_dir():
        raise ClipFormatError(folder, f"missing: the clip needs {count} frame(s) in {view}/")
    frames = []
    for index in range(count):
        path = folder / frame_name(index)
        if not path.is_file():
            raise ClipFormatError(path, f"missing frame {index} of {count} in {view}/")
        image = read_one(path)
        if image.shape[:2] != size:
            raise ClipFormatError(
                path, f"size {image.shape[1]}x{image.shape[0]} differs from meta.json's {size[1]}x{size[0]}"
            )
        frames.append(image)
    return np.stack(frames)


def _open_png(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise ClipFormatError(path, f"unreadable image ({error})") from None
    return image


def _read_rgb(path: Path) -> np.ndarray:
    image = _open_png(path)
    if image.mode not in ("RGB", "RGBA", "L", "P"):
        raise ClipFormatError(path, f"expected an 8-bit RGB image, got mode {image.mode}")
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _read_labels(path: Path) -> np.ndarray:
    image = _open_png(path)
    if image.mode not in ("L", "P"):
        raise ClipFormatError(path, f"expected an 8-bit single-channel label map, got mode {image.mode}")
    labels = np.asarray(image, dtype=np.uint8)
    bad = labels >= NUM_LABELS
    if bad.any():
        values = sorted(set(np.unique(labels[bad]).tolist()))
        raise ClipFormatError(path, f"label values {values} outside {{0 background, 1 hand, 2 object}}")
    return labels


def _read_depth(path: Path) -> np.ndarray:
    image = _open_png(path)
    if image.mode not in ("I;16", "I"):
        raise ClipFormatError(path, f"expected a 16-bit depth PNG in millimetres, got mode {image.mode}")
    return np.asarray(image, dtype=np.float32) * np.float32(DEPTH_SCALE_M)


# ----------------------------------------------------------------------------------------- writing


def validate_clip(clip: Clip) -> None:
    """Check array shapes, dtypes and labels against clip.meta before writing; raises ValueError."""
    n, h, w = clip.meta.num_frames, clip.meta.height, clip.meta.width
    _check_array("exo", clip.exo, (n, h, w, 3), np.uint8)
    if clip.ego.shape[0] not in (1, n):
        raise ValueError(f"ego must hold 1 or {n} frames, got {clip.ego.shape[0]}")
    _check_array("ego", clip.ego, (clip.ego.shape[0], h, w, 3), np.uint8)
    for name in ("exo_masks", "ego_masks"):
        masks = getattr(clip, name)
        if masks is not None:
            _check_array(name, masks, (n, h, w), np.uint8)
            if masks.size and masks.max() >= NUM_LABELS:
                raise ValueError(f"{name} holds label {int(masks.max())}; labels must be in {{0, 1, 2}}")
    for name in ("ego_depth", "exo_depth"):
        depth = getattr(clip, name)
        if depth is not None:
            _check_array(name, depth, (n, h, w), np.float32)
            if not np.isfinite(depth).all() or depth.min() < 0:
                raise ValueError(f"{name} must be finite and non-negative metres")


def _check_array(name: str, array: np.ndarray, shape: tuple[int, ...], dtype) -> None:
    if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != shape:
        got = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
        raise ValueError(f"{name} must be {np.dtype(dtype).name} of shape {shape}, got {got}")


def write_clip(clip_dir: str | os.PathLike, clip: Clip, *, overwrite: bool = False) -> Path:
    """Write `clip` as a clip directory, atomically: it appears whole or not at all.

    Raises:
        FileExistsError: `clip_dir` exists and overwrite is False.
        ValueError: the arrays do not match clip.meta (see validate_clip).
    """
    clip_dir = Path(clip_dir)
    validate_clip(clip)
    if clip_dir.exists() and not overwrite:
        raise FileExistsError(f"{clip_dir}: already exists (pass overwrite=True to replace it)")
    clip_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{clip_dir.name}.", suffix=".partial", dir=clip_dir.parent))
    try:
        (staging / "meta.json").write_text(json.dumps(clip.meta.to_json(), indent=1) + "\n")
        _write_view(staging / "exo", clip.exo)
        _write_view(staging / "ego", clip.ego)
        for name in ("exo_masks", "ego_masks"):
            if getattr(clip, name) is not None:
                _write_view(staging / name, getattr(clip, name))
        for name in ("ego_depth", "exo_depth"):
            if getattr(clip, name) is not None:
                millimetres = np.round(getattr(clip, name) / DEPTH_SCALE_M).clip(0, 65535).astype(np.uint16)
                _write_view(staging / name, millimetres)
        replace_dir(staging, clip_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return clip_dir


def _write_view(folder: Path, frames: np.ndarray) -> None:
    folder.mkdir()
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / frame_name(index), optimize=False, compress_level=4)


def replace_dir(staging: Path, target: Path) -> None:
    """Move the finished directory `staging` to `target`, replacing an existing `target`."""
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)


def write_label_map(path: str | os.PathLike, labels: np.ndarray) -> None:
    """Write one uint8 label map (H,W) with values in {0,1,2} as a PNG."""
    if labels.dtype != np.uint8 or labels.ndim != 2 or (labels.size and labels.max() >= NUM_LABELS):
        raise ValueError(
            f"a label map must be uint8 (H,W) with values in {{0,1,2}}, got {labels.dtype} {labels.shape}"
        )
    Image.fromarray(labels).save(path)

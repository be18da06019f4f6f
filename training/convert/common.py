"""Pieces both dataset converters share: square crops, frame windows, video reading, exo-view choice,
and the clip writer that keeps every exo camera."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from egoexo_models.clip import (
    LABEL_HAND,
    NUM_LABELS,
    CameraInfo,
    Clip,
    frame_name,
    replace_dir,
    write_clip,
)

EXO_VIEWS_DIR = "exo_views"  # CLIP/exo_views/<camera>/000000.png ...: every exo camera of the take


@dataclass(frozen=True)
class SquareCrop:
    """The centred square crop of a (height, width) image, resized to `size` pixels a side."""

    height: int
    width: int
    size: int

    @property
    def side(self) -> int:
        return min(self.height, self.width)

    @property
    def offset(self) -> tuple[int, int]:
        """(x, y) of the crop's top-left corner."""
        return (self.width - self.side) // 2, (self.height - self.side) // 2

    def image(self, frame: np.ndarray) -> np.ndarray:
        """uint8 (H,W,3) -> (size,size,3): crop, then resample with a smooth filter."""
        x, y = self.offset
        crop = Image.fromarray(frame[y : y + self.side, x : x + self.side])
        return np.asarray(crop.resize((self.size, self.size), Image.Resampling.BICUBIC, reducing_gap=2.0))

    def labels(self, labels: np.ndarray) -> np.ndarray:
        """uint8 (H,W) label map -> (size,size) by nearest neighbour."""
        x, y = self.offset
        crop = Image.fromarray(labels[y : y + self.side, x : x + self.side])
        return np.asarray(crop.resize((self.size, self.size), Image.Resampling.NEAREST))

    def intrinsics(self, K: np.ndarray) -> np.ndarray:
        """K of the source image -> K of the output (pixel centres at integer coordinates)."""
        x, y = self.offset
        scale = self.size / self.side
        out = np.array(K, dtype=np.float64)
        out[0, 0] *= scale
        out[1, 1] *= scale
        out[0, 2] = (K[0, 2] - x + 0.5) * scale - 0.5
        out[1, 2] = (K[1, 2] - y + 0.5) * scale - 0.5
        return out


def window_indices(start: float, end: float, frames: int, fps: float, last_index: int) -> list[int]:
    """`frames` frame indices evenly spread over [start, end] seconds (bin centres), clamped to the video."""
    if end <= start:
        raise ValueError(f"an empty time window [{start}, {end}] s")
    times = start + (np.arange(frames) + 0.5) * (end - start) / frames
    return [int(min(max(round(t * fps), 0), last_index)) for t in times]


def spread_indices(first: int, last: int, frames: int) -> list[int]:
    """`frames` frame indices evenly spread from `first` to `last` inclusive (repeats when too few)."""
    if last < first:
        raise ValueError(f"an empty frame range [{first}, {last}]")
    return np.rint(np.linspace(first, last, frames)).astype(int).tolist()


def read_windows(path: Path, windows: list[list[int]], transform) -> Iterator[tuple[int, np.ndarray]]:
    """Decode video `path` once, front to back, yielding (window number, frames (T,...)) per window.

    `transform` maps one decoded uint8 (H,W,3) frame to what is kept (e.g. a SquareCrop's image).
    Windows are yielded as soon as their last frame is decoded; frames no later window needs are dropped.
    """
    import imageio.v2 as imageio

    order = sorted(range(len(windows)), key=lambda w: max(windows[w]))
    needed: dict[int, int] = {}
    for window in windows:
        for index in set(window):
            needed[index] = needed.get(index, 0) + 1
    kept: dict[int, np.ndarray] = {}
    position, index = 0, -1
    reader = imageio.get_reader(path, "ffmpeg")
    try:
        for index, frame in enumerate(reader):
            if index in needed:
                kept[index] = transform(frame)
            while position < len(order) and max(windows[order[position]]) <= index:
                w = order[position]
                yield w, np.stack([kept[i] for i in windows[w]])
                for i in set(windows[w]):
                    needed[i] -= 1
                    if needed[i] == 0:
                        kept.pop(i)
                position += 1
            if position == len(order):
                return
    finally:
        reader.close()
    if position < len(order):
        missing = max(windows[order[position]])
        raise ValueError(f"{path}: the video ends before frame {missing} (it has {index + 1} frames)")


def video_fps(path: Path) -> tuple[float, int]:
    """(frames per second, number of frames) of a video file."""
    import imageio.v2 as imageio

    reader = imageio.get_reader(path, "ffmpeg")
    try:
        meta = reader.get_meta_data()
        count = reader.count_frames()
    finally:
        reader.close()
    return float(meta["fps"]), int(count)


def read_label_map(path: Path) -> np.ndarray:
    labels = np.asarray(Image.open(path))
    if labels.ndim != 2 or labels.max(initial=0) >= NUM_LABELS:
        raise ValueError(f"{path}: expected a single-channel label map with values 0-2")
    return labels.astype(np.uint8)


def hand_proportion(mask_dir: Path, indices: list[int]) -> float | None:
    """Mean fraction of hand pixels over the label maps `mask_dir/<index:06d>.png`; None if any is missing."""
    paths = [mask_dir / frame_name(i) for i in indices]
    if not all(p.is_file() for p in paths):
        return None
    return float(np.mean([(read_label_map(p) == LABEL_HAND).mean() for p in paths]))


def best_view_by_hands(mask_root: Path | None, candidates: list[str], indices: list[int]) -> str | None:
    """The candidate view whose label maps under `mask_root/<view>/` hold the most hand (paper §3)."""
    if mask_root is None:
        return None
    scores = {view: hand_proportion(mask_root / view, indices) for view in candidates}
    scored = {view: score for view, score in scores.items() if score is not None}
    return max(scored, key=scored.get) if scored else None


def write_clip_with_exo_views(
    target: Path,
    clip: Clip,
    exo_views: dict[str, np.ndarray],
    default: str,
    cameras: dict[str, CameraInfo | None] | None = None,
) -> Path:
    """Write `clip` plus every exo camera as CLIP/exo_views/<camera>/<frame>.png, all at once.

    `clip.exo` holds the `default` camera's frames (clip format v1 needs one exo view); its files are
    hard-linked into exo_views/<default>/. meta.json lists the cameras under "exo_views" and, for those
    in `cameras` that are not None, their calibration under "exo_view_cameras" (K, T_world_cam), so
    training/annotate.py can pick the best view after annotating each one.

    Args:
        exo_views: camera name -> uint8 frames (N,H,W,3), the same shape as clip.exo.
    """
    if default not in exo_views or not np.array_equal(exo_views[default], clip.exo):
        raise ValueError(f"the clip's exo frames must be those of the default camera {default!r}")
    for camera, frames in exo_views.items():
        if frames.shape != clip.exo.shape or frames.dtype != np.uint8:
            raise ValueError(
                f"exo view {camera}: frames {frames.dtype} {frames.shape}, expected uint8 {clip.exo.shape}"
            )
    extra = {**clip.meta.extra, "exo_views": sorted(exo_views)}
    calibrated = {name: camera for name, camera in (cameras or {}).items() if camera is not None}
    if calibrated:
        extra["exo_view_cameras"] = {name: camera.to_json() for name, camera in sorted(calibrated.items())}
    clip = dataclasses.replace(clip, meta=dataclasses.replace(clip.meta, extra=extra))
    staging = target.with_name(f".{target.name}.views.partial")
    try:
        write_clip(staging, clip, overwrite=True)  # also replaces what a killed run left there
        for camera, frames in sorted(exo_views.items()):
            folder = staging / EXO_VIEWS_DIR / camera
            folder.mkdir(parents=True)
            for index, frame in enumerate(frames):
                if camera == default:
                    _link_or_copy(staging / "exo" / frame_name(index), folder / frame_name(index))
                else:
                    Image.fromarray(frame).save(folder / frame_name(index), compress_level=4)
        replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)

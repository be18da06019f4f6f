"""Convert H2O action segments into clip-format-v1 directories (the paper's zero-shot test set).

    python -m training.convert.h2o H2O_ROOT --out DIR [--labels action_labels/action_val.txt]
        [--frames 16] [--size 256] [--exo-cam cam0] [--exo-masks MASK_ROOT] [--all-exo-views] [--max-clips N]

Reads, relative to H2O_ROOT (the extracted dataset: subject*/<scene>/<sequence>/cam0..cam4):
    action_labels/action_<split>.txt      lines "id path action_label start_act end_act start_frame end_frame"
                                          (from the H2O GitHub repository; --labels may point elsewhere)
    <path>/cam4/rgb/<frame:06d>.png       the head-mounted (ego) camera, 1280x720
    <path>/camK/rgb/<frame:06d>.png       a fixed (exo) camera, K in 0..3
    <path>/camN/cam_intrinsics.txt        fx fy cx cy width height (optional: cameras go to meta.json)
    <path>/camN/cam_pose/<frame:06d>.txt  16 numbers, the 4x4 camera-to-world pose (optional)

Each labelled action segment [start_act, end_act] becomes one clip of `frames` frames evenly spread
over it, centre-cropped to a square and resized. The action label (verb + object, 36 classes) becomes
an Ego-Exo4D-style narration ("C grabs the book."); H2O actions use both hands, so none is named.
The exo camera is --exo-cam, or, with --exo-masks MASK_ROOT/<path>/<camK>/<frame:06d>.png label
maps, the fixed camera whose hand masks cover most of the segment. With --all-exo-views all four fixed
cameras are kept as CLIP/exo_views/camK/<frame>.png with their calibration in meta.json's
"exo_view_cameras" (exo/ holds the camera chosen as above, provisionally); training/annotate.py then
annotates each one and makes the one with the largest hand-mask proportion the clip's exo view.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from egoexo_models.clip import CameraInfo, Clip, ClipMeta, frame_name, write_clip
from training.convert.common import (
    SquareCrop,
    best_view_by_hands,
    read_label_map,
    spread_indices,
    write_clip_with_exo_views,
)

H2O_FPS = 30.0
EGO_CAM = "cam4"
EXO_CAMS = ("cam0", "cam1", "cam2", "cam3")
# verb label -> the verb as it reads after "C"
VERBS = {
    "grab": "grabs",
    "place": "places",
    "open": "opens",
    "close": "closes",
    "pour": "pours",
    "take out": "takes out",
    "put in": "puts in",
    "apply": "applies",
    "read": "reads",
    "spray": "sprays",
    "squeeze": "squeezes",
}
# action label id -> (verb, object), as listed in the H2O README
ACTIONS: dict[int, tuple[str, str]] = {
    1: ("grab", "book"),
    2: ("grab", "espresso"),
    3: ("grab", "lotion"),
    4: ("grab", "spray"),
    5: ("grab", "milk"),
    6: ("grab", "cocoa"),
    7: ("grab", "chips"),
    8: ("grab", "cappuccino"),
    9: ("place", "book"),
    10: ("place", "espresso"),
    11: ("place", "lotion"),
    12: ("place", "spray"),
    13: ("place", "milk"),
    14: ("place", "cocoa"),
    15: ("place", "chips"),
    16: ("place", "cappuccino"),
    17: ("open", "lotion"),
    18: ("open", "milk"),
    19: ("open", "chips"),
    20: ("close", "lotion"),
    21: ("close", "milk"),
    22: ("close", "chips"),
    23: ("pour", "milk"),
    24: ("take out", "espresso"),
    25: ("take out", "cocoa"),
    26: ("take out", "chips"),
    27: ("take out", "cappuccino"),
    28: ("put in", "espresso"),
    29: ("put in", "cocoa"),
    30: ("put in", "cappuccino"),
    31: ("apply", "lotion"),
    32: ("apply", "spray"),
    33: ("read", "book"),
    34: ("read", "espresso"),
    35: ("spray", "spray"),
    36: ("squeeze", "lotion"),
}


@dataclass(frozen=True)
class Segment:
    """One line of an H2O action file."""

    id: int
    path: str  # subjectN/<scene>/<sequence>
    action: int
    start: int
    end: int


def instruction(action: int) -> str:
    """The narration of an H2O action label, e.g. 23 -> "C pours the milk."."""
    if action not in ACTIONS:
        raise ValueError(f"unknown H2O action label {action}: expected 1-36 (0 is background)")
    verb, noun = ACTIONS[action]
    return f"C {VERBS[verb]} the {noun}."


def read_segments(path: Path) -> list[Segment]:
    """Parse an action_<split>.txt file (a header line, then one segment per line)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing H2O action label file (action_labels/action_<split>.txt)")
    segments = []
    for number, line in enumerate(path.read_text().splitlines()[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 7:
            raise ValueError(
                f"{path}:{number}: expected 7 fields (id path action_label start_act end_act start_frame end_frame), got {line!r}"
            )
        segments.append(Segment(int(fields[0]), fields[1], int(fields[2]), int(fields[3]), int(fields[4])))
    return segments


def _read_rgb(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing H2O frame")
    return np.asarray(Image.open(path).convert("RGB"))


def _camera(cam_dir: Path, indices: list[int], crop: SquareCrop) -> CameraInfo | None:
    """Intrinsics and per-frame poses of a camera folder, if H2O ships them there."""
    intrinsics = cam_dir / "cam_intrinsics.txt"
    poses = [cam_dir / "cam_pose" / f"{i:06d}.txt" for i in indices]
    if not intrinsics.is_file() or not all(p.is_file() for p in poses):
        return None
    fx, fy, cx, cy = (float(v) for v in intrinsics.read_text().split()[:4])
    K = crop.intrinsics(np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]]))
    T = np.stack([np.array(p.read_text().split(), dtype=np.float64).reshape(4, 4) for p in poses])
    return CameraInfo(K=K, T_world_cam=T)


def convert_segment(
    root: Path,
    out: Path,
    segment: Segment,
    *,
    frames: int,
    size: int,
    exo_cam: str,
    exo_masks: Path | None,
    all_exo_views: bool = False,
) -> Path | None:
    """Write the clip of one segment; None when it already exists."""
    subject, scene, sequence = segment.path.split("/")
    target = out / f"h2o_{subject}_{scene}_{sequence}_{segment.id:04d}"
    if (target / "meta.json").is_file():
        return None
    indices = spread_indices(segment.start, segment.end, frames)
    sequence_dir = root / segment.path
    mask_root = exo_masks / segment.path if exo_masks is not None else None
    by_hands = best_view_by_hands(mask_root, list(EXO_CAMS), indices)
    chosen = by_hands or exo_cam
    views, cameras, crops = {}, {}, {}  # by camera name
    for cam in (EGO_CAM, *(EXO_CAMS if all_exo_views else (chosen,))):
        images = [_read_rgb(sequence_dir / cam / "rgb" / frame_name(i)) for i in indices]
        crops[cam] = SquareCrop(*images[0].shape[:2], size)
        views[cam] = np.stack([crops[cam].image(image) for image in images])
        cameras[cam] = _camera(sequence_dir / cam, indices, crops[cam])
    exo_labels = None
    if mask_root is not None and all((mask_root / chosen / frame_name(i)).is_file() for i in indices):
        exo_labels = np.stack(
            [crops[chosen].labels(read_label_map(mask_root / chosen / frame_name(i))) for i in indices]
        )
    meta = ClipMeta(
        instruction=instruction(segment.action),
        fps=frames * H2O_FPS / (segment.end - segment.start + 1),
        num_frames=frames,
        height=size,
        width=size,
        source="h2o",
        ego_camera=cameras[EGO_CAM],
        exo_camera=cameras[chosen],
        extra={
            "h2o_id": segment.id,
            "sequence": segment.path,
            "action_label": segment.action,
            "verb": ACTIONS[segment.action][0],
            "object": ACTIONS[segment.action][1],
            "source_frames": indices,
            "ego_cam": EGO_CAM,
            "exo_cam": chosen,
            "exo_selection": "hand_masks" if by_hands else "exo_cam",
        },
    )
    clip = Clip(meta, views[chosen], views[EGO_CAM], exo_masks=exo_labels)
    if not all_exo_views:
        return write_clip(target, clip)
    exo_views = {cam: views[cam] for cam in EXO_CAMS}
    return write_clip_with_exo_views(
        target, clip, exo_views, default=chosen, cameras={cam: cameras[cam] for cam in EXO_CAMS}
    )


def convert(
    root: Path,
    out: Path,
    *,
    labels: Path | None = None,
    split: str = "val",
    frames: int = 16,
    size: int = 256,
    exo_cam: str = "cam0",
    exo_masks: Path | None = None,
    all_exo_views: bool = False,
    max_clips: int | None = None,
    log=print,
) -> list[Path]:
    """Write one clip per action segment of the label file; returns the clip directories written.

    all_exo_views: also write cam0-cam3 under CLIP/exo_views/camK/ (see the module docstring).
    """
    if frames < 2 or size < 16:
        raise ValueError(f"need frames >= 2 and size >= 16, got {frames} and {size}")
    if exo_cam not in EXO_CAMS:
        raise ValueError(
            f"exo_cam must be one of {', '.join(EXO_CAMS)} (cam4 is the ego camera), got {exo_cam!r}"
        )
    segments = read_segments(labels or root / "action_labels" / f"action_{split}.txt")[:max_clips]
    written = []
    for segment in segments:
        path = convert_segment(
            root,
            out,
            segment,
            frames=frames,
            size=size,
            exo_cam=exo_cam,
            exo_masks=exo_masks,
            all_exo_views=all_exo_views,
        )
        if path is not None:
            written.append(path)
    log(f"[h2o] wrote {len(written)} clip(s) of {len(segments)} segment(s) into {out}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="H2O root (holds subject1/, subject2/, ...)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--labels", type=Path, help="action file (default ROOT/action_labels/action_<split>.txt)"
    )
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--exo-cam", default="cam0", help="fixed camera used as the exo view (cam0-cam3)")
    parser.add_argument("--exo-masks", type=Path, help="label maps MASK_ROOT/<path>/<camK>/<frame>.png")
    parser.add_argument(
        "--all-exo-views",
        action="store_true",
        help="keep cam0-cam3 under CLIP/exo_views/ for annotate.py to pick the best one",
    )
    parser.add_argument("--max-clips", type=int)
    args = parser.parse_args(argv)
    try:
        convert(
            args.root,
            args.out,
            labels=args.labels,
            split=args.split,
            frames=args.frames,
            size=args.size,
            exo_cam=args.exo_cam,
            exo_masks=args.exo_masks,
            all_exo_views=args.all_exo_views,
            max_clips=args.max_clips,
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"h2o: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Convert Ego-Exo4D takes into clip-format-v1 directories, one clip per atomic-description narration.

    python -m training.convert.egoexo4d EGOEXO4D_ROOT --out DIR [--split train] [--scenario Cooking]
        [--frames 16] [--size 256] [--window 1.0] [--exo-masks MASK_ROOT] [--all-exo-views]
        [--full-resolution] [--max-clips N]

Reads, relative to EGOEXO4D_ROOT (the download directory of the official CLI):
    takes.json                                              take list: take_uid, take_name, root_dir,
                                                            parent_task_name, frame_aligned_videos
    annotations/atomic_descriptions_<split>.json            narrations: text, timestamp (s), subject,
                                                            ego_visible, best_exo.cam_id
    <root_dir>/frame_aligned_videos/downscaled/448/*.mp4     the frame-aligned videos (the full-resolution
    <root_dir>/frame_aligned_videos/*.mp4                    ones with --full-resolution or when no
                                                            downscaled copy exists)

For every narration about the camera wearer ("C ...") that is visible in the ego view, the clip holds
`frames` frames evenly spread over a `window`-second span centred on the narration's timestamp
(the paper's clips average about one second), from the Aria RGB video (turned upright; it is stored
rotated by 90 degrees) and from one GoPro. The GoPro is the one whose hand masks cover most of the
window when --exo-masks gives label maps as MASK_ROOT/<take_name>/<cam_id>/<frame:06d>.png (frame
numbers of the frame-aligned videos; the paper picks the exo view with the largest hand-mask
proportion), else the narration's annotated best_exo, else the first camera. Frames are centre-cropped
to a square and resized. The first non-rejected annotation pass of a take is used, so narrations are
not duplicated across annotators.

With --all-exo-views every GoPro of the take is kept as CLIP/exo_views/<cam_id>/<frame>.png (exo/ holds
the camera chosen as above, provisionally); training/annotate.py then annotates each one and makes the
one with the largest hand-mask proportion the clip's exo view. Camera calibration is not converted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from egoexo_models.clip import Clip, ClipMeta, frame_name, write_clip
from training.convert.common import (
    SquareCrop,
    best_view_by_hands,
    read_label_map,
    read_windows,
    video_fps,
    window_indices,
    write_clip_with_exo_views,
)


@dataclass(frozen=True)
class Narration:
    take_name: str
    take_uid: str
    number: int  # position in the take's annotation pass
    text: str
    timestamp: float
    best_exo: str | None


@dataclass(frozen=True)
class TakeVideos:
    ego_cam: str
    ego: Path
    exo: dict[str, Path]  # cam_id -> video


def _load_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing; is this an Ego-Exo4D download directory?") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None


def _flag(value) -> bool:
    return str(value).strip().lower() in ("1", "true")


def take_videos(root: Path, take: dict, *, downscaled: bool) -> TakeVideos:
    """The Aria RGB video and the GoPro videos of a take (downscaled copies preferred if asked)."""
    folder = root / take["root_dir"]
    ego_cam, ego, exo = None, None, {}
    for cam_id, streams in take.get("frame_aligned_videos", {}).items():
        if cam_id in ("collage", "best_exo"):
            continue
        if "rgb" in streams:
            ego_cam, ego = cam_id, streams["rgb"]["relative_path"]
        elif cam_id.startswith("cam") and "0" in streams:
            exo[cam_id] = streams["0"]["relative_path"]
    if ego is None or not exo:
        raise ValueError(
            f"take {take['take_name']}: takes.json lists no Aria rgb stream or no GoPro (camNN) video"
        )

    def locate(relative: str) -> Path:
        full = folder / relative
        small = full.parent / "downscaled" / "448" / full.name
        path = small if downscaled and small.is_file() else full
        if not path.is_file():
            raise FileNotFoundError(
                f"take {take['take_name']}: video {path} is missing (download the takes' videos)"
            )
        return path

    return TakeVideos(ego_cam, locate(ego), {cam: locate(path) for cam, path in sorted(exo.items())})


def narrations(annotations: dict, takes: dict[str, dict], *, ego_visible_only: bool) -> list[Narration]:
    """Camera-wearer narrations of the first accepted annotation pass of every take in `takes`."""
    out = []
    for take_uid, passes in annotations.get("annotations", {}).items():
        take = takes.get(take_uid)
        accepted = [p for p in passes if not p.get("rejected", False)]
        if take is None or not accepted:
            continue
        for number, description in enumerate(accepted[0].get("descriptions", [])):
            subject = description.get("narration_subject", description.get("subject", ""))
            text = str(description.get("text", "")).strip()
            if subject != "C" or not text.startswith("C "):
                continue
            if ego_visible_only and not _flag(description.get("ego_visible", "1")):
                continue
            best = description.get("best_exo") or {}
            out.append(
                Narration(
                    take["take_name"],
                    take_uid,
                    number,
                    text,
                    float(description["timestamp"]),
                    best.get("cam_id"),
                )
            )
    return out


def _upright_aria(frame: np.ndarray) -> np.ndarray:
    """Aria RGB frames are stored turned 90 degrees counter-clockwise; turn them back."""
    return np.ascontiguousarray(np.rot90(frame, k=-1))


def convert(
    root: Path,
    out: Path,
    *,
    split: str = "train",
    scenario: str = "Cooking",
    frames: int = 16,
    size: int = 256,
    window: float = 1.0,
    exo_masks: Path | None = None,
    downscaled: bool = True,
    ego_visible_only: bool = True,
    all_exo_views: bool = False,
    max_clips: int | None = None,
    log=print,
) -> list[Path]:
    """Write one clip per narration; returns the clip directories written (existing ones are kept).

    all_exo_views: also write every GoPro under CLIP/exo_views/<cam_id>/ (see the module docstring).
    """
    if frames < 2 or size < 16 or window <= 0:
        raise ValueError(f"need frames >= 2, size >= 16 and window > 0, got {frames}, {size}, {window}")
    takes = {
        t["take_uid"]: t
        for t in _load_json(root / "takes.json")
        if scenario.lower() == "all" or str(t.get("parent_task_name", "")).lower() == scenario.lower()
    }
    annotations = _load_json(root / "annotations" / f"atomic_descriptions_{split}.json")
    todo = narrations(annotations, takes, ego_visible_only=ego_visible_only)[:max_clips]
    by_take: dict[str, list[Narration]] = defaultdict(list)
    for narration in todo:
        by_take[narration.take_uid].append(narration)
    written = []
    for take_uid, items in by_take.items():
        written += _convert_take(
            root, out, takes[take_uid], items, frames, size, window, exo_masks, downscaled, all_exo_views, log
        )
    log(f"[egoexo4d] wrote {len(written)} clip(s) from {len(by_take)} take(s) into {out}")
    return written


def _convert_take(
    root, out, take, items, frames, size, window, exo_masks, downscaled, all_exo_views, log
) -> list[Path]:
    videos = take_videos(root, take, downscaled=downscaled)
    fps, count = video_fps(videos.ego)
    windows, chosen, selection = [], [], []
    for item in items:
        start = max(0.0, item.timestamp - window / 2)
        end = min(count / fps, start + window)
        indices = window_indices(start, end, frames, fps, count - 1)
        windows.append(indices)
        mask_root = exo_masks / take["take_name"] if exo_masks is not None else None
        by_hands = best_view_by_hands(mask_root, list(videos.exo), indices)
        if by_hands is not None:
            chosen.append(by_hands)
            selection.append("hand_masks")
        elif item.best_exo in videos.exo:
            chosen.append(item.best_exo)
            selection.append("best_exo")
        else:
            chosen.append(next(iter(videos.exo)))
            selection.append("first")
    targets = [out / f"egoexo4d_{take['take_name']}_{item.number:04d}" for item in items]
    pending = [k for k, target in enumerate(targets) if not (target / "meta.json").is_file()]
    if not pending:
        return []

    ego_frames = {}
    first_ego = _first_frame(videos.ego)
    ego_crop = SquareCrop(*_upright_aria(first_ego).shape[:2], size)
    for k, clip_frames in read_windows(
        videos.ego, [windows[k] for k in pending], lambda f: ego_crop.image(_upright_aria(f))
    ):
        ego_frames[pending[k]] = clip_frames
    exo_frames: dict[str, dict[int, np.ndarray]] = defaultdict(dict)  # cam_id -> clip -> frames
    crops = {}
    for cam in sorted(videos.exo if all_exo_views else {chosen[k] for k in pending}):
        uses = [k for k in pending if all_exo_views or chosen[k] == cam]
        crops[cam] = SquareCrop(*_first_frame(videos.exo[cam]).shape[:2], size)
        for k, clip_frames in read_windows(videos.exo[cam], [windows[k] for k in uses], crops[cam].image):
            exo_frames[cam][uses[k]] = clip_frames

    written = []
    for k in pending:
        item, exo, crop = items[k], exo_frames[chosen[k]][k], crops[chosen[k]]
        exo_labels = None
        mask_dir = exo_masks / take["take_name"] / chosen[k] if exo_masks is not None else None
        if mask_dir is not None and all((mask_dir / frame_name(i)).is_file() for i in windows[k]):
            exo_labels = np.stack([crop.labels(read_label_map(mask_dir / frame_name(i))) for i in windows[k]])
        meta = ClipMeta(
            instruction=item.text,
            fps=frames / window,
            num_frames=frames,
            height=size,
            width=size,
            source="egoexo4d",
            extra={
                "take_uid": item.take_uid,
                "take_name": item.take_name,
                "narration_timestamp": item.timestamp,
                "source_frames": windows[k],
                "ego_cam": videos.ego_cam,
                "exo_cam": chosen[k],
                "exo_selection": selection[k],
                "scenario": take.get("parent_task_name"),
            },
        )
        clip = Clip(meta, exo, ego_frames[k], exo_masks=exo_labels)
        if all_exo_views:
            views = {cam: by_clip[k] for cam, by_clip in exo_frames.items()}
            written.append(write_clip_with_exo_views(targets[k], clip, views, default=chosen[k]))
        else:
            written.append(write_clip(targets[k], clip))
    log(f"[egoexo4d] {take['take_name']}: {len(written)} clip(s)")
    return written


def _first_frame(path: Path) -> np.ndarray:
    import imageio.v2 as imageio

    reader = imageio.get_reader(path, "ffmpeg")
    try:
        return reader.get_data(0)
    finally:
        reader.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="Ego-Exo4D download directory (holds takes.json)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split", default="train", choices=("train", "val"))
    parser.add_argument(
        "--scenario", default="Cooking", help="parent_task_name to keep, or 'all' (default Cooking)"
    )
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument(
        "--window", type=float, default=1.0, help="seconds around each narration (default 1.0)"
    )
    parser.add_argument(
        "--exo-masks", type=Path, help="label maps MASK_ROOT/<take_name>/<cam_id>/<frame>.png"
    )
    parser.add_argument(
        "--all-exo-views",
        action="store_true",
        help="keep every GoPro under CLIP/exo_views/<cam_id>/ for annotate.py to pick the best one",
    )
    parser.add_argument(
        "--full-resolution", action="store_true", help="read the full-size videos, not downscaled/448"
    )
    parser.add_argument(
        "--include-ego-invisible", action="store_true", help="keep narrations marked not visible in ego"
    )
    parser.add_argument("--max-clips", type=int)
    args = parser.parse_args(argv)
    try:
        convert(
            args.root,
            args.out,
            split=args.split,
            scenario=args.scenario,
            frames=args.frames,
            size=args.size,
            window=args.window,
            exo_masks=args.exo_masks,
            downscaled=not args.full_resolution,
            ego_visible_only=not args.include_ego_invisible,
            all_exo_views=args.all_exo_views,
            max_clips=args.max_clips,
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"egoexo4d: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Annotate one clip directory: prompts on every frame, SAM-2 propagation (or the prompter alone),
the best exo view, and an all-or-nothing write of the masks and meta.json.

The clip is rebuilt in a hidden sibling (.NAME.annotate.partial: hard links to the unchanged
files, new mask PNGs, a new meta.json) that replaces the clip with clip.replace_dir, so a clip is
never half-annotated. meta.json gets an "annotation" record (settings, prompters, keyframes); a
clip whose record has the same settings is skipped, which makes a rerun resume where a killed
one stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from egoexo_models.clip import ClipFormatError, frame_name, read_clip, read_meta, replace_dir
from training.annotation.best_view import select_best_exo_view
from training.annotation.keyframes import KeyframePolicy
from training.annotation.prompts import FramePrompt, Prompter, PrompterError, checked_prompt
from training.annotation.sam2_tracker import Sam2Tracker

VIEWS = ("ego", "exo")
EXO_VIEWS_DIR = "exo_views"
EXO_VIEW_MASKS_DIR = "exo_view_masks"
ANNOTATION_FORMAT = "egoexo-annotation/1"
PARTIAL_SUFFIX = ".annotate.partial"


@dataclass(frozen=True)
class AnnotationSettings:
    """What annotate.py does to each clip; equal settings in meta.json mean the clip is done."""

    views: tuple[str, ...] = VIEWS
    per_frame_only: bool = False
    policy: KeyframePolicy = field(default_factory=KeyframePolicy)
    overwrite: bool = False

    def __post_init__(self) -> None:
        unknown = [v for v in self.views if v not in VIEWS]
        if unknown or not self.views or len(set(self.views)) != len(self.views):
            raise ValueError(f"views must be distinct names from {VIEWS}, got {list(self.views)}")


@dataclass(frozen=True)
class ClipOutcome:
    """status: "done", "skipped" or "failed"; reason says why for the last two."""

    clip: str
    status: str
    reason: str = ""
    frames: int = 0
    seconds: float = 0.0


class ClipAnnotator:
    """Annotates clips with one prompter per view and SAM-2 (None in the per-frame-only mode)."""

    def __init__(
        self, prompters: dict[str, Prompter], tracker: Sam2Tracker | None, settings: AnnotationSettings
    ) -> None:
        missing = [view for view in settings.views if view not in prompters]
        if missing:
            raise ValueError(f"no prompter for view(s) {missing}")
        if tracker is None and not settings.per_frame_only:
            raise ValueError("SAM-2 propagation needs a tracker; pass one or use per_frame_only")
        if settings.per_frame_only:
            boxes = [f"{v}: {prompters[v].name}" for v in settings.views if prompters[v].kind != "labels"]
            if boxes:
                raise ValueError(
                    f"the per-frame-only mode needs label-map prompters; these give boxes: {boxes}"
                )
        self.prompters = prompters
        self.tracker = None if settings.per_frame_only else tracker
        self.settings = settings

    def settings_record(self) -> dict[str, Any]:
        return {
            "views": list(self.settings.views),
            "mode": "per-frame" if self.tracker is None else "sam2",
            "sam2": None if self.tracker is None else self.tracker.name,
            "policy": None if self.tracker is None else asdict(self.settings.policy),
            "prompters": {view: self.prompters[view].name for view in self.settings.views},
        }

    def annotate(self, clip_dir: Path) -> ClipOutcome:
        """Annotate one clip; errors become a "failed" outcome naming the clip and the problem."""
        start = time.perf_counter()
        try:
            skip = self._skip_reason(clip_dir)
            if skip:
                return ClipOutcome(clip_dir.name, "skipped", skip)
            frames = self._annotate(clip_dir)
        except Exception as error:  # one bad clip (or prompter output) must not stop the others
            reason = (
                str(error)
                if isinstance(error, ClipFormatError | PrompterError)
                else f"{type(error).__name__}: {error}"
            )
            return ClipOutcome(clip_dir.name, "failed", reason, seconds=time.perf_counter() - start)
        return ClipOutcome(clip_dir.name, "done", frames=frames, seconds=time.perf_counter() - start)

    def _skip_reason(self, clip_dir: Path) -> str:
        meta = read_meta(clip_dir)
        record = meta.extra.get("annotation")
        if self.settings.overwrite:
            return ""
        if isinstance(record, dict) and record.get("settings") == self.settings_record():
            return "already annotated with these settings"
        if isinstance(record, dict):
            return "annotated with other settings; pass --overwrite to annotate again"
        existing = [f"{v}_masks/" for v in self.settings.views if (clip_dir / f"{v}_masks").exists()]
        if existing:
            return f"has {', '.join(existing)} not made by annotate.py (ground truth?); pass --overwrite to replace"
        return ""

    def _annotate(self, clip_dir: Path) -> int:
        clip = read_clip(
            clip_dir, ego_frames="all" if "ego" in self.settings.views else "first", load_masks=False
        )
        views: dict[str, np.ndarray] = {}
        if "ego" in self.settings.views:
            views["ego"] = clip.ego
        exo_cameras = _exo_view_names(clip_dir, clip.meta.extra.get("exo_views"))
        if "exo" in self.settings.views:
            if exo_cameras:
                size = (clip.meta.height, clip.meta.width)
                for camera in exo_cameras:
                    folder = clip_dir / EXO_VIEWS_DIR / camera
                    views[f"{EXO_VIEWS_DIR}/{camera}"] = _read_frames(folder, clip.meta.num_frames, size)
            else:
                views["exo"] = clip.exo
        masks, results = {}, {}
        for view, frames in views.items():
            prompter = self.prompters["ego" if view == "ego" else "exo"]
            masks[view], results[view] = self._annotate_view(clip_dir, view, frames, prompter)
        record: dict[str, Any] = {
            "format": ANNOTATION_FORMAT,
            "settings": self.settings_record(),
            "keyframes": {view: result for view, result in results.items() if result is not None},
        }
        meta = clip.meta.to_json()
        meta["annotation"] = record
        folders = {"ego_masks": masks["ego"]} if "ego" in masks else {}
        linked_frames = {}
        if exo_cameras and "exo" in self.settings.views:
            per_camera = {camera: masks[f"{EXO_VIEWS_DIR}/{camera}"] for camera in exo_cameras}
            best, meta["exo_view"] = select_best_exo_view(per_camera)
            calibration = _exo_view_camera(clip_dir, meta, best)
            if calibration is not None:
                meta["exo_camera"] = calibration
            elif best != meta.get("exo_cam"):
                meta.pop("exo_camera", None)  # it was the calibration of another camera
            meta["exo_cam"], meta["exo_selection"] = best, "hand_masks"  # the converters' keys
            folders.update({f"{EXO_VIEW_MASKS_DIR}/{camera}": m for camera, m in per_camera.items()})
            folders["exo_masks"] = per_camera[best]
            linked_frames["exo"] = clip_dir / EXO_VIEWS_DIR / best
        elif "exo" in masks:
            folders["exo_masks"] = masks["exo"]
        write_annotation(clip_dir, folders, meta, linked_frames)
        return sum(len(m) for m in masks.values())

    def _annotate_view(
        self, clip_dir: Path, view: str, frames: np.ndarray, prompter: Prompter
    ) -> tuple[np.ndarray, dict[str, list[int]] | None]:
        shape = frames.shape[1:3]
        prompts: list[FramePrompt] = []
        for index, frame in enumerate(frames):
            who = f"{clip_dir.name}/{view} frame {index}: prompter {prompter.name}"
            try:
                prompts.append(checked_prompt(prompter.prompt(frame), shape, prompter.kind, who))
            except PrompterError as error:
                raise PrompterError(str(error) if who in str(error) else f"{who}: {error}") from None
        if self.tracker is None:
            return np.stack([p.labels for p in prompts]), None
        result = self.tracker.track(frames, prompts, self.settings.policy)
        return result.labels, result.keyframes


def _exo_view_names(clip_dir: Path, listed: object) -> list[str]:
    """The cameras under exo_views/; they must be those meta.json lists under "exo_views", if it does."""
    folder = clip_dir / EXO_VIEWS_DIR
    found = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if listed is not None and (not isinstance(listed, list) or sorted(map(str, listed)) != found):
        raise ClipFormatError(
            clip_dir / "meta.json",
            f'"exo_views" lists {listed!r} but {EXO_VIEWS_DIR}/ holds {found}; reconvert the clip',
        )
    return found


def _exo_view_camera(clip_dir: Path, meta: dict[str, Any], camera: str) -> dict[str, Any] | None:
    """The calibration of exo camera `camera` from meta.json's "exo_view_cameras" (None if absent), checked."""
    cameras = meta.get("exo_view_cameras")
    if cameras is None:
        return None
    if not isinstance(cameras, dict):
        raise ClipFormatError(
            clip_dir / "meta.json",
            f'"exo_view_cameras" must map camera names to K and T_world_cam, got {cameras!r}',
        )
    if camera not in cameras:
        return None
    where = f'"exo_view_cameras"["{camera}"]'
    try:
        K = np.asarray(cameras[camera]["K"], dtype=np.float64)
        T = np.asarray(cameras[camera]["T_world_cam"], dtype=np.float64)
    except (TypeError, KeyError, ValueError) as error:
        raise ClipFormatError(
            clip_dir / "meta.json", f"{where} needs numeric K and T_world_cam ({error})"
        ) from None
    count = meta["num_frames"]
    if K.shape != (3, 3) or T.shape != (count, 4, 4):
        raise ClipFormatError(
            clip_dir / "meta.json",
            f"{where}: K {K.shape} and T_world_cam {T.shape}, expected (3, 3) and ({count}, 4, 4)",
        )
    return {"K": K.tolist(), "T_world_cam": T.tolist()}


def _read_frames(folder: Path, count: int, size: tuple[int, int]) -> np.ndarray:
    frames = []
    for index in range(count):
        path = folder / frame_name(index)
        if not path.is_file():
            raise ClipFormatError(path, f"missing frame {index} of {count}")
        try:
            with Image.open(path) as image:
                frame = np.asarray(image.convert("RGB"))
        except (OSError, SyntaxError, ValueError) as error:
            raise ClipFormatError(path, f"unreadable image ({error})") from None
        if frame.shape[:2] != size:
            raise ClipFormatError(
                path, f"size {frame.shape[1]}x{frame.shape[0]} differs from meta.json's {size[1]}x{size[0]}"
            )
        frames.append(frame)
    return np.stack(frames)


def write_annotation(
    clip_dir: Path, mask_folders: dict[str, np.ndarray], meta: dict[str, Any], linked_frames: dict[str, Path]
) -> None:
    """Replace the clip by a copy with new mask folders, new meta.json and re-linked frame folders.

    Args:
        mask_folders: folder relative to the clip -> uint8 label maps (N,H,W), written as PNGs.
        linked_frames: frame folder relative to the clip -> folder whose PNGs it becomes.
    """
    staging = clip_dir.with_name(f".{clip_dir.name}{PARTIAL_SUFFIX}")
    shutil.rmtree(staging, ignore_errors=True)
    replaced = {*mask_folders, *linked_frames, "meta.json"}
    try:
        for source in sorted(clip_dir.rglob("*")):
            relative = source.relative_to(clip_dir)
            if any(relative == Path(r) or Path(r) in relative.parents for r in replaced) or source.is_dir():
                continue
            _link(source, staging / relative)
        for folder, source in linked_frames.items():
            for frame in sorted(source.glob("*.png")):
                _link(frame, staging / folder / frame.name)
        for folder, labels in mask_folders.items():
            (staging / folder).mkdir(parents=True, exist_ok=True)
            for index, label_map in enumerate(labels):
                Image.fromarray(label_map).save(staging / folder / frame_name(index))
        (staging / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        replace_dir(staging, clip_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _link(source: Path, target: Path) -> None:
    """Hard-link `source` to `target` (copy where the file system cannot link)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def recover_interrupted(root: Path) -> list[str]:
    """Undo what a killed annotate run left under `root`; returns what was done, for the log.

    A partial copy is deleted; a clip moved aside by an interrupted replace_dir (.NAME.old with no
    NAME) is moved back.
    """
    actions = []
    for partial in sorted(root.glob(f".*{PARTIAL_SUFFIX}")):
        shutil.rmtree(partial, ignore_errors=True)
        actions.append(f"removed the unfinished copy {partial.name}")
    for old in sorted(root.glob(".*.old")):
        original = old.with_name(old.name[1 : -len(".old")])
        if not original.exists():
            os.replace(old, original)
            actions.append(f"restored {original.name} from {old.name}")
    return actions

"""ClipDataset: a directory of clip-format-v1 clips as PyTorch items, for both training stages.

An item is a dict:
    "exo", "ego"            float32 (T,3,H,W) in [0, 1] (only the views asked for)
    "exo_masks", "ego_masks" int64 (T,H,W) labels {0 background, 1 hand, 2 object}, when masks=True
                            and the clip has them
    "instruction"           str (left/right swapped when augmentation mirrored the item)
    "clip"                  str, the clip directory's name
    "skipped"               int, how many bad clips were passed over to produce this item
    "skipped_clips"         str, their names, comma-separated ("" when none)

A bad clip (unreadable meta.json or frame, wrong sizes, too few frames, ...) does not stop training:
it is reported once per process with the reason, remembered, and the next good clip is served in its
place; make_loader (loader.py) totals the skips.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from egoexo_models.clip import NUM_LABELS, ClipFormatError, frame_name, list_clips, read_meta
from training.data.augment import AugmentConfig, augment_item

log = logging.getLogger("egoexo.data")
VIEWS = ("exo", "ego")


class BadClipError(ValueError):
    """A clip that cannot be served; the message names the clip and the problem."""


class ClipDataset(torch.utils.data.Dataset):
    """Clips under `root`, sampled to `num_frames` frames every `frame_stride`, resized to `size`.

    Args:
        root: a clip directory or a directory of clip directories.
        num_frames: frames per item (T).
        size: (height, width) of the returned frames; images resize bilinearly, masks by nearest.
        frame_stride: step between the sampled frames.
        random_start: draw the first frame at random (torch's RNG) instead of taking frame 0.
        augment: colour jitter per view and a mirror of the whole item (see augment.py); True uses
            the default strengths, an AugmentConfig sets them.
        views: which of "exo", "ego" to load.
        masks: load the label maps of those views when the clip has them.
        skip_bad: serve the next good clip in place of a bad one (False: raise BadClipError).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        num_frames: int = 16,
        size: tuple[int, int] = (128, 128),
        frame_stride: int = 1,
        random_start: bool = False,
        augment: bool | AugmentConfig = False,
        views: tuple[str, ...] = VIEWS,
        masks: bool = True,
        skip_bad: bool = True,
    ) -> None:
        if num_frames < 1 or frame_stride < 1:
            raise ValueError(f"num_frames and frame_stride must be >= 1, got {num_frames} and {frame_stride}")
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"size must be (height, width) with positive values, got {size}")
        if not views or any(view not in VIEWS for view in views):
            raise ValueError(f"views must be a non-empty subset of {VIEWS}, got {views}")
        self.root = Path(root)
        self.clips = list_clips(self.root)
        if not self.clips:
            raise FileNotFoundError(
                f"{self.root}: no clip directories (with meta.json) found; generate some with `egoexo sim`"
            )
        self.num_frames, self.size, self.frame_stride = num_frames, (int(size[0]), int(size[1])), frame_stride
        self.random_start, self.views, self.masks, self.skip_bad = random_start, tuple(views), masks, skip_bad
        self.augment = AugmentConfig() if augment is True else (augment or None)
        self._bad: dict[int, str] = {}  # clip index -> reason, in this process

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def span(self) -> int:
        """Frames of a clip one item covers."""
        return (self.num_frames - 1) * self.frame_stride + 1

    def __getitem__(self, index: int) -> dict:
        skipped = []
        for attempt in range(len(self.clips)):
            current = (index + attempt) % len(self.clips)
            if current in self._bad:
                skipped.append(self.clips[current].name)
                continue
            try:
                item = self.load(current)
            except (BadClipError, OSError) as error:
                if not self.skip_bad:
                    raise
                self._bad[current] = str(error)
                log.warning("skipping clip %s: %s", self.clips[current], error)
                skipped.append(self.clips[current].name)
                continue
            item["skipped"] = len(skipped)
            item["skipped_clips"] = ",".join(skipped)
            return item
        raise RuntimeError(
            f"{self.root}: all {len(self.clips)} clips are bad (last: {skipped[-1:]}); see the warnings above"
        )

    def load(self, index: int) -> dict:
        """Item `index` without skipping; raises BadClipError naming the clip and the problem."""
        clip_dir = self.clips[index]
        try:
            meta = read_meta(clip_dir)
        except ClipFormatError as error:
            raise BadClipError(str(error)) from None
        if meta.num_frames < self.span:
            raise BadClipError(
                f"{clip_dir}: has {meta.num_frames} frames, an item needs {self.span} "
                f"({self.num_frames} frames every {self.frame_stride})"
            )
        start = 0
        if self.random_start:
            start = int(torch.randint(0, meta.num_frames - self.span + 1, ()).item())
        indices = range(start, start + self.span, self.frame_stride)
        expected = (meta.height, meta.width)
        item: dict = {"instruction": meta.instruction, "clip": clip_dir.name}
        for view in self.views:
            frames = np.stack([_read_rgb(clip_dir / view / frame_name(i), expected) for i in indices])
            item[view] = self._resize_images(torch.from_numpy(frames))
            mask_dir = clip_dir / f"{view}_masks"
            if self.masks and mask_dir.is_dir():
                labels = np.stack([_read_labels(mask_dir / frame_name(i), expected) for i in indices])
                item[f"{view}_masks"] = self._resize_masks(torch.from_numpy(labels))
        if self.augment is not None:
            item = augment_item(item, self.views, self.augment)
        return item

    def _resize_images(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (T,H,W,3) -> float32 (T,3,h,w) in [0, 1] at self.size."""
        images = frames.permute(0, 3, 1, 2).float().div_(255.0)
        if tuple(images.shape[-2:]) != self.size:
            images = F.interpolate(
                images, size=self.size, mode="bilinear", align_corners=False, antialias=True
            )
        return images.clamp_(0.0, 1.0).contiguous()

    def _resize_masks(self, labels: torch.Tensor) -> torch.Tensor:
        """uint8 (T,H,W) -> int64 (T,h,w) at self.size by nearest neighbour."""
        if tuple(labels.shape[-2:]) != self.size:
            labels = F.interpolate(labels[:, None].float(), size=self.size, mode="nearest-exact")[:, 0]
        return labels.long().contiguous()


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise BadClipError(f"{path}: missing frame")
    try:
        image = Image.open(path)
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise BadClipError(f"{path}: unreadable image ({error})") from None
    return image


def _read_rgb(path: Path, expected: tuple[int, int]) -> np.ndarray:
    image = np.asarray(_open(path).convert("RGB"), dtype=np.uint8)
    if image.shape[:2] != expected:
        raise BadClipError(
            f"{path}: size {image.shape[1]}x{image.shape[0]} differs from meta.json's {expected[1]}x{expected[0]}"
        )
    return image


def _read_labels(path: Path, expected: tuple[int, int]) -> np.ndarray:
    image = _open(path)
    if image.mode not in ("L", "P"):
        raise BadClipError(f"{path}: expected an 8-bit label map, got mode {image.mode}")
    labels = np.asarray(image, dtype=np.uint8)
    if labels.shape != expected:
        raise BadClipError(
            f"{path}: size {labels.shape[1]}x{labels.shape[0]} differs from meta.json's {expected[1]}x{expected[0]}"
        )
    if labels.size and labels.max() >= NUM_LABELS:
        raise BadClipError(f"{path}: label {int(labels.max())} outside {{0 background, 1 hand, 2 object}}")
    return labels

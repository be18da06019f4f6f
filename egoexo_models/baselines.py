"""Trivial predictions that every evaluation prints beside the model, so a score has a floor to beat.

- copy-first: the video stays frozen on the input ego frame 0, and the ground-truth mask of the
  observed frame 0 is repeated for every frame (what a model that predicts no motion would score);
- all-background: every frame's mask is empty (video not predicted).
"""

from __future__ import annotations

import numpy as np

from egoexo_models.clip import Clip
from egoexo_models.prediction_dir import Prediction

COPY_FIRST = "copy_first"
ALL_BACKGROUND = "all_background"


def copy_first(clip: Clip) -> Prediction:
    """Frames 1..N-1 = ego frame 0; masks 0..N-1 = the ground-truth ego mask of frame 0.

    Raises:
        ValueError: the clip has no ground-truth ego masks.
    """
    if clip.ego_masks is None:
        raise ValueError(
            f"clip {clip.name} has no ego_masks/: the copy-first mask baseline needs frame 0's mask"
        )
    n = clip.num_frames
    masks = np.repeat(clip.ego_masks[:1], n, axis=0)
    frames = np.repeat(clip.ego[:1], n - 1, axis=0)
    return Prediction(
        ego_masks=masks, frames=frames, info={"model": "baseline: copy first ego frame and mask"}
    )


def all_background(clip: Clip) -> Prediction:
    """Empty masks for all N frames; no frames."""
    masks = np.zeros((clip.num_frames, clip.meta.height, clip.meta.width), dtype=np.uint8)
    return Prediction(ego_masks=masks, frames=None, info={"model": "baseline: all background"})


def baselines(clip: Clip) -> dict[str, Prediction]:
    """Both baselines of `clip`, by name."""
    return {COPY_FIRST: copy_first(clip), ALL_BACKGROUND: all_background(clip)}

"""The re-prompt policy: on which frames SAM-2 gets the per-frame prompter's output as a prompt.

Hand and object are tracked as separate SAM-2 objects, each with its own keyframes:
1. The first keyframe of an object is the first frame where the prompter sees it (covering at
   least `min_area` of the frame); before it the object is absent.
2. After propagation, a later frame becomes a keyframe for the object when the prompter sees the
   object there and the propagated mask disagrees with it: IoU below `reprompt_iou` (for a box
   prompter, the IoU of the box with the propagated mask's bounding box).
3. Keyframes of one object are at least `min_gap` frames apart and at most `max_keyframes` in
   all, so a prompter that keeps disagreeing cannot turn tracking back into per-frame prompting.
Propagation restarts from each new keyframe; frames before it keep their masks. A frame where the
prompter sees nothing never triggers a re-prompt (an occluded hand is not a reason to drop it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.annotation.prompts import Box, FramePrompt


@dataclass(frozen=True)
class KeyframePolicy:
    """When to re-prompt SAM-2 (see the module docstring)."""

    reprompt_iou: float = 0.5
    min_gap: int = 2
    max_keyframes: int = 8
    min_area: float = 0.001

    def __post_init__(self) -> None:
        if not 0.0 <= self.reprompt_iou <= 1.0:
            raise ValueError(f"reprompt_iou must be within [0, 1], got {self.reprompt_iou}")
        if self.min_gap < 1 or self.max_keyframes < 1:
            raise ValueError(
                f"min_gap and max_keyframes must be at least 1, got {self.min_gap}, {self.max_keyframes}"
            )
        if not 0.0 <= self.min_area < 1.0:
            raise ValueError(f"min_area is a fraction of the frame in [0, 1), got {self.min_area}")


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks; 1.0 when both are empty."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """IoU of two x0 y0 x1 y1 boxes; 0.0 when either is empty."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return 0.0 if union <= 0 else inter / union


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Bounding box (x0, y0, x1, y1, pixel edges) of a boolean mask; None when empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def prompt_for(prompt: FramePrompt, label: int, min_area: float) -> np.ndarray | Box | None:
    """The prompt of one object on one frame: a mask, a box, or None when the prompter does not see it."""
    mask = prompt.object_mask(label)
    if mask is not None:
        return mask if mask.sum() > 0 and mask.mean() >= min_area else None
    return prompt.object_box(label)


def agreement(propagated: np.ndarray, prompted: np.ndarray | Box) -> float:
    """How well a propagated mask fits the prompter's view of the object (IoU, see the module docstring)."""
    if isinstance(prompted, Box):
        box = mask_box(propagated)
        return 0.0 if box is None else box_iou(box, prompted.xyxy)
    return mask_iou(propagated, prompted)


def should_reprompt(
    frame: int,
    propagated: np.ndarray,
    prompted: np.ndarray | Box | None,
    keyframes: list[int],
    policy: KeyframePolicy,
) -> bool:
    """Whether `frame` becomes a keyframe of an object whose propagated mask there is `propagated`.

    Args:
        frame: the frame index, after the object's last keyframe.
        propagated: the object's boolean mask (H,W) from propagation.
        prompted: the prompter's mask or box of the object on this frame, None if it does not see it.
        keyframes: the object's keyframes so far, ascending.
    """
    return (
        prompted is not None
        and len(keyframes) < policy.max_keyframes
        and frame >= keyframes[-1] + policy.min_gap
        and agreement(propagated, prompted) < policy.reprompt_iou
    )

"""What a per-frame prompter gives for one frame, and the checks every prompter output passes.

A prompter turns one RGB frame (uint8, H x W x 3) into either
    - a label map (uint8, H x W; 0 background, 1 hand, 2 interacting object), or
    - boxes of hands and interacting objects (pixel x0, y0, x1, y1 with a score).
SAM-2 turns either into tracked masks; the per-frame-only mode needs label maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from egoexo_models.clip import LABEL_HAND, LABEL_OBJECT, NUM_LABELS

TRACKED_LABELS = {"hand": LABEL_HAND, "object": LABEL_OBJECT}
PromptKind = Literal["labels", "boxes"]


class PrompterError(ValueError):
    """A prompter cannot be built, or it gave an output that breaks the prompter contract."""


@dataclass(frozen=True)
class Box:
    """One detection: label (1 hand, 2 object), pixel corners x0 <= x1, y0 <= y1, and a score."""

    label: int
    xyxy: tuple[float, float, float, float]
    score: float


@dataclass(frozen=True)
class FramePrompt:
    """A prompter's output for one frame: a label map (H,W) uint8, or boxes (possibly none)."""

    labels: np.ndarray | None = None
    boxes: tuple[Box, ...] = ()

    def object_mask(self, label: int) -> np.ndarray | None:
        """Boolean mask of `label` from the label map; None for a box prompt."""
        return None if self.labels is None else self.labels == label

    def object_box(self, label: int) -> Box | None:
        """The highest-scoring box of `label`, or None."""
        candidates = [box for box in self.boxes if box.label == label]
        return max(candidates, key=lambda box: box.score) if candidates else None


class Prompter(Protocol):
    """Per-frame hand-object prompter. `name` identifies it (and its weights) in meta.json."""

    name: str
    kind: PromptKind

    def prompt(self, frame: np.ndarray) -> FramePrompt:
        """Prompt for one uint8 RGB frame (H,W,3)."""
        ...


def checked_prompt(prompt: object, frame_shape: tuple[int, int], kind: PromptKind, who: str) -> FramePrompt:
    """Return `prompt` if it fits the contract for a frame of (H, W); else raise PrompterError naming `who`."""
    if not isinstance(prompt, FramePrompt):
        raise PrompterError(f"{who} returned {type(prompt).__name__}, expected a FramePrompt")
    height, width = frame_shape
    if kind == "labels":
        labels = prompt.labels
        if not isinstance(labels, np.ndarray) or labels.dtype != np.uint8:
            got = (
                f"{labels.dtype} {labels.shape}" if isinstance(labels, np.ndarray) else type(labels).__name__
            )
            raise PrompterError(f"{who} must return a uint8 label map, got {got}")
        if labels.shape != (height, width):
            raise PrompterError(
                f"{who} returned a label map of shape {labels.shape} for a frame of {(height, width)}"
            )
        if labels.size and labels.max() >= NUM_LABELS:
            values = np.unique(labels[labels >= NUM_LABELS]).tolist()
            raise PrompterError(f"{who} returned labels {values} outside {{0 background, 1 hand, 2 object}}")
        return prompt
    for box in prompt.boxes:
        x0, y0, x1, y1 = box.xyxy
        if box.label not in TRACKED_LABELS.values():
            raise PrompterError(
                f"{who} returned a box with label {box.label}; boxes are 1 (hand) or 2 (object)"
            )
        if not all(np.isfinite(v) for v in (*box.xyxy, box.score)):
            raise PrompterError(f"{who} returned a box with NaN or inf: {box}")
        if not (0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height):
            raise PrompterError(f"{who} returned box {box.xyxy} outside the {width}x{height} frame")
    return prompt

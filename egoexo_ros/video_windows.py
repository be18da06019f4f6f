"""The video node's side of a window: collect its per-frame HOIMasks until complete.

Every HOIMasks carries one mask and the window's instruction; the frame 0 message also carries
the window's observed ego frame. So the frame 0 message starts a window with the instruction and
ego frame the mask node used, and a window whose frame 0 message did not arrive (the mask node's
messages of one window arrive in order) is given up when a later frame of it arrives.
Plain Python, no rclpy.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from egoexo_ros.frame_buffer import StampedFrame
from egoexo_ros.problems import Problem


@dataclass(frozen=True)
class MaskFrame:
    """One HOIMasks message: ego label map uint8 (H,W) of frame `index` of window `window_id`.

    ego: the window's observed ego frame, carried by the frame 0 message only (None in the others).
    """

    window_id: int
    index: int
    num_frames: int
    stamp_ns: int
    mask: np.ndarray
    latency_s: float
    instruction: str
    ego: StampedFrame | None = None


@dataclass(frozen=True)
class CompleteWindow:
    """Everything the video stage needs: ego first frame (camera size), instruction, masks (N,H,W), stamps."""

    window_id: int
    instruction: str
    ego: StampedFrame
    exo_stamps_ns: list[int]
    masks: np.ndarray
    mask_latency_s: float  # the mask predictor's time summed over the window


@dataclass
class _Partial:
    instruction: str
    ego: StampedFrame
    num_frames: int
    frames: dict[int, MaskFrame] = field(default_factory=dict)


class VideoWindowCollector:
    """Collects HOIMasks into complete windows; keeps at most `max_partial_windows` incomplete ones."""

    def __init__(self, *, max_partial_windows: int) -> None:
        if max_partial_windows < 1:
            raise ValueError(f"max_partial_windows must be at least 1, got {max_partial_windows}")
        self._max_partial = max_partial_windows
        self._partials: dict[int, _Partial] = {}
        self._given_up: deque[int] = deque(maxlen=64)

    @property
    def partial_windows(self) -> int:
        return len(self._partials)

    def add_mask(self, frame: MaskFrame) -> list[CompleteWindow | Problem]:
        if not 0 <= frame.index < frame.num_frames:
            return [
                Problem(
                    "bad_masks", f"mask frame index {frame.index} outside 0..{frame.num_frames - 1}: dropped"
                )
            ]
        if frame.window_id in self._given_up:
            return []
        partial = self._partials.get(frame.window_id)
        if partial is None:
            started = self._start(frame)
            if isinstance(started, Problem):
                return [started]
            partial = started
        if frame.num_frames != partial.num_frames:
            return [
                self._give_up(
                    frame.window_id, f"num_frames changed from {partial.num_frames} to {frame.num_frames}"
                )
            ]
        partial.frames[frame.index] = frame
        events: list[CompleteWindow | Problem] = []
        if len(partial.frames) == partial.num_frames:
            del self._partials[frame.window_id]
            events.append(self._complete(frame.window_id, partial))
        while len(self._partials) > self._max_partial:
            oldest = min(self._partials)
            have = len(self._partials[oldest].frames)
            events.append(self._give_up(oldest, f"only {have} of its masks arrived before newer windows"))
        return events

    def _start(self, frame: MaskFrame) -> _Partial | Problem:
        if frame.index != 0:
            return self._give_up(
                frame.window_id,
                f"its frame 0 message (masks, instruction and ego frame) did not arrive "
                f"(got frame {frame.index} first)",
            )
        if frame.ego is None:
            return self._give_up(
                frame.window_id, "its frame 0 message carries no ego frame", kind="bad_masks"
            )
        if not frame.instruction.strip():
            return self._give_up(
                frame.window_id, "its frame 0 message carries an empty instruction", kind="bad_masks"
            )
        partial = _Partial(frame.instruction, frame.ego, frame.num_frames)
        self._partials[frame.window_id] = partial
        return partial

    def _give_up(self, window_id: int, why: str, kind: str = "masks_incomplete") -> Problem:
        self._partials.pop(window_id, None)
        self._given_up.append(window_id)
        return Problem(kind, f"window {window_id} dropped: {why}", dropped_window=window_id)

    @staticmethod
    def _complete(window_id: int, partial: _Partial) -> CompleteWindow:
        frames = [partial.frames[i] for i in range(partial.num_frames)]
        return CompleteWindow(
            window_id=window_id,
            instruction=partial.instruction,
            ego=partial.ego,
            exo_stamps_ns=[f.stamp_ns for f in frames],
            masks=np.stack([f.mask for f in frames]),
            mask_latency_s=sum(f.latency_s for f in frames),
        )

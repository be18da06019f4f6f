"""The video node's side of a window: collect its per-frame masks until complete, with its ego frame and instruction.

HOIMasks carries the masks and exo stamps of a window but neither its ego frame nor its
instruction. The mask node publishes each window's ego frame on `window_ego_frame` (stamped as
the camera stamped it), and the video node takes, when a window's masks are complete, the one of
those nearest the window's first exo stamp (within max_ego_offset: windows are further apart, so
this is exactly the mask node's frame, whatever order the two topics arrive in); the instruction
is the latest the video node received when frame 0's masks arrived. Plain Python, no rclpy.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from egoexo_ros.frame_buffer import FrameBuffer, StampedFrame
from egoexo_ros.problems import Problem, seconds


@dataclass(frozen=True)
class MaskFrame:
    """One HOIMasks message: ego label map uint8 (H,W) of frame `index` of window `window_id`."""

    window_id: int
    index: int
    num_frames: int
    stamp_ns: int
    mask: np.ndarray
    latency_s: float


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
    num_frames: int
    frames: dict[int, MaskFrame] = field(default_factory=dict)


class VideoWindowCollector:
    """Collects HOIMasks into complete windows; keeps at most `max_partial_windows` incomplete ones.

    add_ego takes the windows' ego frames (the mask node's window_ego_frame topic).
    """

    def __init__(
        self, *, ego_buffer_size: int, max_ego_offset_ns: int, max_frame_gap_ns: int, max_partial_windows: int
    ) -> None:
        if max_partial_windows < 1:
            raise ValueError(f"max_partial_windows must be at least 1, got {max_partial_windows}")
        self._ego = FrameBuffer(ego_buffer_size)
        self._max_ego_offset_ns = max_ego_offset_ns
        self._max_frame_gap_ns = max_frame_gap_ns
        self._max_partial = max_partial_windows
        self._instruction: str | None = None
        self._partials: dict[int, _Partial] = {}
        self._given_up: deque[int] = deque(maxlen=64)

    @property
    def partial_windows(self) -> int:
        return len(self._partials)

    def add_instruction(self, text: str) -> list[Problem]:
        if not text.strip():
            return [Problem("empty_instruction", "an empty instruction was ignored")]
        self._instruction = text
        return []

    def add_ego(self, frame: StampedFrame) -> list[Problem]:
        return self._ego.add_in_order(frame, max_jump_back_ns=self._max_frame_gap_ns, view="ego")

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
            if frame.index != 0:
                return [
                    self._give_up(
                        frame.window_id, f"its frame 0 mask did not arrive (got frame {frame.index} first)"
                    )
                ]
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
        if self._instruction is None:
            return self._give_up(frame.window_id, "no instruction received yet by the video node")
        partial = _Partial(self._instruction, frame.num_frames)
        self._partials[frame.window_id] = partial
        return partial

    def _give_up(self, window_id: int, why: str, kind: str = "masks_incomplete") -> Problem:
        self._partials.pop(window_id, None)
        self._given_up.append(window_id)
        return Problem(kind, f"window {window_id} dropped: {why}", dropped_window=window_id)

    def _complete(self, window_id: int, partial: _Partial) -> CompleteWindow | Problem:
        frames = [partial.frames[i] for i in range(partial.num_frames)]
        first = frames[0].stamp_ns
        ego = self._ego.nearest(first)
        if ego is None or abs(ego.stamp_ns - first) > self._max_ego_offset_ns:
            newest = self._ego.newest_stamp_ns
            latest = "none yet" if newest is None else f"the latest is stamped {seconds(newest)}"
            return self._give_up(
                window_id,
                f"no window ego frame within {seconds(self._max_ego_offset_ns)} of its first exo stamp "
                f"{seconds(first)} ({latest})",
                kind="ego_missing",
            )
        return CompleteWindow(
            window_id=window_id,
            instruction=partial.instruction,
            ego=ego,
            exo_stamps_ns=[f.stamp_ns for f in frames],
            masks=np.stack([f.mask for f in frames]),
            mask_latency_s=sum(f.latency_s for f in frames),
        )

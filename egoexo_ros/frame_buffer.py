"""A bounded buffer of stamped camera frames with lookup of the frame nearest a stamp."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from egoexo_ros.images import to_rgb8
from egoexo_ros.problems import Problem, seconds


@dataclass(frozen=True)
class StampedFrame:
    """One camera frame as published: stamp in nanoseconds, pixels in `encoding` (a colour or mono
    encoding, see egoexo_ros.images), the camera's frame_id. Converted to RGB only when used."""

    stamp_ns: int
    image: np.ndarray
    frame_id: str = ""
    encoding: str = "rgb8"

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.image.shape[0], self.image.shape[1]

    def rgb(self) -> np.ndarray:
        """uint8 RGB (H,W,3)."""
        return to_rgb8(self.image, self.encoding)


class FrameBuffer:
    """The last `capacity` frames in stamp order; frames older than the newest are refused."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._frames: deque[StampedFrame] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def newest_stamp_ns(self) -> int | None:
        return self._frames[-1].stamp_ns if self._frames else None

    def add(self, frame: StampedFrame) -> bool:
        """Append `frame`; False (and nothing stored) when its stamp is not newer than the newest."""
        if self._frames and frame.stamp_ns <= self._frames[-1].stamp_ns:
            return False
        self._frames.append(frame)
        return True

    def add_in_order(self, frame: StampedFrame, *, max_jump_back_ns: int, view: str) -> list[Problem]:
        """Append `frame` of camera `view`; a stamp not newer than the newest drops it, unless it jumps
        back by more than `max_jump_back_ns`, which is a restart of the stream: the buffer is cleared first."""
        newest = self.newest_stamp_ns
        if newest is None or frame.stamp_ns > newest:
            self.add(frame)
            return []
        if newest - frame.stamp_ns <= max_jump_back_ns:
            return [
                Problem(
                    f"{view}_out_of_order",
                    f"{view} frame stamped {seconds(frame.stamp_ns)} is not newer than the previous one "
                    f"({seconds(newest)}): dropped",
                )
            ]
        self.clear()
        self.add(frame)
        return [
            Problem(
                f"{view}_time_reset",
                f"{view} stamps jumped back by {seconds(newest - frame.stamp_ns)}: buffer cleared",
            )
        ]

    def forget_after(self, stamp_ns: int) -> None:
        """Drop the frames stamped after `stamp_ns`."""
        while self._frames and self._frames[-1].stamp_ns > stamp_ns:
            self._frames.pop()

    def clear(self) -> None:
        self._frames.clear()

    def nearest(self, stamp_ns: int) -> StampedFrame | None:
        """The frame whose stamp is nearest `stamp_ns` (the earlier one on a tie), or None when empty."""
        best = None
        for frame in self._frames:
            if best is None or abs(frame.stamp_ns - stamp_ns) < abs(best.stamp_ns - stamp_ns):
                best = frame
        return best

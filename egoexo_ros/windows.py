"""Prediction windows from live streams: N exo frames at the model's fps plus the ego frame nearest the first.

The mask node feeds every exo frame, ego frame and instruction into a WindowAssembler and gets
back events: FrameReady (exo frame i of window w can go to the mask stage, because w's ego
frame is known) and Problem (something was dropped; the kind keys rate-limited warnings and
/diagnostics). Plain Python, no rclpy: stamps are integer nanoseconds.

Rules:
- Subsampling: by stamp to `model_fps` (the frame at or just after each 1/fps step, re-anchored
  on the accepted stamp so drift does not build up), or every `frame_stride`-th frame.
- Trigger "instruction": a new instruction starts a window at the next exo frame; while a window
  is assembling, the newest instruction waits and older waiting ones are superseded (counted).
  Trigger "continuous": a window starts every `window_stride` subsampled frames once any
  instruction has arrived, with the latest instruction.
- Ego frame: the buffered ego frame nearest the window's first exo stamp, chosen once an ego
  frame at or after that stamp has arrived, or once exo stamps pass it by `max_ego_lag` (the ego
  camera, or its delivery, may lag the exo one by that much); farther than `max_ego_offset`
  from it drops the window ("ego_missing").
- Stamps: an exo frame not newer than the previous one is dropped ("exo_out_of_order"); a jump
  back or a gap larger than `max_frame_gap` restarts the stream, dropping windows in progress
  ("exo_time_reset", "exo_gap"; a gap while no window is in progress is no problem). A dropped
  window is not retried. The node also aborts windows in progress when no exo frame has arrived
  for `max_frame_gap` of wall time ("exo_stalled"), so a stopped camera does not hold a window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from egoexo_ros.frame_buffer import FrameBuffer, StampedFrame
from egoexo_ros.problems import Problem, seconds

TRIGGERS = ("instruction", "continuous")


@dataclass(frozen=True)
class AssemblerConfig:
    num_frames: int
    model_fps: float
    frame_stride: int  # 0: subsample by stamp to model_fps
    trigger: str
    window_stride: int
    max_ego_offset_ns: int
    max_ego_lag_ns: int
    max_frame_gap_ns: int
    ego_buffer_size: int

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {self.num_frames}")
        if not self.model_fps > 0:
            raise ValueError(f"model_fps must be positive, got {self.model_fps}")
        if self.trigger not in TRIGGERS:
            raise ValueError(f"trigger must be one of {TRIGGERS}, got {self.trigger!r}")
        if self.frame_stride < 0 or self.window_stride < 1:
            raise ValueError(
                f"frame_stride must be >= 0 and window_stride >= 1, got {self.frame_stride}, {self.window_stride}"
            )


@dataclass
class Window:
    """One prediction window while it is assembled; `released` frames went to the mask stage."""

    window_id: int
    instruction: str
    num_frames: int
    exo: list[StampedFrame] = field(default_factory=list)
    ego: StampedFrame | None = None
    released: int = 0

    @property
    def first_stamp_ns(self) -> int:
        return self.exo[0].stamp_ns

    @property
    def is_full(self) -> bool:
        return len(self.exo) == self.num_frames


@dataclass(frozen=True)
class FrameReady:
    """Exo frame `index` of `window` is ready for the mask stage (window.ego is set)."""

    window: Window
    index: int


Event = FrameReady | Problem


class WindowAssembler:
    """Turns exo/ego frames and instructions into prediction windows (see the module docstring)."""

    def __init__(self, config: AssemblerConfig) -> None:
        self.config = config
        self._period_ns = 1e9 / config.model_fps
        self._ego = FrameBuffer(config.ego_buffer_size)
        self._windows: list[Window] = []  # started and not yet fully released, oldest first
        self._next_window_id = 0
        self._latest_instruction: str | None = None
        self._pending_instruction: str | None = None
        self._last_exo_ns: int | None = None
        self._anchor_ns: int | None = None  # subsampling starts here
        self._step_index = 0  # 1/fps steps since the anchor of the last accepted frame
        self._frames_since_anchor = 0
        self._continuous_phase = 0  # subsampled frames since continuous windows began

    @property
    def windows_in_progress(self) -> int:
        return len(self._windows)

    def add_instruction(self, text: str) -> list[Event]:
        if not text.strip():
            return [Problem("empty_instruction", "an empty instruction was ignored")]
        self._latest_instruction = text
        if self.config.trigger == "continuous":
            return []
        superseded, self._pending_instruction = self._pending_instruction, text
        if superseded is None:
            return []
        return [
            Problem(
                "instruction_superseded",
                f"instruction {_short(superseded)} was replaced by a newer one before its window started "
                f"(one window at a time; the newest waiting instruction wins)",
            )
        ]

    def add_ego(self, frame: StampedFrame) -> list[Event]:
        events: list[Event] = []
        events += self._ego.add_in_order(frame, max_jump_back_ns=self.config.max_frame_gap_ns, view="ego")
        return events + self._choose_ego_frames() + self._release_ready()

    def add_exo(self, frame: StampedFrame) -> list[Event]:
        events: list[Event] = []
        stamp, last = frame.stamp_ns, self._last_exo_ns
        if last is not None and stamp <= last:
            if last - stamp <= self.config.max_frame_gap_ns:
                return [
                    Problem(
                        "exo_out_of_order",
                        f"exo frame stamped {seconds(stamp)} is not newer than the previous one ({seconds(last)}): dropped",
                    )
                ]
            events += self._restart("exo_time_reset", f"exo stamps jumped back by {seconds(last - stamp)}")
            # Ego frames of the old time base (far ahead of the new stamps) would match the new windows.
            self._ego.forget_after(stamp + self.config.max_frame_gap_ns)
        elif last is not None and stamp - last > self.config.max_frame_gap_ns:
            events += self._restart("exo_gap", f"no exo frame for {seconds(stamp - last)}")
        self._last_exo_ns = stamp

        assembling = [w for w in self._windows if not w.is_full]
        if self.config.trigger == "instruction" and not assembling and self._pending_instruction is not None:
            self._reanchor()
        if self._accept(stamp):
            self._start_window_if_due(assembling)
            for window in self._windows:
                if not window.is_full:
                    window.exo.append(frame)
        return events + self._choose_ego_frames() + self._release_ready()

    def abort(self, reason: str, kind: str = "aborted") -> list[Event]:
        """Drop every window in progress (the node is deactivating, or the exo stream stopped)."""
        return [p for p in self._restart(kind, reason) if p.dropped_window is not None]

    def _accept(self, stamp: int) -> bool:
        """Subsampling: is this exo frame one of the model-rate frames?"""
        if self._anchor_ns is None:
            self._anchor_ns, self._step_index, self._frames_since_anchor = stamp, 0, 0
            return True
        self._frames_since_anchor += 1
        if self.config.frame_stride:
            accepted = self._frames_since_anchor % self.config.frame_stride == 0
        else:
            tolerance = self._period_ns / 4
            accepted = stamp - self._anchor_ns >= (self._step_index + 1) * self._period_ns - tolerance
            if accepted:
                self._step_index = max(
                    self._step_index + 1, round((stamp - self._anchor_ns) / self._period_ns)
                )
        return accepted

    def _start_window_if_due(self, assembling: list[Window]) -> None:
        if self.config.trigger == "instruction":
            if assembling or self._pending_instruction is None:
                return
            instruction, self._pending_instruction = self._pending_instruction, None
        else:
            if self._latest_instruction is None:
                return
            due = self._continuous_phase % self.config.window_stride == 0
            self._continuous_phase += 1
            if not due:
                return
            instruction = self._latest_instruction
        self._windows.append(Window(self._next_window_id, instruction, self.config.num_frames))
        self._next_window_id += 1

    def _reanchor(self) -> None:
        self._anchor_ns = None
        self._continuous_phase = 0

    def _choose_ego_frames(self) -> list[Event]:
        events: list[Event] = []
        newest_ego = self._ego.newest_stamp_ns
        for window in [w for w in self._windows if w.ego is None]:
            first = window.first_stamp_ns
            waited_enough = (
                self._last_exo_ns is not None and self._last_exo_ns > first + self.config.max_ego_lag_ns
            )
            if not (newest_ego is not None and newest_ego >= first) and not waited_enough:
                continue
            nearest = self._ego.nearest(first)
            if nearest is None or abs(nearest.stamp_ns - first) > self.config.max_ego_offset_ns:
                self._windows.remove(window)
                latest = "none yet" if newest_ego is None else f"the latest is stamped {seconds(newest_ego)}"
                events.append(
                    Problem(
                        "ego_missing",
                        f"window {window.window_id} dropped: no ego frame within "
                        f"{seconds(self.config.max_ego_offset_ns)} of its first exo stamp {seconds(first)} ({latest}); "
                        f"is the ego camera publishing?",
                        dropped_window=window.window_id,
                    )
                )
            else:
                window.ego = nearest
        return events

    def _release_ready(self) -> list[Event]:
        events: list[Event] = []
        for window in list(self._windows):
            if window.ego is None:
                continue
            while window.released < len(window.exo):
                events.append(FrameReady(window, window.released))
                window.released += 1
            if window.released == window.num_frames:
                self._windows.remove(window)
        return events

    def _restart(self, kind: str, why: str) -> list[Event]:
        self._reanchor()
        dropped, self._windows = self._windows, []
        if not dropped:  # a pause between windows loses nothing; a jump back is still worth a word
            return [Problem(kind, f"{why}: restarting the exo stream")] if kind == "exo_time_reset" else []
        return [
            Problem(
                kind, f"{why}: window {window.window_id} dropped, restarting the exo stream", window.window_id
            )
            for window in dropped
        ]


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
